//! Accounts of the credit program and the bookkeeping on them. Every change ends with
//! `invariant()`; the pool's is the accounting identity of DESIGN.md §3.3:
//! `cash + principal + (recognised − received interest) − impaired = senior + junior + fees`.

use crate::{error::CreditError, math::*};
use anchor_lang::prelude::*;

pub const POOL_SEED: &[u8] = b"credit_pool";
pub const VAULT_SEED: &[u8] = b"credit_vault";
pub const SENIOR_SEED: &[u8] = b"senior";
pub const JUNIOR_SEED: &[u8] = b"junior";
pub const ALLOW_SEED: &[u8] = b"allow";
pub const LINE_SEED: &[u8] = b"line";
pub const ADVANCE_SEED: &[u8] = b"advance";
pub const ADVANCE_VAULT_SEED: &[u8] = b"advance_vault";
pub const SHARE_ESCROW_SEED: &[u8] = b"share_escrow";
pub const REDEMPTION_SEED: &[u8] = b"redemption";
pub const EPOCH_SEED: &[u8] = b"epoch";

/// Fees (protocol and pool admin) may take at most this share of interest.
pub const MAX_FEE_BPS: u16 = 5_000;
/// At most this share of a payment's escrow can be advanced, leaving room for the payments
/// protocol fee that captures deduct before paying the assignee.
pub const MAX_ADVANCE_RATE_BPS: u16 = 9_000;
/// The senior tranche may be at most 100 times the junior.
pub const MAX_SENIOR_CAP_BPS: u32 = 1_000_000;

#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tranche {
    Senior,
    Junior,
}

/// A lending pool in one stablecoin (PDA `["credit_pool", mint]`).
#[account]
#[derive(InitSpace, Debug)]
pub struct CreditPool {
    pub admin: Pubkey,
    pub underwriter: Pubkey,
    pub protocol_fee_receiver: Pubkey,
    pub mint: Pubkey,
    pub vault: Pubkey,
    pub senior_mint: Pubkey,
    pub junior_mint: Pubkey,
    pub decimals: u8,
    /// Senior value may be at most junior value × this / 10,000.
    pub senior_cap_bps: u32,
    /// Senior tranche's target yield, APR in bps.
    pub senior_apr_bps: u16,
    pub protocol_fee_bps: u16,
    pub admin_fee_bps: u16,
    pub allowlist: bool,
    /// Tokens the pool holds in its vault by its own books (donations are not counted).
    pub cash: u64,
    /// Outstanding principal of every line.
    pub principal: u64,
    /// Σ principal × APR of every line, raw interest units per second.
    pub rate_raw: u128,
    /// Raw interest accrued by all lines since the pool began.
    pub accrued_raw: u128,
    /// Interest recognised from `accrued_raw` (tokens, `floor`), never decreasing.
    pub recognized: u64,
    /// Recognised interest received or written off (tokens).
    pub received: u64,
    /// Interest lines paid ahead of the pool's recognition (their rounding up): already
    /// shared out as income, absorbed when the pool recognises the same interest.
    pub prepaid: u64,
    /// Value marked down by impairments, as taken from each tranche.
    pub impaired_senior: u64,
    pub impaired_junior: u64,
    pub senior_value: u64,
    pub junior_value: u64,
    pub protocol_fees: u64,
    pub admin_fees: u64,
    /// Cumulative losses written off.
    pub losses: u64,
    /// Redemptions are served when an epoch of this many seconds ends.
    pub epoch_seconds: i64,
    pub epoch_id: u64,
    pub epoch_end: i64,
    /// Shares waiting for the current epoch's end, held in the share escrows.
    pub pending_senior: u64,
    pub pending_junior: u64,
    /// Cash owed to served redemptions not yet withdrawn.
    pub redemption_payable: u64,
    pub last_accrual: i64,
    pub seq: u64,
    pub bump: u8,
    pub vault_bump: u8,
    pub reserved: [u8; 64],
}

