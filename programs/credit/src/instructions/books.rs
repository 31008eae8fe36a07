//! What many instructions do to the books around their own change, returned as the events to
//! emit: interest recognised up to now, a line brought up to date, and the pool's balances
//! that close every instruction that changed them.

use crate::{events::*, state::*};
use anchor_lang::prelude::*;

/// Recognises the pool's interest up to `now`; the event to emit when income was shared.
pub fn accrue(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    actor: Pubkey,
    now: i64,
) -> Result<Option<IncomeDistributed>> {
    match pool.accrue(now)? {
        Some(shared) => Ok(Some(income_event(pool, pool_key, actor, now, &shared)?)),
        None => Ok(None),
    }
}

/// The event of income shared out.
pub fn income_event(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    actor: Pubkey,
    now: i64,
    shared: &IncomeShared,
) -> Result<IncomeDistributed> {
    let seq = pool.next_seq()?;
    Ok(IncomeDistributed::new(
        EventHeader::new(pool_key, seq, actor, now),
        shared,
    ))
}

/// The pool's books as an event (the last one an instruction that changed them emits).
pub fn balances_event(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    actor: Pubkey,
    now: i64,
) -> Result<PoolBalances> {
    let seq = pool.next_seq()?;
    PoolBalances::of(EventHeader::new(pool_key, seq, actor, now), pool)
}

/// Brings pool and line to `now` and moves the line's status by time. Returns the events to
/// emit (income shared, status changed).
pub fn touch(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    line: &mut CreditLine,
    line_key: Pubkey,
    actor: Pubkey,
    now: i64,
) -> Result<(Option<IncomeDistributed>, Option<LineStatusChanged>)> {
    let income = accrue(pool, pool_key, actor, now)?;
    line.accrue(now)?;
    let from = line.status;
    let changed = match pool.refresh_line(line, now)? {
        Some(to) => Some(status_event(line, line_key, actor, now, from, to)?),
        None => None,
    };
    Ok((income, changed))
}

/// Closes an instruction that changed `line`: the pool's active-line count follows the line,
/// then both accounts' invariants are checked.
pub fn check(pool: &mut CreditPool, line: &mut CreditLine) -> Result<()> {
    pool.track(line)?;
    pool.invariant()?;
    line.invariant()
}

/// The event of `line` moving from `from` to `to`.
pub fn status_event(
    line: &mut CreditLine,
    line_key: Pubkey,
    actor: Pubkey,
    now: i64,
    from: LineStatus,
    to: LineStatus,
) -> Result<LineStatusChanged> {
    let seq = line.next_seq()?;
    let suspended_interest = if from == LineStatus::GoodStanding {
        line.suspended_interest
    } else {
        0
    };
    Ok(LineStatusChanged {
        header: EventHeader::new(line_key, seq, actor, now),
        from,
        to,
        suspended_interest,
    })
}

/// The income events of a booked repayment, in order.
pub fn repayment_income_events(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    actor: Pubkey,
    now: i64,
    booked: &BookedRepayment,
) -> Result<Vec<IncomeDistributed>> {
    booked
        .income
        .iter()
        .map(|shared| income_event(pool, pool_key, actor, now, shared))
        .collect()
}
