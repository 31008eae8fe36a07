//! The pool: its books, and every operation that changes them.

use super::{CreditLine, LineStatus, Repayment, Tranche};
use crate::{constants::*, error::CreditError, math::*};
use anchor_lang::prelude::*;
use kassa_common::SafeMath;

/// A lending pool in one stablecoin (PDA `["credit_pool", mint]`). Amounts are base units of
/// `mint`; shares are base units of the tranche share mints (same decimals).
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
    /// Share of income paid to the protocol, bps.
    pub protocol_fee_bps: u16,
    /// Share of income paid to the pool admin, bps.
    pub admin_fee_bps: u16,
    /// Deposits need an [`super::AllowlistEntry`].
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
    /// Shares of each tranche the pool has minted and not burned: the denominators of share
    /// prices. Tracked here, not read from the share mints, so a holder burning its own shares
    /// cannot move the price (audit 6).
    pub senior_shares: u64,
    pub junior_shares: u64,
    /// Fees payable to the protocol fee receiver.
    pub protocol_fees: u64,
    /// Fees payable to the pool admin.
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
    /// Policy (admin): the largest limit the underwriter may give a line.
    pub max_line_limit: u64,
    /// Policy (admin): at most this many lines may owe the pool at once (at most
    /// [`MAX_ACTIVE_LINES`]).
    pub max_active_lines: u8,
    /// Lines that owe the pool now (see [`CreditLine::owes`]).
    pub active_lines: u8,
    /// Policy (admin): no new line, draw, advance or deposit; repayments, redemptions and
    /// every other way out stay open.
    pub paused: bool,
    /// Written-off losses each tranche took and recoveries have not yet restored (audit 2):
    /// a recovery restores senior first, then junior, like an impairment reversal.
    pub written_off_senior: u64,
    pub written_off_junior: u64,
    pub reserved: [u8; 21],
}

/// Income shared out, and the tranche values right after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncomeShared {
    pub income: u64,
    pub split: IncomeSplit,
    pub senior_value: u64,
    pub junior_value: u64,
}

/// What a repayment did to the books: the split the line received, the part that was a
/// recovery on a written-off line, and the income each part shared out (fees, prepaid
/// interest, recoveries), in order.
#[derive(Debug, Default)]
pub struct BookedRepayment {
    pub repayment: Repayment,
    pub recovery: u64,
    pub income: Vec<IncomeShared>,
}

impl BookedRepayment {
    /// Everything the pool received.
    pub fn total(&self) -> Result<u64> {
        self.repayment.total()?.safe_add(self.recovery)
    }
}

/// What an epoch end did for one tranche.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrancheEpoch {
    pub tranche: Tranche,
    /// Shares waiting when the epoch ended.
    pub requested: u64,
    /// Shares served (to be burned).
    pub served: u64,
    /// Cash the served shares were worth.
    pub paid: u64,
}

/// What a write-off took from the tranches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOff {
    pub principal: u64,
    pub interest: u64,
    pub from_junior: u64,
    pub from_senior: u64,
}

impl CreditPool {
    /// The pool PDA's signer seeds (it owns the vault, the share mints and escrows).
    pub fn seeds(&self) -> [&[u8]; 3] {
        [
            POOL_SEED,
            self.mint.as_ref(),
            std::slice::from_ref(&self.bump),
        ]
    }

    pub fn next_seq(&mut self) -> Result<u64> {
        let s = self.seq;
        self.seq = s.safe_add(1)?;
        Ok(s)
    }

    pub fn impaired(&self) -> Result<u64> {
        self.impaired_senior.safe_add(self.impaired_junior)
    }

    /// Cash not owed to served redemptions or fee receivers. Served redemptions are always
    /// covered (they were served from cash); fees are recognised with the interest, before it
    /// is received, so a fully lent pool can owe more fees than it holds: then nothing is
    /// available, and never an underflow that would stop the pool.
    pub fn available_cash(&self) -> Result<u64> {
        Ok(self
            .fee_cash()?
            .saturating_sub(self.protocol_fees.safe_add(self.admin_fees)?))
    }

    /// Cash that served redemptions do not hold: what fees can be paid from.
    fn fee_cash(&self) -> Result<u64> {
        self.cash.safe_sub(self.redemption_payable)
    }

