use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;

/// The pool admin allows a lender to deposit (a KYC pass recorded on chain).
#[event_cpi]
#[derive(Accounts)]
pub struct LenderAllow<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ CreditError::NotPoolAdmin)]
    pub pool: Box<Account<'info, CreditPool>>,
    /// CHECK: any wallet; it is only recorded.
    pub lender: UncheckedAccount<'info>,
    #[account(
        init,
        payer = admin,
        space = 8 + AllowlistEntry::INIT_SPACE,
        seeds = [ALLOW_SEED, pool.key().as_ref(), lender.key().as_ref()],
        bump,
    )]
    pub entry: Box<Account<'info, AllowlistEntry>>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<LenderAllow>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let (pool_key, lender) = (ctx.accounts.pool.key(), ctx.accounts.lender.key());
    ctx.accounts.entry.set_inner(AllowlistEntry {
        pool: pool_key,
        lender,
        bump: ctx.bumps.entry,
    });
    let seq = ctx.accounts.pool.next_seq()?;
    emit_cpi!(LenderAllowlisted {
        header: EventHeader::new(pool_key, seq, ctx.accounts.admin.key(), now),
        lender,
        allowed: true,
    });
    Ok(())
}
