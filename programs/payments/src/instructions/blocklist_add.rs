use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;
use kassa_common::create::Creator;

/// The compliance authority blocks a wallet from paying.
#[event_cpi]
#[derive(Accounts)]
#[instruction(wallet: Pubkey)]
pub struct BlocklistAdd<'info> {
    #[account(mut)]
    pub compliance_authority: Signer<'info>,
    #[account(
        mut,
        seeds = [CONFIG_SEED],
        bump = config.bump,
        has_one = compliance_authority @ PaymentsError::NotComplianceAuthority,
    )]
    pub config: Box<Account<'info, Config>>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [BLOCKLIST_SEED, wallet.as_ref()], bump)]
    pub entry: UncheckedAccount<'info>,
    pub system_program: Program<'info, System>,
}

impl BlocklistAdd<'_> {
    pub fn validate(&self, reason_hash: &[u8; 32]) -> Result<()> {
        require!(*reason_hash != [0; 32], PaymentsError::EmptyCaseHash);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&reason_hash))]
pub fn handler(ctx: Context<BlocklistAdd>, wallet: Pubkey, reason_hash: [u8; 32]) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.compliance_authority.key();
    let bump = ctx.bumps.entry;
    Creator {
        payer: &ctx.accounts.compliance_authority.to_account_info(),
        system_program: &ctx.accounts.system_program.to_account_info(),
    }
    .create_state(
        &ctx.accounts.entry.to_account_info(),
        8 + BlocklistEntry::INIT_SPACE,
        &[BLOCKLIST_SEED, wallet.as_ref(), &[bump]],
        &BlocklistEntry {
            wallet,
            reason_hash,
            added_at: now,
            rent_payer: actor,
            bump,
        },
    )?;
    let config = &mut ctx.accounts.config;
    let seq = config.next_seq()?;
    let header = EventHeader::new(config.key(), seq, actor, now);
    emit_cpi!(PayerBlocked {
        header,
        wallet,
        reason_hash,
    });
    Ok(())
}