impl CreditPool {
    pub fn next_seq(&mut self) -> Result<u64> {
        let s = self.seq;
        self.seq = add(s, 1)?;
        Ok(s)
    }

    pub fn impaired(&self) -> Result<u64> {
        add(self.impaired_senior, self.impaired_junior)
    }

    /// Cash not owed to fee receivers or served redemptions.
    pub fn available_cash(&self) -> Result<u64> {
        sub(
            self.cash,
            add(
                add(self.protocol_fees, self.admin_fees)?,
                self.redemption_payable,
            )?,
        )
    }

    pub fn pending(&self, tranche: Tranche) -> u64 {
        match tranche {
            Tranche::Senior => self.pending_senior,
            Tranche::Junior => self.pending_junior,
        }
    }

    pub fn set_pending(&mut self, tranche: Tranche, shares: u64) {
        match tranche {
            Tranche::Senior => self.pending_senior = shares,
            Tranche::Junior => self.pending_junior = shares,
        }
    }

    pub fn set_tranche_value(&mut self, tranche: Tranche, value: u64) {
        match tranche {
            Tranche::Senior => self.senior_value = value,
            Tranche::Junior => self.junior_value = value,
        }
    }

    pub fn share_mint(&self, tranche: Tranche) -> Pubkey {
        match tranche {
            Tranche::Senior => self.senior_mint,
            Tranche::Junior => self.junior_mint,
        }
    }

    pub fn tranche_value(&self, tranche: Tranche) -> u64 {
        match tranche {
            Tranche::Senior => self.senior_value,
            Tranche::Junior => self.junior_value,
        }
    }

    fn distribute(&mut self, s: &IncomeSplit) -> Result<()> {
        self.protocol_fees = add(self.protocol_fees, s.protocol)?;
        self.admin_fees = add(self.admin_fees, s.admin)?;
        self.senior_value = add(self.senior_value, s.senior)?;
        self.junior_value = add(self.junior_value, s.junior)?;
        Ok(())
    }

    /// Brings interest up to `now`: recognises what the lines accrued, in whole tokens rounded
    /// down, and shares out what lines had not already prepaid. Returns the income shared.
    pub fn accrue(&mut self, now: i64) -> Result<Option<(u64, IncomeSplit)>> {
        let dt = now.saturating_sub(self.last_accrual);
        if dt <= 0 {
            return Ok(None);
        }
        self.accrued_raw = add128(self.accrued_raw, raw_over(self.rate_raw, dt)?)?;
        self.last_accrual = now;
        let target = tokens_floor(self.accrued_raw)?;
        if target <= self.recognized {
            return Ok(None);
        }
        let income = sub(target, self.recognized)?;
        self.recognized = target;
        // Interest already paid (and shared) ahead of recognition is received now.
        let absorbed = income.min(self.prepaid);
        self.prepaid = sub(self.prepaid, absorbed)?;
        self.received = add(self.received, absorbed)?;
        let fresh = sub(income, absorbed)?;
        if fresh == 0 {
            return Ok(None);
        }
        let split = split_income(
            fresh,
            self.protocol_fee_bps,
            self.admin_fee_bps,
            self.senior_value,
            self.senior_apr_bps,
            dt,
        )?;
        self.distribute(&split)?;
        Ok(Some((fresh, split)))
    }

    /// Income that was never receivable (late fees, recoveries after a write-off, interest
    /// paid ahead of recognition): cash in, shared out at once.
    pub fn receive_income(&mut self, amount: u64) -> Result<IncomeSplit> {
        self.cash = add(self.cash, amount)?;
        let split = split_income(amount, self.protocol_fee_bps, self.admin_fee_bps, 0, 0, 0)?;
        self.distribute(&split)?;
        Ok(split)
    }

