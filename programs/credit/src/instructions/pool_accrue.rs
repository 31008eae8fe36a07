use super::books::*;
use crate::{constants::*, state::*};
use anchor_lang::prelude::*;

/// Anyone recognises the interest accrued so far (share prices are always current anyway:
/// every instruction that reads them accrues first).
#[event_cpi]
#[derive(Accounts)]
pub struct PoolAccrue<'info> {
    pub caller: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
}

pub fn handler(ctx: Context<PoolAccrue>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.caller.key();
    let pool_key = ctx.accounts.pool.key();
    let pool = &mut ctx.accounts.pool;
    if let Some(event) = accrue(pool, pool_key, actor, now)? {
        pool.invariant()?;
        emit_cpi!(event);
        let balances = balances_event(pool, pool_key, actor, now)?;
        emit_cpi!(balances);
    }
    Ok(())
}
