//! Lenders deposit into a tranche at its current value per share (interest recognised first,
//! shares rounded down against the depositor), within the senior cap and the allowlist.

use super::common::*;
use crate::{error::CreditError, events::*, math::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
#[instruction(tranche: Tranche)]
pub struct Deposit<'info> {
    pub lender: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, address = pool.share_mint(tranche))]
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
    pub allow: Option<Box<Account<'info, LenderAllow>>>,
    pub token_program: Interface<'info, TokenInterface>,
}

pub fn deposit(
    ctx: Context<Deposit>,
    tranche: Tranche,
    amount: u64,
    min_shares: u64,
) -> Result<()> {
    require!(amount > 0, CreditError::ZeroAmount);
    let a = &ctx.accounts;
    require!(
        !a.pool.allowlist || a.allow.is_some(),
        CreditError::LenderNotAllowed
    );
    let now = Clock::get()?.unix_timestamp;
    let lender = ctx.accounts.lender.key();
    let pool_key = ctx.accounts.pool.key();
    let supply = ctx.accounts.share_mint.supply;
    let pool = &mut ctx.accounts.pool;
    let accrued = accrue_pool(pool, pool_key, lender, now)?;
    let shares = shares_for_deposit(amount, pool.tranche_value(tranche), supply)?;
    require!(
        shares > 0 && shares >= min_shares,
        CreditError::SlippageExceeded
    );
    match tranche {
        Tranche::Senior => pool.senior_value = add(pool.senior_value, amount)?,
        Tranche::Junior => pool.junior_value = add(pool.junior_value, amount)?,
    }
    require!(
        senior_within_cap(pool.senior_value, pool.junior_value, pool.senior_cap_bps),
        CreditError::SeniorCapExceeded
    );
    pool.cash = add(pool.cash, amount)?;
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
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, lender, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    transfer_in(
        &a.token_program.to_account_info(),
        &a.source.to_account_info(),
        &a.mint.to_account_info(),
        &a.vault.to_account_info(),
        &a.lender.to_account_info(),
        amount,
        a.pool.decimals,
    )?;
    mint_shares(
        &a.pool,
        &a.pool.to_account_info(),
        &a.token_program.to_account_info(),
        &a.share_mint.to_account_info(),
        &a.shares_to.to_account_info(),
        shares,
    )
}