    /// Interest paid by a line: against the receivable first, the rest is prepaid.
    pub fn receive_interest(&mut self, amount: u64) -> Result<Option<IncomeSplit>> {
        let receivable = sub(self.recognized, self.received)?;
        let booked = amount.min(receivable);
        self.cash = add(self.cash, booked)?;
        self.received = add(self.received, booked)?;
        let extra = sub(amount, booked)?;
        if extra == 0 {
            return Ok(None);
        }
        self.prepaid = add(self.prepaid, extra)?;
        Ok(Some(self.receive_income(extra)?))
    }

    /// A line's principal changes from `old` to `new` at `apr`.
    pub fn reprice(&mut self, old: u64, new: u64, apr_bps: u16) -> Result<()> {
        self.rate_raw = add128(
            sub128(self.rate_raw, raw_rate(old, apr_bps))?,
            raw_rate(new, apr_bps),
        )?;
        self.principal = add(sub(self.principal, old)?, new)?;
        Ok(())
    }

    /// Marks value down, junior first. Returns (junior, senior) parts.
    pub fn impair(&mut self, amount: u64) -> Result<(u64, u64)> {
        let (j, s) = loss_split(amount, self.junior_value, self.senior_value)?;
        self.junior_value = sub(self.junior_value, j)?;
        self.senior_value = sub(self.senior_value, s)?;
        self.impaired_junior = add(self.impaired_junior, j)?;
        self.impaired_senior = add(self.impaired_senior, s)?;
        Ok((j, s))
    }

    /// Reverses an impairment, senior first (the reverse of the loss order).
    pub fn reverse_impairment(&mut self, amount: u64) -> Result<(u64, u64)> {
        let s = amount.min(self.impaired_senior);
        let j = sub(amount, s)?;
        require!(j <= self.impaired_junior, CreditError::ReversalTooLarge);
        self.impaired_senior = sub(self.impaired_senior, s)?;
        self.impaired_junior = sub(self.impaired_junior, j)?;
        self.senior_value = add(self.senior_value, s)?;
        self.junior_value = add(self.junior_value, j)?;
        Ok((j, s))
    }

    /// Takes a loss, junior first. Returns (junior, senior) parts.
    pub fn take_loss(&mut self, amount: u64) -> Result<(u64, u64)> {
        let (j, s) = loss_split(amount, self.junior_value, self.senior_value)?;
        self.junior_value = sub(self.junior_value, j)?;
        self.senior_value = sub(self.senior_value, s)?;
        self.losses = add(self.losses, amount)?;
        Ok((j, s))
    }

    pub fn invariant(&self) -> Result<()> {
        let sum = |parts: &[u64]| {
            parts
                .iter()
                .try_fold(0u128, |acc, p| acc.checked_add(u128::from(*p)))
        };
        let assets = sum(&[
            self.cash,
            self.principal,
            self.recognized.saturating_sub(self.received),
        ]);
        let claims = sum(&[
            self.senior_value,
            self.junior_value,
            self.protocol_fees,
            self.admin_fees,
            self.impaired_senior,
            self.impaired_junior,
            self.redemption_payable,
        ]);
        let ok = assets.is_some()
            && assets == claims
            && self.received <= self.recognized
            && self.recognized == tokens_floor(self.accrued_raw)?.max(self.recognized)
            && self.available_cash().is_ok()
            && self.protocol_fee_bps.saturating_add(self.admin_fee_bps) <= MAX_FEE_BPS;
        require!(ok, CreditError::InvariantViolated);
        Ok(())
    }
}

/// An allowlisted lender (PDA `["allow", pool, lender]`).
#[account]
#[derive(InitSpace, Debug)]
pub struct LenderAllow {
    pub pool: Pubkey,
    pub lender: Pubkey,
    pub bump: u8,
}

#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Drawn and repaid freely within the limit.
    Revolving,
    /// Drawn only as advances on the merchant's authorized payments.
    Receivable,
}

