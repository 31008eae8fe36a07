use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;

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
    #[account(
        init,
        payer = compliance_authority,
        space = 8 + BlocklistEntry::INIT_SPACE,
        seeds = [BLOCKLIST_SEED, wallet.as_ref()],
        bump,
    )]
    pub entry: Account<'info, BlocklistEntry>,
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
    ctx.accounts.entry.set_inner(BlocklistEntry {
        wallet,
        reason_hash,
        added_at: now,
        rent_payer: actor,
        bump: ctx.bumps.entry,
    });
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
