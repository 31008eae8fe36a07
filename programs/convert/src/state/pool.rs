use crate::{
    constants::*,
    error::ConvertError,
    math::stableswap::{ramped_amp, Curve, Fees},
};
use anchor_lang::prelude::*;
use kassa_common::SafeMath;

/// A StableSwap pool of two stablecoins (PDA `["pool", mint_a, mint_b]`, `mint_a < mint_b`).
///
/// Reserves are the LPs' balances in base units; the vaults may hold more (accrued protocol
/// fees, donations), never less.
#[account]
#[derive(InitSpace, Debug)]
pub struct Pool {
    /// Ramps A, sets fees, pauses.
    pub admin: Pubkey,
    /// Wallet whose token accounts receive the protocol's share of fees.
    pub fee_receiver: Pubkey,
    pub mint_a: Pubkey,
    pub mint_b: Pubkey,
    pub vault_a: Pubkey,
    pub vault_b: Pubkey,
    pub lp_mint: Pubkey,
    pub decimals_a: u8,
    pub decimals_b: u8,
    /// LPs' balance of coin A (base units of `mint_a`).
    pub reserve_a: u64,
    /// LPs' balance of coin B (base units of `mint_b`).
    pub reserve_b: u64,
    /// Protocol fees accrued in vault A, not part of the reserve.
    pub protocol_fees_a: u64,
    /// Protocol fees accrued in vault B, not part of the reserve.
    pub protocol_fees_b: u64,
    /// Amplification at `ramp_start`.
    pub initial_amp: u64,
    /// Amplification reached at `ramp_stop` and kept afterwards.
    pub target_amp: u64,
    /// Unix timestamps (seconds) of the current or last ramp.
    pub ramp_start: i64,
    pub ramp_stop: i64,
    /// Trade fee, basis points of the output.
    pub trade_fee_bps: u16,
    /// Protocol share of the trade fee, basis points of the fee.
    pub protocol_share_bps: u16,
    /// Swaps and deposits are refused while set; withdrawals never are.
    pub paused: bool,
    pub seq: u64,
    pub bump: u8,
    /// LP tokens the pool has minted and not burned: the denominator of LP prices. Tracked
    /// here, not read from the LP mint, so a holder burning its own LP tokens cannot move the
    /// price (audit 6: the first-depositor inflation attack).
    pub lp_supply: u64,
    pub reserved: [u8; 56],
}

impl Pool {
    /// Amplification now.
    pub fn amp(&self, now: i64) -> u64 {
        ramped_amp(
            self.initial_amp,
            self.target_amp,
            self.ramp_start,
            self.ramp_stop,
            now,
        )
    }

    fn multipliers(&self) -> (u64, u64) {
        let max = self.decimals_a.max(self.decimals_b);
        (
            10u64.pow(u32::from(max.saturating_sub(self.decimals_a))),
            10u64.pow(u32::from(max.saturating_sub(self.decimals_b))),
        )
    }

    /// Normalizing multipliers of (A, B).
    pub fn mults(&self) -> (u64, u64) {
        self.multipliers()
    }

    /// The curve for a trade in direction `a_to_b`.
    pub fn curve(&self, a_to_b: bool, now: i64) -> Curve {
        let (ma, mb) = self.multipliers();
        let (mult_in, mult_out) = if a_to_b { (ma, mb) } else { (mb, ma) };
        Curve {
            amp: self.amp(now),
            mult_in,
            mult_out,
        }
    }

    pub fn fees(&self) -> Fees {
        Fees {
            trade_bps: self.trade_fee_bps,
            protocol_share_bps: self.protocol_share_bps,
        }
    }

    /// (reserve in, reserve out) for direction `a_to_b`.
    pub fn reserves(&self, a_to_b: bool) -> (u64, u64) {
        if a_to_b {
            (self.reserve_a, self.reserve_b)
        } else {
            (self.reserve_b, self.reserve_a)
        }
    }

    /// Books a swap: `received_in` joins the input reserve; the payout and the protocol fee
    /// leave the output reserve, the protocol fee moving to the accrued fees.
    pub fn book_swap(
        &mut self,
        a_to_b: bool,
        received_in: u64,
        out: u64,
        protocol_fee: u64,
    ) -> Result<()> {
        let leaving = out.safe_add(protocol_fee)?;
        let (r_in, r_out, f_out) = if a_to_b {
            (
                &mut self.reserve_a,
                &mut self.reserve_b,
                &mut self.protocol_fees_b,
            )
        } else {
            (
                &mut self.reserve_b,
                &mut self.reserve_a,
                &mut self.protocol_fees_a,
            )
        };
        *r_in = r_in.safe_add(received_in)?;
        *r_out = r_out
            .checked_sub(leaving)
            .ok_or(ConvertError::InsufficientLiquidity)?;
        *f_out = f_out.safe_add(protocol_fee)?;
        Ok(())
    }

    pub fn next_seq(&mut self) -> Result<u64> {
        let seq = self.seq;
        self.seq = seq.safe_add(1)?;
        Ok(seq)
    }

    /// The pool's books against its vaults' balances: every reserve and accrued fee is held;
    /// no reserve is left once every LP token is redeemed; the settings are in bounds.
    pub fn invariant(&self, vault_a: u64, vault_b: u64) -> Result<()> {
        let owed_a = u128::from(self.reserve_a) + u128::from(self.protocol_fees_a);
        let owed_b = u128::from(self.reserve_b) + u128::from(self.protocol_fees_b);
        require!(
            u128::from(vault_a) >= owed_a && u128::from(vault_b) >= owed_b,
            ConvertError::InvariantViolated
        );
        require!(
            self.lp_supply > 0 || (self.reserve_a == 0 && self.reserve_b == 0),
            ConvertError::InvariantViolated
        );
        self.settings_invariant()
    }

    /// The settings alone (what an admin instruction changes): amplification in bounds and
    /// ramped forward in time, fees under their caps, the mints in canonical order.
    pub fn settings_invariant(&self) -> Result<()> {
        let ok = (MIN_AMP..=MAX_AMP).contains(&self.initial_amp)
            && (MIN_AMP..=MAX_AMP).contains(&self.target_amp)
            && self.ramp_start <= self.ramp_stop
            && self.trade_fee_bps <= MAX_TRADE_FEE_BPS
            && self.protocol_share_bps <= MAX_PROTOCOL_SHARE_BPS
            && self.mint_a < self.mint_b;
        require!(ok, ConvertError::InvariantViolated);
        Ok(())
    }
}
