use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::token::TokenMint;

/// Anyone repays a line from its own token account: fees, then interest, then principal,
/// capped at what the line owes (everything is recovery once it was written off).
#[event_cpi]
#[derive(Accounts)]
pub struct LineRepay<'info> {
    pub payer: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        has_one = pool,
        seeds = [LINE_SEED, pool.key().as_ref(), line.borrower.as_ref()],
        bump = line.bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// Where the money comes from.
    #[account(
        mut,
        token::mint = mint,
        constraint = source.owner == payer.key() @ CreditError::NotBorrower,
    )]
    pub source: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl LineRepay<'_> {
    pub fn validate(&self, amount: u64) -> Result<()> {
        require!(amount > 0, CreditError::ZeroAmount);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(amount))]
pub fn handler(ctx: Context<LineRepay>, amount: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.payer.key();
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    let booked = pool.book_repayment(line, amount)?;
    let total = booked.total()?;
    require!(total > 0, CreditError::NothingOwed);
    check(pool, line)?;
    if let Some(e) = income {
        emit_cpi!(e);
    }
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    for e in repayment_income_events(pool, pool_key, actor, now, &booked)? {
        emit_cpi!(e);
    }
    let r = booked.repayment;
    let seq = line.next_seq()?;
    emit_cpi!(Repaid {
        header: EventHeader::new(line_key, seq, actor, now),
        payer: actor,
        fees: r.fees,
        interest: r.interest,
        principal: r.principal,
        recovery: booked.recovery,
        principal_after: line.principal,
    });
    let balances = balances_event(pool, pool_key, actor, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    TokenMint {
        token_program: &a.token_program.to_account_info(),
        mint: &a.mint.to_account_info(),
        decimals: a.pool.decimals,
    }
    .transfer_from_signer(
        &a.source.to_account_info(),
        &a.vault.to_account_info(),
        &a.payer.to_account_info(),
        total,
    )
}
