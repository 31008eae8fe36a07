use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::token::TokenMint;

/// The borrower draws on a revolving line, within its limit and the pool's free cash.
#[event_cpi]
#[derive(Accounts)]
pub struct LineDraw<'info> {
    pub borrower: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        has_one = pool,
        has_one = borrower @ CreditError::NotBorrower,
        seeds = [LINE_SEED, pool.key().as_ref(), line.borrower.as_ref()],
        bump = line.bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// Where the money goes.
    #[account(mut, token::mint = mint)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl LineDraw<'_> {
    pub fn validate(&self, amount: u64) -> Result<()> {
        require!(amount > 0, CreditError::ZeroAmount);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(amount))]
pub fn handler(ctx: Context<LineDraw>, amount: u64) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.borrower.key();
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    // Advances are the only way to draw on a receivable line.
    require!(
        line.kind == LineKind::Revolving,
        CreditError::NotRevolvingLine
    );
    let principal = pool.lend(line, amount, now)?;
    check(pool, line)?;
    if let Some(e) = income {
        emit_cpi!(e);
    }
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    let seq = line.next_seq()?;
    emit_cpi!(Drawn {
        header: EventHeader::new(line_key, seq, actor, now),
        amount,
        principal,
    });
    let balances = balances_event(pool, pool_key, actor, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    TokenMint {
        token_program: &a.token_program.to_account_info(),
        mint: &a.mint.to_account_info(),
        decimals: a.pool.decimals,
    }
    .transfer_signed(
        &a.vault.to_account_info(),
        &a.destination.to_account_info(),
        &a.pool.to_account_info(),
        &a.pool.seeds(),
        amount,
    )
}
