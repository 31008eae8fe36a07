use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;

/// The pool admin removes a lender from the allowlist (rent back to the admin); positions it
/// already holds stay.
#[event_cpi]
#[derive(Accounts)]
pub struct LenderDisallow<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ CreditError::NotPoolAdmin)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        close = admin,
        has_one = pool,
        seeds = [ALLOW_SEED, pool.key().as_ref(), entry.lender.as_ref()],
        bump = entry.bump,
    )]
    pub entry: Box<Account<'info, AllowlistEntry>>,
}

pub fn handler(ctx: Context<LenderDisallow>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let pool_key = ctx.accounts.pool.key();
    let lender = ctx.accounts.entry.lender;
    let seq = ctx.accounts.pool.next_seq()?;
    emit_cpi!(LenderAllowlisted {
        header: EventHeader::new(pool_key, seq, ctx.accounts.admin.key(), now),
        lender,
        allowed: false,
    });
    Ok(())
}
