//! Events, emitted with `emit_cpi!` like the payments program's: every one opens with a header
//! naming the entity (pool, line or advance), its per-entity sequence number, time and actor.

use crate::state::{CreditPool, IncomeShared, LineKind, LineStatus, Tranche};
use anchor_lang::prelude::*;

pub use kassa_common::EventHeader;

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCreated {
    pub header: EventHeader,
    pub mint: Pubkey,
    pub vault: Pubkey,
    pub senior_mint: Pubkey,
    pub junior_mint: Pubkey,
    pub admin: Pubkey,
    pub underwriter: Pubkey,
    pub senior_cap_bps: u32,
    pub senior_apr_bps: u16,
    pub protocol_fee_bps: u16,
    pub admin_fee_bps: u16,
    pub allowlist: bool,
    pub epoch_seconds: i64,
    pub protocol_fee_receiver: Pubkey,
    pub max_line_limit: u64,
    pub max_active_lines: u8,
}

/// The admin changed the pool's policy; the whole policy after the change.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolPolicyUpdated {
    pub header: EventHeader,
    pub max_line_limit: u64,
    pub max_active_lines: u8,
    pub paused: bool,
}

/// A pool role passed to a new key, which co-signed.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRoleTransferred {
    pub header: EventHeader,
    pub role: crate::state::PoolRole,
    pub from: Pubkey,
    pub to: Pubkey,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LenderAllowlisted {
    pub header: EventHeader,
    pub lender: Pubkey,
    pub allowed: bool,
}

/// Interest recognised and shared: fees, senior target yield, junior remainder.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomeDistributed {
    pub header: EventHeader,
    pub income: u64,
    pub protocol_fee: u64,
    pub admin_fee: u64,
    pub senior: u64,
    pub junior: u64,
    pub senior_value: u64,
    pub junior_value: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposited {
    pub header: EventHeader,
    pub lender: Pubkey,
    pub tranche: Tranche,
    pub amount: u64,
    pub shares: u64,
    pub senior_value: u64,
    pub junior_value: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeesWithdrawn {
    pub header: EventHeader,
    pub to: Pubkey,
    pub amount: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineApproved {
    pub header: EventHeader,
    pub pool: Pubkey,
    pub borrower: Pubkey,
    pub merchant: Pubkey,
    pub kind: LineKind,
    pub limit: u64,
    pub apr_bps: u16,
    pub late_apr_bps: u16,
    pub advance_rate_bps: u16,
    pub maturity: i64,
    pub payment_interval: i64,
    pub grace_seconds: i64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drawn {
    pub header: EventHeader,
    pub amount: u64,
    pub principal: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repaid {
    pub header: EventHeader,
    pub payer: Pubkey,
    pub fees: u64,
    pub interest: u64,
    pub principal: u64,
    /// Paid on a written-off line: all of it is recovery income.
    pub recovery: u64,
    pub principal_after: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineStatusChanged {
    pub header: EventHeader,
    pub from: LineStatus,
    pub to: LineStatus,
    /// Going past due puts the line on non-accrual: the recognised, unpaid interest impaired
    /// at that moment (audit 4); 0 on any other change.
    pub suspended_interest: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineImpaired {
    pub header: EventHeader,
    /// Positive: marked down; the event of a reversal carries `reversed: true`.
    pub amount: u64,
    pub reversed: bool,
    pub from_junior: u64,
    pub from_senior: u64,
    pub line_impaired: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineWrittenOff {
    pub header: EventHeader,
    pub principal: u64,
    pub interest: u64,
    pub from_junior: u64,
    pub from_senior: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvanceTaken {
    pub header: EventHeader,
    pub line: Pubkey,
    pub payment: Pubkey,
    pub vault: Pubkey,
    pub amount: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivableSynced {
    pub header: EventHeader,
    pub arrived: u64,
    pub arrived_total: u64,
    /// The payment can pay nothing more: the advance is settled.
    pub settled: bool,
    /// Advanced but never arrived: stays owed on the merchant's line.
    pub shortfall: u64,
}

/// A settled advance and its token account were closed.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdvanceClosed {
    pub header: EventHeader,
    pub payment: Pubkey,
    /// The borrower, who paid the rent.
    pub rent_receiver: Pubkey,
    pub lamports: u64,
    /// Tokens that reached the advance's account after it settled, sent to the borrower.
    pub swept: u64,
}

/// The pool's books after an instruction changed them: emitted last by every instruction that
/// moves pool money or value, so a reader never has to re-derive them.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolBalances {
    pub header: EventHeader,
    pub cash: u64,
    pub principal: u64,
    pub receivable: u64,
    pub senior_value: u64,
    pub junior_value: u64,
    pub protocol_fees: u64,
    pub admin_fees: u64,
    pub impaired_senior: u64,
    pub impaired_junior: u64,
    pub losses: u64,
    pub redemption_payable: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionRequested {
    pub header: EventHeader,
    pub lender: Pubkey,
    pub tranche: Tranche,
    /// Shares added to the request.
    pub shares: u64,
    /// The request's shares now waiting.
    pub waiting: u64,
    /// All shares of the tranche waiting for this epoch's end.
    pub pending: u64,
}

/// A lender took queued shares back before the epoch ended.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionCancelled {
    pub header: EventHeader,
    pub lender: Pubkey,
    pub tranche: Tranche,
    /// Shares taken back.
    pub shares: u64,
    /// The request's shares still waiting.
    pub waiting: u64,
    /// All shares of the tranche waiting for this epoch's end.
    pub pending: u64,
}

/// An epoch ended for one tranche: what was requested, served and paid.
#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EpochClosed {
    pub header: EventHeader,
    pub epoch_id: u64,
    pub tranche: Tranche,
    pub requested: u64,
    pub served: u64,
    pub paid: u64,
    pub tranche_value: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedemptionWithdrawn {
    pub header: EventHeader,
    pub lender: Pubkey,
    pub tranche: Tranche,
    pub amount: u64,
    /// The request's shares still waiting.
    pub waiting: u64,
    /// Epoch records this call settled (audit 3: an epoch that paid nothing settles too).
    pub settled: u64,
    /// The first epoch the request has not settled.
    pub next_epoch: u64,
}

impl IncomeDistributed {
    /// The event of income shared out.
    pub fn new(header: EventHeader, shared: &IncomeShared) -> Self {
        Self {
            header,
            income: shared.income,
            protocol_fee: shared.split.protocol,
            admin_fee: shared.split.admin,
            senior: shared.split.senior,
            junior: shared.split.junior,
            senior_value: shared.senior_value,
            junior_value: shared.junior_value,
        }
    }
}

impl PoolBalances {
    /// The pool's books now.
    pub fn of(header: EventHeader, pool: &CreditPool) -> Result<Self> {
        Ok(Self {
            header,
            cash: pool.cash,
            principal: pool.principal,
            receivable: pool.receivable()?,
            senior_value: pool.senior_value,
            junior_value: pool.junior_value,
            protocol_fees: pool.protocol_fees,
            admin_fees: pool.admin_fees,
            impaired_senior: pool.impaired_senior,
            impaired_junior: pool.impaired_junior,
            losses: pool.losses,
            redemption_payable: pool.redemption_payable,
        })
    }
}
