use crate::{constants::*, events::*, state::*, token::require_supported_mint};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenInterface};
use kassa_common::create::Creator;

/// Creates the escrow vault of a mint. Anyone may pay for it; it is shared by every payment in
/// that mint and owned by the escrow PDA, so nobody but the program can move its funds.
#[event_cpi]
#[derive(Accounts)]
pub struct VaultOpen<'info> {
    #[account(mut)]
    pub payer: Signer<'info>,
    #[account(mut, seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(mint::token_program = token_program)]
    pub mint: InterfaceAccount<'info, Mint>,
    /// CHECK: PDA that owns every vault; holds no data.
    #[account(seeds = [ESCROW_SEED], bump)]
    pub escrow_authority: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [VAULT_SEED, mint.key().as_ref()], bump)]
    pub vault: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl VaultOpen<'_> {
    pub fn validate(&self) -> Result<()> {
        require_supported_mint(&self.mint.to_account_info())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<VaultOpen>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.payer.key();
    let mint = ctx.accounts.mint.key();
    let vault = ctx.accounts.vault.key();
    let bump = ctx.bumps.vault;
    Creator {
        payer: &ctx.accounts.payer.to_account_info(),
        system_program: &ctx.accounts.system_program.to_account_info(),
    }
    .create_token_account(
        &ctx.accounts.vault.to_account_info(),
        &[VAULT_SEED, mint.as_ref(), &[bump]],
        &ctx.accounts.mint.to_account_info(),
        &ctx.accounts.escrow_authority.to_account_info(),
        &ctx.accounts.token_program.to_account_info(),
    )?;
    let config = &mut ctx.accounts.config;
    let seq = config.next_seq()?;
    let header = EventHeader::new(config.key(), seq, actor, now);
    emit_cpi!(VaultOpened {
        header,
        mint,
        vault,
    });
    Ok(())
}
