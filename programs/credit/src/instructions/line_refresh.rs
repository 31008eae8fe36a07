use super::books::*;
use crate::{constants::*, state::*};
use anchor_lang::prelude::*;

/// Anyone moves a line's status by time (GoodStanding → Delayed → Defaulted), recognising the
/// interest accrued on the way.
#[event_cpi]
#[derive(Accounts)]
pub struct LineRefresh<'info> {
    pub caller: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        has_one = pool,
        seeds = [LINE_SEED, pool.key().as_ref(), line.borrower.as_ref()],
        bump = line.bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
}

pub fn handler(ctx: Context<LineRefresh>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.caller.key();
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    check(pool, line)?;
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    if let Some(e) = income {
        emit_cpi!(e);
        let balances = balances_event(pool, pool_key, actor, now)?;
        emit_cpi!(balances);
    }
    Ok(())
}
