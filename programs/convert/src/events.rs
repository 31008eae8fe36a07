//! Events, emitted with `emit_cpi!`. Every event opens with an [`EventHeader`].

use anchor_lang::prelude::*;

pub use kassa_common::EventHeader;

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCreated {
    pub header: EventHeader,
    pub mint_a: Pubkey,
    pub mint_b: Pubkey,
    pub lp_mint: Pubkey,
    pub amp: u64,
    pub trade_fee_bps: u16,
    pub protocol_share_bps: u16,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiquidityAdded {
    pub header: EventHeader,
    pub amount_a: u64,
    pub amount_b: u64,
    pub lp_minted: u64,
    pub reserve_a: u64,
    pub reserve_b: u64,
    pub lp_supply: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiquidityRemoved {
    pub header: EventHeader,
    pub amount_a: u64,
    pub amount_b: u64,
    pub lp_burned: u64,
    pub reserve_a: u64,
    pub reserve_b: u64,
    pub lp_supply: u64,
}

/// How a swap was asked for.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwapKind {
    ExactIn,
    ExactOut,
    /// Through the conversion-hook interface (exact output into a destination).
    Hook,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Swapped {
    pub header: EventHeader,
    pub kind: SwapKind,
    pub mint_in: Pubkey,
    pub mint_out: Pubkey,
    /// Debited from the trader.
    pub amount_in: u64,
    /// Received by the pool (less any input transfer fee).
    pub received_in: u64,
    /// Left the pool's vault for the trader or destination.
    pub amount_out: u64,
    /// Trade fee in the output mint; `protocol_fee` of it goes to the protocol.
    pub fee: u64,
    pub protocol_fee: u64,
    pub reserve_a: u64,
    pub reserve_b: u64,
    pub amp: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmpRampStarted {
    pub header: EventHeader,
    pub initial_amp: u64,
    pub target_amp: u64,
    pub start: i64,
    pub stop: i64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmpRampStopped {
    pub header: EventHeader,
    pub amp: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolSettingsChanged {
    pub header: EventHeader,
    pub paused: bool,
    pub trade_fee_bps: u16,
    pub protocol_share_bps: u16,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolFeesWithdrawn {
    pub header: EventHeader,
    pub amount_a: u64,
    pub amount_b: u64,
}
