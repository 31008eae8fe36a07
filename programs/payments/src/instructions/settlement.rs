//! Account groups shared by the instructions that move money out of escrow: [`Settlement`] pays
//! the merchant side (fee, assignee, merchant), [`Release`] returns escrow to the payer.

use crate::{
    constants::*,
    error::PaymentsError,
    math::{split_capture, CaptureSplit},
    state::*,
    token::EscrowOut,
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

/// Everything a capture needs: the payment, its escrow vault and the three payout accounts.
#[derive(Accounts)]
pub struct Settlement<'info> {
    #[account(seeds = [CONFIG_SEED], bump = config.bump)]
    pub config: Box<Account<'info, Config>>,
    #[account(seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()], bump = merchant.bump)]
    pub merchant: Box<Account<'info, Merchant>>,
    #[account(mut, has_one = merchant, has_one = mint @ PaymentsError::MintMismatch)]
    pub payment: Box<Account<'info, Payment>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [VAULT_SEED, mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = escrow_authority,
        token::token_program = token_program,
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the escrow PDA (seeds checked); signs transfers out of the vault.
    #[account(seeds = [ESCROW_SEED], bump)]
    pub escrow_authority: UncheckedAccount<'info>,
    /// The fee receiver's token account of the payment's mint.
    #[account(
        mut,
        token::mint = mint,
        token::authority = config.fee_receiver,
        token::token_program = token_program,
    )]
    pub fee_destination: Box<InterfaceAccount<'info, TokenAccount>>,
    /// The merchant's settlement wallet's token account of the payment's mint.
    #[account(
        mut,
        token::mint = mint,
        token::authority = merchant.settlement_wallet,
        token::token_program = token_program,
    )]
    pub merchant_destination: Box<InterfaceAccount<'info, TokenAccount>>,
    /// The receivable assignee's token account; required while the payment owes the assignee.
    #[account(mut, token::mint = mint, token::token_program = token_program)]
    pub assignee_destination: Option<Box<InterfaceAccount<'info, TokenAccount>>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl<'info> Settlement<'info> {
    /// Payout accounts are real destinations, never the escrow itself, and the assignee account
    /// is the one the receivable was assigned to.
    pub fn validate(&self) -> Result<()> {
        let escrow_owned = |account: &InterfaceAccount<'info, TokenAccount>| {
            account.key() == self.vault.key() || account.owner == self.escrow_authority.key()
        };
        require!(
            !escrow_owned(&self.fee_destination) && !escrow_owned(&self.merchant_destination),
            PaymentsError::DestinationIsEscrow
        );
        if self.payment.assigned > 0 {
            let assignee = self
                .assignee_destination
                .as_ref()
                .ok_or(PaymentsError::AssigneeMismatch)?;
            require_keys_eq!(
                assignee.key(),
                self.payment.assignee,
                PaymentsError::AssigneeMismatch
            );
            require!(!escrow_owned(assignee), PaymentsError::DestinationIsEscrow);
        }
        Ok(())
    }

    /// Pays `gross` out of escrow: protocol fee, then the assignee, then the merchant.
    pub fn pay_out(&self, gross: u64, escrow_bump: u8) -> Result<CaptureSplit> {
        let fee_bps = self
            .merchant
            .effective_fee_bps(self.config.protocol_fee_bps);
        let split = split_capture(gross, fee_bps, self.payment.assigned)?;
        let out = EscrowOut {
            token_program: &self.token_program.to_account_info(),
            vault: &self.vault.to_account_info(),
            mint: &self.mint.to_account_info(),
            escrow_authority: &self.escrow_authority.to_account_info(),
            escrow_bump,
            decimals: self.mint.decimals,
        };
        out.pay(&self.fee_destination.to_account_info(), split.fee)?;
        if let Some(assignee) = &self.assignee_destination {
            out.pay(&assignee.to_account_info(), split.to_assignee)?;
        }
        out.pay(
            &self.merchant_destination.to_account_info(),
            split.to_merchant,
        )?;
        Ok(split)
    }
}

/// Everything needed to return escrow to the payer.
#[derive(Accounts)]
pub struct Release<'info> {
    #[account(mut, has_one = mint @ PaymentsError::MintMismatch)]
    pub payment: Box<Account<'info, Payment>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        mut,
        seeds = [VAULT_SEED, mint.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = escrow_authority,
        token::token_program = token_program,
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// CHECK: the escrow PDA (seeds checked); signs transfers out of the vault.
    #[account(seeds = [ESCROW_SEED], bump)]
    pub escrow_authority: UncheckedAccount<'info>,
    /// The payer's token account of the payment's mint; funds only ever return to the payer.
    #[account(
        mut,
        token::mint = mint,
        token::authority = payment.payer,
        token::token_program = token_program,
    )]
    pub payer_destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl<'info> Release<'info> {
    /// Sends `amount` from escrow back to the payer.
    pub fn pay_back(&self, amount: u64, escrow_bump: u8) -> Result<()> {
        EscrowOut {
            token_program: &self.token_program.to_account_info(),
            vault: &self.vault.to_account_info(),
            mint: &self.mint.to_account_info(),
            escrow_authority: &self.escrow_authority.to_account_info(),
            escrow_bump,
            decimals: self.mint.decimals,
        }
        .pay(&self.payer_destination.to_account_info(), amount)
    }
}
