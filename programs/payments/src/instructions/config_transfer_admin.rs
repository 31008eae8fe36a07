use crate::{constants::*, error::PaymentsError, events::*, state::Config};
use anchor_lang::prelude::*;

/// Hands the admin role over. Both the old and the new admin sign, so the role can never be
/// given to a key nobody holds.
#[event_cpi]
#[derive(Accounts)]
pub struct ConfigTransferAdmin<'info> {
    pub admin: Signer<'info>,
    pub new_admin: Signer<'info>,
    #[account(
        mut,
        seeds = [CONFIG_SEED],
        bump = config.bump,
        has_one = admin @ PaymentsError::NotAdmin,
    )]
    pub config: Box<Account<'info, Config>>,
}

pub fn handler(ctx: Context<ConfigTransferAdmin>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.admin.key();
    let config = &mut ctx.accounts.config;
    config.admin = ctx.accounts.new_admin.key();
    config.invariant()?;
    let seq = config.next_seq()?;
    let header = EventHeader::new(config.key(), seq, actor, now);
    emit_cpi!(ConfigUpdated::snapshot(header, config));
    Ok(())
}