#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineStatus {
    GoodStanding,
    /// A payment is overdue; late fees accrue; no new draws.
    Delayed,
    /// Overdue beyond the grace period.
    Defaulted,
    /// Written off: its loss went through the waterfall; what it still pays is recovery.
    WrittenOff,
}

/// A credit line of one borrower (PDA `["line", pool, borrower]`).
#[account]
#[derive(InitSpace, Debug)]
pub struct CreditLine {
    pub pool: Pubkey,
    pub borrower: Pubkey,
    /// The payments program's merchant account, for receivable lines; default otherwise.
    pub merchant: Pubkey,
    pub kind: LineKind,
    pub status: LineStatus,
    pub limit: u64,
    pub apr_bps: u16,
    /// Late-fee APR on principal while delayed or defaulted.
    pub late_apr_bps: u16,
    /// Share of a payment's escrow that can be advanced.
    pub advance_rate_bps: u16,
    pub maturity: i64,
    /// Accrued interest is due every this many seconds.
    pub payment_interval: i64,
    pub grace_seconds: i64,
    pub next_due: i64,
    pub delayed_since: i64,
    pub principal: u64,
    pub accrued_raw: u128,
    pub interest_paid: u64,
    pub late_raw: u128,
    pub fees_paid: u64,
    pub impaired: u64,
    pub last_accrual: i64,
    pub seq: u64,
    pub bump: u8,
    pub reserved: [u8; 32],
}

/// What a repayment paid, in order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repayment {
    pub fees: u64,
    pub interest: u64,
    pub principal: u64,
}

impl Repayment {
    pub fn total(&self) -> Result<u64> {
        add(add(self.fees, self.interest)?, self.principal)
    }
}

impl CreditLine {
    pub fn next_seq(&mut self) -> Result<u64> {
        let s = self.seq;
        self.seq = add(s, 1)?;
        Ok(s)
    }

    /// Interest and late fees up to `now` (the pool accrues the same interest in aggregate).
    pub fn accrue(&mut self, now: i64) -> Result<()> {
        let dt = now.saturating_sub(self.last_accrual);
        if dt <= 0 {
            return Ok(());
        }
        self.accrued_raw = add128(
            self.accrued_raw,
            raw_over(raw_rate(self.principal, self.apr_bps), dt)?,
        )?;
        if matches!(self.status, LineStatus::Delayed | LineStatus::Defaulted) {
            self.late_raw = add128(
                self.late_raw,
                raw_over(raw_rate(self.principal, self.late_apr_bps), dt)?,
            )?;
        }
        self.last_accrual = now;
        Ok(())
    }

    /// Interest owed, rounded up (a line never owes less than the pool booked for it).
    pub fn interest_owed(&self) -> Result<u64> {
        Ok(tokens_ceil(self.accrued_raw)?.saturating_sub(self.interest_paid))
    }

    pub fn fees_owed(&self) -> Result<u64> {
        Ok(tokens_ceil(self.late_raw)?.saturating_sub(self.fees_paid))
    }

    pub fn total_owed(&self) -> Result<u64> {
        add(
            add(self.interest_owed()?, self.fees_owed()?)?,
            self.principal,
        )
    }

    fn overdue(&self, now: i64) -> Result<bool> {
        let interest_due =
            now > self.next_due && add(self.interest_owed()?, self.fees_owed()?)? > 0;
        let principal_due = now > self.maturity && self.principal > 0;
        Ok(interest_due || principal_due)
    }

