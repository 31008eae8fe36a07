use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::token::TokenMint;

/// A lender takes queued shares back out of the share escrow before the epoch ends.
#[event_cpi]
#[derive(Accounts)]
#[instruction(tranche: Tranche)]
pub struct RedemptionCancel<'info> {
    pub lender: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(address = pool.share_mint(tranche), mint::token_program = token_program)]
    pub share_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = share_mint, token::authority = lender)]
    pub lender_shares: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[tranche.seed()]], bump)]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        mut,
        has_one = pool,
        has_one = lender,
        seeds = [REDEMPTION_SEED, pool.key().as_ref(), &[tranche.seed()], lender.key().as_ref()],
        bump = request.bump,
    )]
    pub request: Box<Account<'info, LenderRedemption>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl RedemptionCancel<'_> {
    pub fn validate(&self, shares: u64) -> Result<()> {
        require!(shares > 0, CreditError::ZeroAmount);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(shares))]
pub fn handler(ctx: Context<RedemptionCancel>, tranche: Tranche, shares: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let lender = ctx.accounts.lender.key();
    let pool_key = ctx.accounts.pool.key();
    let epoch = ctx.accounts.pool.epoch_id;
    let waiting = ctx.accounts.request.cancel(shares, epoch)?;
    let pool = &mut ctx.accounts.pool;
    let income = accrue(pool, pool_key, lender, now)?;
    let pending = pool.cancel_redemption(tranche, shares)?;
    pool.invariant()?;
    if let Some(e) = income {
        emit_cpi!(e);
    }
    let seq = pool.next_seq()?;
    emit_cpi!(RedemptionCancelled {
        header: EventHeader::new(pool_key, seq, lender, now),
        lender,
        tranche,
        shares,
        waiting,
        pending,
    });
    let balances = balances_event(pool, pool_key, lender, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    TokenMint {
        token_program: &a.token_program.to_account_info(),
        mint: &a.share_mint.to_account_info(),
        decimals: a.pool.decimals,
    }
    .transfer_signed(
        &a.escrow.to_account_info(),
        &a.lender_shares.to_account_info(),
        &a.pool.to_account_info(),
        &a.pool.seeds(),
        shares,
    )
}