    /// Recognised interest not yet received.
    pub fn receivable(&self) -> Result<u64> {
        self.recognized.safe_sub(self.received)
    }

    pub fn pending(&self, tranche: Tranche) -> u64 {
        match tranche {
            Tranche::Senior => self.pending_senior,
            Tranche::Junior => self.pending_junior,
        }
    }

    fn set_pending(&mut self, tranche: Tranche, shares: u64) {
        match tranche {
            Tranche::Senior => self.pending_senior = shares,
            Tranche::Junior => self.pending_junior = shares,
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

    /// Shares of `tranche` in issue by the pool's books.
    pub fn shares(&self, tranche: Tranche) -> u64 {
        match tranche {
            Tranche::Senior => self.senior_shares,
            Tranche::Junior => self.junior_shares,
        }
    }

    fn shares_mut(&mut self, tranche: Tranche) -> &mut u64 {
        match tranche {
            Tranche::Senior => &mut self.senior_shares,
            Tranche::Junior => &mut self.junior_shares,
        }
    }

    fn tranche_value_mut(&mut self, tranche: Tranche) -> &mut u64 {
        match tranche {
            Tranche::Senior => &mut self.senior_value,
            Tranche::Junior => &mut self.junior_value,
        }
    }

    fn shared(&self, income: u64, split: IncomeSplit) -> IncomeShared {
        IncomeShared {
            income,
            split,
            senior_value: self.senior_value,
            junior_value: self.junior_value,
        }
    }

    fn distribute(&mut self, s: &IncomeSplit) -> Result<()> {
        self.protocol_fees = self.protocol_fees.safe_add(s.protocol)?;
        self.admin_fees = self.admin_fees.safe_add(s.admin)?;
        self.senior_value = self.senior_value.safe_add(s.senior)?;
        self.junior_value = self.junior_value.safe_add(s.junior)?;
        Ok(())
    }

    /// Brings interest up to `now`: recognises what the lines accrued, in whole tokens rounded
    /// down, and shares out what lines had not already prepaid. Returns the income shared.
    pub fn accrue(&mut self, now: i64) -> Result<Option<IncomeShared>> {
        let dt = now.saturating_sub(self.last_accrual);
        if dt <= 0 {
            return Ok(None);
        }
        self.accrued_raw = self.accrued_raw.safe_add(raw_over(self.rate_raw, dt)?)?;
        self.last_accrual = now;
        let target = tokens_floor(self.accrued_raw)?;
        if target <= self.recognized {
            return Ok(None);
        }
        let income = target.safe_sub(self.recognized)?;
        self.recognized = target;
        // Interest already paid (and shared) ahead of recognition is received now.
        let absorbed = income.min(self.prepaid);
        self.prepaid = self.prepaid.safe_sub(absorbed)?;
        self.received = self.received.safe_add(absorbed)?;
        let fresh = income.safe_sub(absorbed)?;
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
        Ok(Some(self.shared(fresh, split)))
    }

    /// Income that was never receivable (late fees, recoveries after a write-off, interest
    /// paid ahead of recognition): cash in, shared out at once.
    pub fn receive_income(&mut self, amount: u64) -> Result<IncomeSplit> {
        self.cash = self.cash.safe_add(amount)?;
        let split = split_income(amount, self.protocol_fee_bps, self.admin_fee_bps, 0, 0, 0)?;
        self.distribute(&split)?;
        Ok(split)
    }

    /// Interest paid by a line: against the receivable first, the rest is prepaid.
    pub fn receive_interest(&mut self, amount: u64) -> Result<Option<IncomeSplit>> {
        let booked = amount.min(self.receivable()?);
        self.cash = self.cash.safe_add(booked)?;
        self.received = self.received.safe_add(booked)?;
        let extra = amount.safe_sub(booked)?;
        if extra == 0 {
            return Ok(None);
        }
        self.prepaid = self.prepaid.safe_add(extra)?;
        Ok(Some(self.receive_income(extra)?))
    }

    /// A line's principal changes from `old` to `new` at `apr`.
    pub fn reprice(&mut self, old: u64, new: u64, apr_bps: u16) -> Result<()> {
        self.rate_raw = self
            .rate_raw
            .safe_sub(raw_rate(old, apr_bps))?
            .safe_add(raw_rate(new, apr_bps))?;
        self.principal = self.principal.safe_sub(old)?.safe_add(new)?;
        Ok(())
    }

    /// Sets `line`'s principal to `new`; the pool's rate follows only while the line accrues
    /// to it (a line on non-accrual has no rate in the pool).
    fn set_principal(&mut self, line: &mut CreditLine, new: u64) -> Result<()> {
        if line.accrues_to_pool() {
            self.reprice(line.principal, new, line.apr_bps)?;
        } else {
            self.principal = self.principal.safe_sub(line.principal)?.safe_add(new)?;
        }
        line.principal = new;
        Ok(())
    }

    /// Moves `line` along its statuses by time (the pool accrued to `now` first). A line that
    /// falls past due goes on non-accrual (audit 4): its rate leaves the pool's, and the
    /// interest the pool recognised for it and has not received is impaired at once, so no
    /// tranche is valued on interest that is overdue. Returns the new status when it changed.
    pub fn refresh_line(&mut self, line: &mut CreditLine, now: i64) -> Result<Option<LineStatus>> {
        let accrued = line.accrues_to_pool();
        let changed = line.refresh(now)?;
        if accrued && !line.accrues_to_pool() {
            self.rate_raw = self
                .rate_raw
                .safe_sub(raw_rate(line.principal, line.apr_bps))?;
            let room = line.total_owed()?.saturating_sub(line.impaired);
            let suspended = line.interest_owed()?.min(self.receivable()?).min(room);
            if suspended > 0 {
                self.impair(suspended)?;
                line.impaired = line.impaired.safe_add(suspended)?;
            }
            line.suspended_interest = suspended;
        }
        Ok(changed)
    }

    /// The underwriter restores `line` to good standing (nothing overdue, so its suspended
    /// interest has been paid): its rate rejoins the pool's.
    pub fn restore_line(&mut self, line: &mut CreditLine, now: i64) -> Result<()> {
        let accrued = line.accrues_to_pool();
        line.restore(now)?;
        require!(line.suspended_interest == 0, CreditError::InvariantViolated);
        if !accrued {
            self.rate_raw = self
                .rate_raw
                .safe_add(raw_rate(line.principal, line.apr_bps))?;
        }
        Ok(())
    }

    /// Keeps the pool's count of active lines in step with `line` (after any change to it).
    pub fn track(&mut self, line: &mut CreditLine) -> Result<()> {
        let active = line.is_active()?;
        if active != line.counted {
            self.active_lines = if active {
                self.active_lines.checked_add(1)
            } else {
                self.active_lines.checked_sub(1)
            }
            .ok_or(CreditError::ArithmeticOverflow)?;
            line.counted = active;
        }
        Ok(())
    }

    /// Marks value down, junior first. Returns (junior, senior) parts.
    pub fn impair(&mut self, amount: u64) -> Result<(u64, u64)> {
        let (j, s) = loss_split(amount, self.junior_value, self.senior_value)?;
        self.junior_value = self.junior_value.safe_sub(j)?;
        self.senior_value = self.senior_value.safe_sub(s)?;
        self.impaired_junior = self.impaired_junior.safe_add(j)?;
        self.impaired_senior = self.impaired_senior.safe_add(s)?;
        Ok((j, s))
    }

    /// Reverses an impairment, senior first (the reverse of the loss order).
    pub fn reverse_impairment(&mut self, amount: u64) -> Result<(u64, u64)> {
        let s = amount.min(self.impaired_senior);
        let j = amount.safe_sub(s)?;
        require!(j <= self.impaired_junior, CreditError::ReversalTooLarge);
        self.impaired_senior = self.impaired_senior.safe_sub(s)?;
        self.impaired_junior = self.impaired_junior.safe_sub(j)?;
        self.senior_value = self.senior_value.safe_add(s)?;
        self.junior_value = self.junior_value.safe_add(j)?;
        Ok((j, s))
    }

    /// Takes a loss, junior first. Returns (junior, senior) parts.
    pub fn take_loss(&mut self, amount: u64) -> Result<(u64, u64)> {
        let (j, s) = loss_split(amount, self.junior_value, self.senior_value)?;
        self.junior_value = self.junior_value.safe_sub(j)?;
        self.senior_value = self.senior_value.safe_sub(s)?;
        self.losses = self.losses.safe_add(amount)?;
        self.written_off_junior = self.written_off_junior.safe_add(j)?;
        self.written_off_senior = self.written_off_senior.safe_add(s)?;
        Ok((j, s))
    }

    /// A recovery of `amount` on a written-off line: up to what the line still lost, it
    /// restores the tranches senior first, then junior (the reverse of the loss order), as
    /// principal coming back, with no fees taken; anything beyond is income. Returns the
    /// income shared, if any.
    fn recover(&mut self, line: &mut CreditLine, amount: u64) -> Result<Option<IncomeShared>> {
        let restored = amount.min(line.loss_outstanding);
        let senior = restored.min(self.written_off_senior);
        let junior = restored.safe_sub(senior)?;
        self.written_off_senior = self.written_off_senior.safe_sub(senior)?;
        self.written_off_junior = self.written_off_junior.safe_sub(junior)?;
        self.senior_value = self.senior_value.safe_add(senior)?;
        self.junior_value = self.junior_value.safe_add(junior)?;
        self.cash = self.cash.safe_add(restored)?;
        line.loss_outstanding = line.loss_outstanding.safe_sub(restored)?;
        let income = amount.safe_sub(restored)?;
        if income == 0 {
            return Ok(None);
        }
        let s = self.receive_income(income)?;
        Ok(Some(self.shared(income, s)))
    }

    /// A lender's deposit of `amount` into `tranche`: the shares it is worth at the tranche's
    /// current value and share count, rounded down, and at least `min_shares`. The senior
    /// tranche must stay within its cap.
    pub fn deposit(&mut self, tranche: Tranche, amount: u64, min_shares: u64) -> Result<u64> {
        require!(!self.paused, CreditError::PoolPaused);
        let shares = shares_for_deposit(amount, self.tranche_value(tranche), self.shares(tranche))?;
        require!(
            shares > 0 && shares >= min_shares,
            CreditError::SlippageExceeded
        );
        let value = self.tranche_value_mut(tranche);
        *value = value.safe_add(amount)?;
        require!(
            senior_within_cap(self.senior_value, self.junior_value, self.senior_cap_bps),
            CreditError::SeniorCapExceeded
        );
        self.cash = self.cash.safe_add(amount)?;
        let count = self.shares_mut(tranche);
        *count = count
            .checked_add(shares)
            .ok_or(CreditError::DepositExceedsShareCapacity)?;
        Ok(shares)
    }

    /// The fees payable to `recipient` (the protocol fee receiver or the pool admin), as far
    /// as the pool's cash (less served redemptions) covers them, taken out of the books: a
    /// second call has nothing to take until more is recognised or more cash comes in.
    pub fn withdraw_fees(&mut self, recipient: &Pubkey) -> Result<u64> {
        let cash = self.fee_cash()?;
        let owed = if *recipient == self.protocol_fee_receiver {
            &mut self.protocol_fees
        } else if *recipient == self.admin {
            &mut self.admin_fees
        } else {
            return err!(CreditError::NotFeeReceiver);
        };
        let amount = (*owed).min(cash);
        *owed = owed.safe_sub(amount)?;
        require!(amount > 0, CreditError::NothingToWithdraw);
        self.cash = self.cash.safe_sub(amount)?;
        Ok(amount)
    }

    /// `shares` of `tranche` join the queue of the current epoch. Returns the tranche's queue.
    pub fn queue_redemption(&mut self, tranche: Tranche, shares: u64) -> Result<u64> {
        let pending = self.pending(tranche).safe_add(shares)?;
        self.set_pending(tranche, pending);
        Ok(pending)
    }

    /// `shares` of `tranche` leave the queue of the current epoch. Returns the tranche's queue.
    pub fn cancel_redemption(&mut self, tranche: Tranche, shares: u64) -> Result<u64> {
        let pending = self.pending(tranche).safe_sub(shares)?;
        self.set_pending(tranche, pending);
        Ok(pending)
    }

    /// Ends the current epoch at `now`: serves the senior queue first from the cash nobody
    /// else is owed, then the junior queue with what is left and never below what the senior
    /// cap needs, pro rata when cash is short. The served shares' worth becomes payable.
    pub fn close_epoch(&mut self, now: i64) -> Result<[TrancheEpoch; 2]> {
        require!(now >= self.epoch_end, CreditError::EpochNotEnded);
        let cash = self.available_cash()?;
        let senior_requested = self.pending_senior;
        let (senior_served, senior_paid) = serve(
            senior_requested,
            self.senior_value,
            self.senior_shares,
            cash,
        )?;
        self.senior_value = self.senior_value.safe_sub(senior_paid)?;
        let cash = cash.safe_sub(senior_paid)?;
        let limit = junior_redeemable(self.senior_value, self.junior_value, self.senior_cap_bps)?;
        let junior_requested = self.pending_junior;
        let (junior_served, junior_paid) = serve(
            junior_requested,
            self.junior_value,
            self.junior_shares,
            cash.min(limit),
        )?;
        self.junior_value = self.junior_value.safe_sub(junior_paid)?;
        self.redemption_payable = self
            .redemption_payable
            .safe_add(senior_paid.safe_add(junior_paid)?)?;
        self.pending_senior = senior_requested.safe_sub(senior_served)?;
        self.pending_junior = junior_requested.safe_sub(junior_served)?;
        // Served shares are burned from the share escrows.
        self.senior_shares = self.senior_shares.safe_sub(senior_served)?;
        self.junior_shares = self.junior_shares.safe_sub(junior_served)?;
        // The next epoch ends one period after this one (or after now, if several were missed).
        let periods = now
            .safe_sub(self.epoch_end)?
            .safe_div(self.epoch_seconds)?
            .safe_add(1)?;
        self.epoch_end = self
            .epoch_end
            .safe_add(periods.safe_mul(self.epoch_seconds)?)?;
        self.epoch_id = self.epoch_id.safe_add(1)?;
        Ok([
            TrancheEpoch {
                tranche: Tranche::Senior,
                requested: senior_requested,
                served: senior_served,
                paid: senior_paid,
            },
            TrancheEpoch {
                tranche: Tranche::Junior,
                requested: junior_requested,
                served: junior_served,
                paid: junior_paid,
            },
        ])
    }

    /// A served redemption of `amount` leaves the vault.
    pub fn pay_redemption(&mut self, amount: u64) -> Result<()> {
        self.redemption_payable = self.redemption_payable.safe_sub(amount)?;
        self.cash = self.cash.safe_sub(amount)?;
        Ok(())
    }

    /// Lends `amount` of the pool's cash on `line` (a draw or an advance): the line must be in
    /// good standing, before maturity, within its limit, and the pool must have the cash nobody
    /// else is owed. Returns the line's new principal.
    pub fn lend(&mut self, line: &mut CreditLine, amount: u64, now: i64) -> Result<u64> {
        require!(amount > 0, CreditError::ZeroAmount);
        require!(!self.paused, CreditError::PoolPaused);
        require!(
            line.status == LineStatus::GoodStanding,
            CreditError::LineNotInGoodStanding
        );
        require!(now < line.maturity, CreditError::LineMatured);
        let new = line.principal.safe_add(amount)?;
        require!(new <= line.limit, CreditError::OverLimit);
        require!(
            amount <= self.available_cash()?,
            CreditError::InsufficientPoolCash
        );
        // A line that owes nothing yet becomes one more line `epoch_close` must look at.
        require!(
            line.counted || self.active_lines < self.max_active_lines,
            CreditError::TooManyActiveLines
        );
        self.set_principal(line, new)?;
        self.cash = self.cash.safe_sub(amount)?;
        self.track(line)?;
        Ok(new)
    }

    /// Books `amount` paid to `line`: fees, interest, principal in that order, capped at the
    /// debt (a recovery on a written-off line).
    pub fn book_repayment(
        &mut self,
        line: &mut CreditLine,
        amount: u64,
    ) -> Result<BookedRepayment> {
        let mut booked = BookedRepayment::default();
        if line.status == LineStatus::WrittenOff {
            booked.income.extend(self.recover(line, amount)?);
            booked.recovery = amount;
            return Ok(booked);
        }
        let r = line.allocate(amount)?;
        if r.fees > 0 {
            let s = self.receive_income(r.fees)?;
            line.fees_paid = line.fees_paid.safe_add(r.fees)?;
            booked.income.push(self.shared(r.fees, s));
        }
        if r.interest > 0 {
            line.interest_paid = line.interest_paid.safe_add(r.interest)?;
            // On non-accrual, the interest the pool had recognised is paid first and its
            // impairment reversed; the rest was never recognised and is income when paid.
            let recognized = if line.accrues_to_pool() {
                r.interest
            } else {
                let part = r.interest.min(line.suspended_interest);
                line.suspended_interest = line.suspended_interest.safe_sub(part)?;
                line.impaired = line.impaired.safe_sub(part)?;
                self.reverse_impairment(part)?;
                part
            };
            if recognized > 0 {
                if let Some(s) = self.receive_interest(recognized)? {
                    let extra = s
                        .protocol
                        .safe_add(s.admin)?
                        .safe_add(s.senior.safe_add(s.junior)?)?;
                    booked.income.push(self.shared(extra, s));
                }
            }
            let fresh = r.interest.safe_sub(recognized)?;
            if fresh > 0 {
                let s = self.receive_income(fresh)?;
                booked.income.push(self.shared(fresh, s));
            }
        }
        if r.principal > 0 {
            let new = line.principal.safe_sub(r.principal)?;
            self.set_principal(line, new)?;
            self.cash = self.cash.safe_add(r.principal)?;
        }
        // An impairment can never exceed what is still owed.
        let excess = line.impaired.saturating_sub(line.total_owed()?);
        if excess > 0 {
            self.reverse_impairment(excess)?;
            line.impaired = line.impaired.safe_sub(excess)?;
        }
        booked.repayment = r;
        Ok(booked)
    }

    /// Marks `amount` more of `line`'s value down (junior first). Returns (junior, senior).
    pub fn impair_line(&mut self, line: &mut CreditLine, amount: u64) -> Result<(u64, u64)> {
        require!(amount > 0, CreditError::ZeroAmount);
        let total = line.impaired.safe_add(amount)?;
        require!(total <= line.total_owed()?, CreditError::ImpairmentTooLarge);
        let parts = self.impair(amount)?;
        line.impaired = total;
        Ok(parts)
    }

    /// Reverses `amount` of `line`'s impairment (senior first). Returns (junior, senior).
    pub fn reverse_line_impairment(
        &mut self,
        line: &mut CreditLine,
        amount: u64,
    ) -> Result<(u64, u64)> {
        require!(amount > 0, CreditError::ZeroAmount);
        // The automatic impairment of suspended interest goes only as that interest is paid.
        require!(
            amount <= line.impaired.safe_sub(line.suspended_interest)?,
            CreditError::ReversalTooLarge
        );
        let parts = self.reverse_impairment(amount)?;
        line.impaired = line.impaired.safe_sub(amount)?;
        Ok(parts)
    }

    /// Recognises `line`'s principal and recognised interest as a loss through the waterfall.
    pub fn write_off(&mut self, line: &mut CreditLine) -> Result<WriteOff> {
        // The impairment already marked part of the loss: undo it, then take the whole loss
        // (both junior first, so the result is the same as taking the rest).
        self.reverse_impairment(line.impaired)?;
        line.impaired = 0;
        // The interest lost is what the pool recognised: all the line owes while it accrued,
        // only its suspended part once it was on non-accrual.
        let recognized = if line.accrues_to_pool() {
            line.interest_owed()?
        } else {
            line.suspended_interest
        };
        let interest = recognized.min(self.receivable()?);
        line.suspended_interest = 0;
        self.received = self.received.safe_add(interest)?;
        let principal = line.principal;
        self.set_principal(line, 0)?;
        let loss = principal.safe_add(interest)?;
        let (from_junior, from_senior) = self.take_loss(loss)?;
        line.loss_outstanding = loss;
        line.status = LineStatus::WrittenOff;
        Ok(WriteOff {
            principal,
            interest,
            from_junior,
            from_senior,
        })
    }

    /// The accounting identity, and the bounds the books keep.
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
            && self.redemption_payable <= self.cash
            && self.pending_senior <= self.senior_shares
            && self.pending_junior <= self.junior_shares
            && self.protocol_fee_bps.saturating_add(self.admin_fee_bps) <= MAX_FEE_BPS
            && self
                .written_off_senior
                .checked_add(self.written_off_junior)
                .is_some_and(|w| w <= self.losses)
            && self.max_active_lines <= MAX_ACTIVE_LINES
            && self.active_lines <= MAX_ACTIVE_LINES;
        require!(ok, CreditError::InvariantViolated);
        Ok(())
    }
}