    /// Moves the line along GoodStanding → Delayed → Defaulted by time. Never back: only the
    /// underwriter restores good standing. Returns the new status when it changed.
    pub fn refresh(&mut self, now: i64) -> Result<Option<LineStatus>> {
        let before = self.status;
        match self.status {
            LineStatus::GoodStanding => {
                if self.overdue(now)? {
                    self.status = LineStatus::Delayed;
                    self.delayed_since = if now > self.maturity && self.principal > 0 {
                        self.maturity.min(self.next_due)
                    } else {
                        self.next_due
                    };
                } else if now > self.next_due && self.payment_interval > 0 {
                    // Paid up: the next due date is the first one after now.
                    let missed = now
                        .checked_sub(self.next_due)
                        .and_then(|late| late.checked_div(self.payment_interval))
                        .and_then(|n| n.checked_add(1))
                        .ok_or(CreditError::ArithmeticOverflow)?;
                    self.next_due = self
                        .next_due
                        .checked_add(
                            missed
                                .checked_mul(self.payment_interval)
                                .ok_or(CreditError::ArithmeticOverflow)?,
                        )
                        .ok_or(CreditError::ArithmeticOverflow)?;
                }
            }
            LineStatus::Delayed => {
                if now > self.delayed_since.saturating_add(self.grace_seconds) {
                    self.status = LineStatus::Defaulted;
                }
            }
            LineStatus::Defaulted | LineStatus::WrittenOff => {}
        }
        Ok((self.status != before).then_some(self.status))
    }

    /// Splits `amount` into fees, interest and principal, in that order, capped at the debt.
    pub fn allocate(&self, amount: u64) -> Result<Repayment> {
        let fees = amount.min(self.fees_owed()?);
        let rest = sub(amount, fees)?;
        let interest = rest.min(self.interest_owed()?);
        let rest = sub(rest, interest)?;
        Ok(Repayment {
            fees,
            interest,
            principal: rest.min(self.principal),
        })
    }

    pub fn invariant(&self) -> Result<()> {
        let ok = self.principal <= self.limit
            && self.impaired <= self.total_owed()?
            && (self.kind == LineKind::Receivable || self.merchant == Pubkey::default())
            && u64::from(self.advance_rate_bps) <= BPS
            && (self.status != LineStatus::WrittenOff
                || (self.principal == 0 && self.impaired == 0));
        require!(ok, CreditError::InvariantViolated);
        Ok(())
    }
}

/// An advance on one payment (PDA `["advance", payment]`: one per payment, ever).
#[account]
#[derive(InitSpace, Debug)]
pub struct Advance {
    pub pool: Pubkey,
    pub line: Pubkey,
    pub payment: Pubkey,
    /// Token account (PDA `["advance_vault", payment]`) the payment's captures pay first.
    pub vault: Pubkey,
    pub amount: u64,
    /// What arrived from the payment so far.
    pub arrived: u64,
    pub settled: bool,
    pub seq: u64,
    pub bump: u8,
    pub vault_bump: u8,
}

impl Advance {
    pub fn next_seq(&mut self) -> Result<u64> {
        let s = self.seq;
        self.seq = add(s, 1)?;
        Ok(s)
    }
}

impl Tranche {
    pub fn seed(self) -> u8 {
        match self {
            Tranche::Senior => 0,
            Tranche::Junior => 1,
        }
    }
}

/// A lender's redemption request in one tranche (PDA `["redemption", pool, tranche, lender]`).
/// Its shares wait in the tranche's share escrow; each epoch end serves part of them.
#[account]
#[derive(InitSpace, Debug)]
pub struct RedemptionRequest {
    pub pool: Pubkey,
    pub lender: Pubkey,
    pub tranche: Tranche,
    /// Shares still waiting.
    pub shares: u64,
    /// The first epoch not yet settled into this request.
    pub epoch_id: u64,
    /// Cash served and not yet withdrawn.
    pub payable: u64,
    pub bump: u8,
}

/// What one epoch end did for one tranche (PDA `["epoch", pool, tranche, epoch_id]`).
#[account]
#[derive(InitSpace, Debug)]
pub struct EpochRecord {
    pub pool: Pubkey,
    pub tranche: Tranche,
    pub epoch_id: u64,
    /// Shares waiting when the epoch ended.
    pub requested: u64,
    /// Shares served (burned).
    pub served: u64,
    /// Cash the served shares were worth.
    pub paid: u64,
    pub bump: u8,
}
