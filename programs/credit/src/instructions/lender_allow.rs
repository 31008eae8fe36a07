use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use kassa_common::create::Creator;

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
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [ALLOW_SEED, pool.key().as_ref(), lender.key().as_ref()], bump)]
    pub entry: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<LenderAllow>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let (pool_key, lender) = (ctx.accounts.pool.key(), ctx.accounts.lender.key());
    let bump = ctx.bumps.entry;
    Creator {
        payer: &ctx.accounts.admin.to_account_info(),
        system_program: &ctx.accounts.system_program.to_account_info(),
    }
    .create_state(
        &ctx.accounts.entry.to_account_info(),
        8 + AllowlistEntry::INIT_SPACE,
        &[ALLOW_SEED, pool_key.as_ref(), lender.as_ref(), &[bump]],
        &AllowlistEntry {
            pool: pool_key,
            lender,
            bump,
        },
    )?;
    let seq = ctx.accounts.pool.next_seq()?;
    emit_cpi!(LenderAllowlisted {
        header: EventHeader::new(pool_key, seq, ctx.accounts.admin.key(), now),
        lender,
        allowed: true,
    });
    Ok(())
}
