//! Credit lines: what a borrower owes, and how a line moves between statuses.

use crate::{error::CreditError, math::*};
use anchor_lang::prelude::*;
use kassa_common::SafeMath;

#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    /// Drawn and repaid freely within the limit.
    Revolving,
    /// Drawn only as advances on the merchant's authorized payments.
    Receivable,
}

impl LineKind {
    /// Every kind of line.
    pub const ALL: [LineKind; 2] = [LineKind::Revolving, LineKind::Receivable];

    /// The kind's name off chain: lowercase, stable.
    pub fn name(self) -> &'static str {
        match self {
            LineKind::Revolving => "revolving",
            LineKind::Receivable => "receivable",
        }
    }
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

impl LineStatus {
    /// Every line status.
    pub const ALL: [LineStatus; 4] = [
        LineStatus::GoodStanding,
        LineStatus::Delayed,
        LineStatus::Defaulted,
        LineStatus::WrittenOff,
    ];

    /// The status's name off chain: lowercase, stable.
    pub fn name(self) -> &'static str {
        match self {
            LineStatus::GoodStanding => "good_standing",
            LineStatus::Delayed => "delayed",
            LineStatus::Defaulted => "defaulted",
            LineStatus::WrittenOff => "written_off",
        }
    }
}

/// A credit line of one borrower (PDA `["line", pool, borrower]`). Amounts are base units of
/// the pool's mint; times are unix seconds.
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
    /// Interest APR on principal, bps.
    pub apr_bps: u16,
    /// Late-fee APR on principal while delayed or defaulted, bps.
    pub late_apr_bps: u16,
    /// Share of a payment's escrow that can be advanced, bps.
    pub advance_rate_bps: u16,
    pub maturity: i64,
    /// Accrued interest is due every this many seconds.
    pub payment_interval: i64,
    pub grace_seconds: i64,
    pub next_due: i64,
    pub delayed_since: i64,
    pub principal: u64,
    /// Raw interest accrued (token base unit × bps × second).
    pub accrued_raw: u128,
    pub interest_paid: u64,
    /// Raw late fees accrued.
    pub late_raw: u128,
    pub fees_paid: u64,
    /// Value the underwriter marked down, at most what the line owes.
    pub impaired: u64,
    pub last_accrual: i64,
    pub seq: u64,
    pub bump: u8,
    /// What the write-off lost and recoveries have not yet brought back; 0 until written off.
    pub loss_outstanding: u64,
    /// Whether the line counts in the pool's `active_lines` (it owes something and is not
    /// written off): kept equal to [`CreditLine::is_active`] by every instruction.
    pub counted: bool,
    /// Non-accrual (audit 4): interest the pool had recognised and not received when the line
    /// went past due, impaired at that moment; it shrinks as the borrower pays it.
    pub suspended_interest: u64,
    pub reserved: [u8; 15],
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
        self.fees.safe_add(self.interest)?.safe_add(self.principal)
    }
}

impl CreditLine {
    pub fn next_seq(&mut self) -> Result<u64> {
        let s = self.seq;
        self.seq = s.safe_add(1)?;
        Ok(s)
    }

    /// Interest and late fees up to `now` (the pool accrues the same interest in aggregate).
    pub fn accrue(&mut self, now: i64) -> Result<()> {
        let dt = now.saturating_sub(self.last_accrual);
        if dt <= 0 {
            return Ok(());
        }
        self.accrued_raw = self
            .accrued_raw
            .safe_add(raw_over(raw_rate(self.principal, self.apr_bps), dt)?)?;
        if matches!(self.status, LineStatus::Delayed | LineStatus::Defaulted) {
            self.late_raw = self
                .late_raw
                .safe_add(raw_over(raw_rate(self.principal, self.late_apr_bps), dt)?)?;
        }
        self.last_accrual = now;
        Ok(())
    }

    /// Whether the pool recognises this line's interest as it accrues: only in good standing.
    /// A line past due is on non-accrual: the borrower still owes its interest, but the pool
    /// counts it as income only when it is paid.
    pub fn accrues_to_pool(&self) -> bool {
        self.status == LineStatus::GoodStanding
    }

    /// Whether the line owes anything that can still come due: it then counts in the pool's
    /// active lines, which `epoch_close` must bring up to date before serving redemptions.
    pub fn is_active(&self) -> Result<bool> {
        Ok(self.status != LineStatus::WrittenOff
            && (self.principal > 0 || self.interest_owed()? > 0 || self.fees_owed()? > 0))
    }

    /// Interest owed, rounded up (a line never owes less than the pool booked for it).
    pub fn interest_owed(&self) -> Result<u64> {
        Ok(tokens_ceil(self.accrued_raw)?.saturating_sub(self.interest_paid))
    }

    pub fn fees_owed(&self) -> Result<u64> {
        Ok(tokens_ceil(self.late_raw)?.saturating_sub(self.fees_paid))
    }

    pub fn total_owed(&self) -> Result<u64> {
        self.interest_owed()?
            .safe_add(self.fees_owed()?)?
            .safe_add(self.principal)
    }

    fn overdue(&self, now: i64) -> Result<bool> {
        let interest_due =
            now > self.next_due && self.interest_owed()?.safe_add(self.fees_owed()?)? > 0;
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
                        .safe_sub(self.next_due)?
                        .safe_div(self.payment_interval)?
                        .safe_add(1)?;
                    self.next_due = self
                        .next_due
                        .safe_add(missed.safe_mul(self.payment_interval)?)?;
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

    /// Back to good standing at `now`, once nothing is overdue (the underwriter's call).
    pub fn restore(&mut self, now: i64) -> Result<()> {
        require!(
            self.status != LineStatus::GoodStanding,
            CreditError::LineAlreadyInGoodStanding
        );
        let overdue = self.interest_owed()? > 0
            || self.fees_owed()? > 0
            || (now > self.maturity && self.principal > 0);
        require!(!overdue, CreditError::LineHasOverdue);
        self.status = LineStatus::GoodStanding;
        self.next_due = now
            .saturating_add(self.payment_interval)
            .min(self.maturity.max(now));
        Ok(())
    }

    /// Splits `amount` into fees, interest and principal, in that order, capped at the debt.
    pub fn allocate(&self, amount: u64) -> Result<Repayment> {
        let fees = amount.min(self.fees_owed()?);
        let rest = amount.safe_sub(fees)?;
        let interest = rest.min(self.interest_owed()?);
        let rest = rest.safe_sub(interest)?;
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
                || (self.principal == 0 && self.impaired == 0))
            && (self.status == LineStatus::WrittenOff || self.loss_outstanding == 0)
            && self.counted == self.is_active()?
            && self.suspended_interest <= self.impaired
            && self.suspended_interest <= self.interest_owed()?
            && (self.suspended_interest == 0 || !self.accrues_to_pool());
        require!(ok, CreditError::InvariantViolated);
        Ok(())
    }
}
