use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::token::TokenMint;

/// The protocol fee receiver, or the pool admin, withdraws the fees payable to it. What was
/// withdrawn is no longer payable: a second call has nothing to take.
#[event_cpi]
#[derive(Accounts)]
pub struct PoolFeesWithdraw<'info> {
    #[account(
        constraint = recipient.key() == pool.protocol_fee_receiver
            || recipient.key() == pool.admin @ CreditError::NotFeeReceiver,
    )]
    pub recipient: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = mint, token::authority = recipient)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

pub fn handler(ctx: Context<PoolFeesWithdraw>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let recipient = ctx.accounts.recipient.key();
    let pool_key = ctx.accounts.pool.key();
    let pool = &mut ctx.accounts.pool;
    let accrued = accrue(pool, pool_key, recipient, now)?;
    let amount = pool.withdraw_fees(&recipient)?;
    pool.invariant()?;
    if let Some(event) = accrued {
        emit_cpi!(event);
    }
    let seq = pool.next_seq()?;
    emit_cpi!(FeesWithdrawn {
        header: EventHeader::new(pool_key, seq, recipient, now),
        to: ctx.accounts.destination.key(),
        amount,
    });
    let balances = balances_event(pool, pool_key, recipient, now)?;
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
