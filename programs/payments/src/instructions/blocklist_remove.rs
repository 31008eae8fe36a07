use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

/// The compliance authority unblocks a wallet; the entry's rent goes back to whoever paid it.
#[event_cpi]
#[derive(Accounts)]
pub struct BlocklistRemove<'info> {
    pub compliance_authority: Signer<'info>,
    #[account(
        mut,
        seeds = [CONFIG_SEED],
        bump = config.bump,
        has_one = compliance_authority @ PaymentsError::NotComplianceAuthority,
    )]
    pub config: Box<Account<'info, Config>>,
    #[account(
        mut,
        close = rent_payer,
        seeds = [BLOCKLIST_SEED, entry.wallet.as_ref()],
        bump = entry.bump,
        has_one = rent_payer @ PaymentsError::RentReceiverMismatch,
    )]
    pub entry: Account<'info, BlocklistEntry>,
    /// CHECK: only receives lamports; must be the entry's recorded rent payer (`has_one`).
    #[account(mut)]
    pub rent_payer: UncheckedAccount<'info>,
}

pub fn handler(ctx: Context<BlocklistRemove>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.compliance_authority.key();
    let wallet = ctx.accounts.entry.wallet;
    let config = &mut ctx.accounts.config;
    let seq = config.next_seq()?;
    let header = EventHeader::new(config.key(), seq, actor, now);
    emit_cpi!(PayerUnblocked { header, wallet });
    Ok(())
}
