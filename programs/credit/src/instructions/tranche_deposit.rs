use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::token::TokenMint;

/// A lender deposits into a tranche at its current value per share (interest recognised
/// first, shares rounded down against the depositor), within the senior cap and the
/// allowlist.
#[event_cpi]
#[derive(Accounts)]
#[instruction(tranche: Tranche)]
pub struct TrancheDeposit<'info> {
    pub lender: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, address = pool.share_mint(tranche), mint::token_program = token_program)]
    pub share_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = mint, token::authority = lender)]
    pub source: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, token::mint = share_mint)]
    pub shares_to: Box<InterfaceAccount<'info, TokenAccount>>,
    /// Required when the pool keeps an allowlist.
    #[account(
        seeds = [ALLOW_SEED, pool.key().as_ref(), lender.key().as_ref()],
        bump = allow.bump,
    )]
    pub allow: Option<Box<Account<'info, AllowlistEntry>>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl TrancheDeposit<'_> {
    pub fn validate(&self, amount: u64) -> Result<()> {
        require!(amount > 0, CreditError::ZeroAmount);
        // The allowlist, when the pool keeps one.
        require!(
            !self.pool.allowlist || self.allow.is_some(),
            CreditError::LenderNotAllowed
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(amount))]
pub fn handler(
    ctx: Context<TrancheDeposit>,
    tranche: Tranche,
    amount: u64,
    min_shares: u64,
) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let lender = ctx.accounts.lender.key();
    let pool_key = ctx.accounts.pool.key();
    let pool = &mut ctx.accounts.pool;
    let accrued = accrue(pool, pool_key, lender, now)?;
    let shares = pool.deposit(tranche, amount, min_shares)?;
    pool.invariant()?;
    if let Some(event) = accrued {
        emit_cpi!(event);
    }
    let seq = pool.next_seq()?;
    emit_cpi!(Deposited {
        header: EventHeader::new(pool_key, seq, lender, now),
        lender,
        tranche,
        amount,
        shares,
        senior_value: pool.senior_value,
        junior_value: pool.junior_value,
    });
    let balances = balances_event(pool, pool_key, lender, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    let token_program = a.token_program.to_account_info();
    TokenMint {
        token_program: &token_program,
        mint: &a.mint.to_account_info(),
        decimals: a.pool.decimals,
    }
    .transfer_from_signer(
        &a.source.to_account_info(),
        &a.vault.to_account_info(),
        &a.lender.to_account_info(),
        amount,
    )?;
    TokenMint {
        token_program: &token_program,
        mint: &a.share_mint.to_account_info(),
        decimals: a.pool.decimals,
    }
    .mint_signed(
        &a.shares_to.to_account_info(),
        &a.pool.to_account_info(),
        &a.pool.seeds(),
        shares,
    )
}
