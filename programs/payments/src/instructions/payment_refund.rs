use crate::{constants::*, error::PaymentsError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::token::TokenMint;

/// The merchant refunds part of what it captured, from its own token account, until the refund
/// deadline. Escrow is not touched: captured funds already left it.
#[event_cpi]
#[derive(Accounts)]
pub struct PaymentRefund<'info> {
    pub authority: Signer<'info>,
    #[account(
        seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()],
        bump = merchant.bump,
        has_one = authority @ PaymentsError::NotMerchantAuthority,
    )]
    pub merchant: Box<Account<'info, Merchant>>,
    #[account(mut, has_one = merchant, has_one = mint @ PaymentsError::MintMismatch)]
    pub payment: Box<Account<'info, Payment>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// The merchant's token account that funds the refund; the authority signs for it.
    #[account(
        mut,
        token::mint = mint,
        token::authority = authority,
        token::token_program = token_program,
    )]
    pub refund_source: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        token::mint = mint,
        token::authority = payment.payer,
        token::token_program = token_program,
    )]
    pub payer_destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

pub fn handler(ctx: Context<PaymentRefund>, amount: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.authority.key();
    // Book first: a refund the rules forbid must fail before any token moves.
    ctx.accounts.payment.refund(amount, now)?;
    let a = &ctx.accounts;
    TokenMint {
        token_program: &a.token_program.to_account_info(),
        mint: &a.mint.to_account_info(),
        decimals: a.mint.decimals,
    }
    .transfer_from_signer(
        &a.refund_source.to_account_info(),
        &a.payer_destination.to_account_info(),
        &a.authority.to_account_info(),
        amount,
    )?;
    let payment = &mut ctx.accounts.payment;
    payment.invariant()?;
    let seq = payment.next_seq()?;
    let header = EventHeader::new(payment.key(), seq, actor, now);
    emit_cpi!(PaymentRefunded {
        header,
        merchant: payment.merchant,
        mint: payment.mint,
        amount,
        refunded_total: payment.refunded,
    });
    Ok(())
}
