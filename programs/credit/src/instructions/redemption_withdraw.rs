use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::{token::TokenMint, SafeMath};

/// A lender settles its request's share of each closed epoch, passed in order as writable
/// remaining accounts (`EpochRecord`s from the request's epoch on), and withdraws what was
/// served. Settling epochs that paid nothing succeeds, so a lender is never stuck behind them.
#[event_cpi]
#[derive(Accounts)]
pub struct RedemptionWithdraw<'info> {
    pub lender: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        has_one = pool,
        has_one = lender,
        seeds = [REDEMPTION_SEED, pool.key().as_ref(), &[request.tranche.seed()], lender.key().as_ref()],
        bump = request.bump,
    )]
    pub request: Box<Account<'info, LenderRedemption>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = mint, token::authority = lender)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

pub fn handler<'info>(ctx: Context<'info, RedemptionWithdraw<'info>>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let lender = ctx.accounts.lender.key();
    let pool_key = ctx.accounts.pool.key();
    let current = ctx.accounts.pool.epoch_id;
    let request = &mut ctx.accounts.request;
    let mut settled = 0u64;
    for info in ctx.remaining_accounts {
        if request.epoch_id >= current {
            break;
        }
        // Records come as remaining accounts: checked, updated and written back by hand.
        require_keys_eq!(*info.owner, crate::ID, CreditError::EpochRecordMismatch);
        require!(info.is_writable, CreditError::EpochRecordReadOnly);
        let mut record = Account::<EpochRecord>::try_from(info)?;
        if request.settle(&mut record)? {
            settled = settled.safe_add(1)?;
            record.exit(&crate::ID)?;
        }
    }
    if request.shares == 0 {
        request.epoch_id = current;
    }
    let amount = std::mem::take(&mut request.payable);
    let (tranche, waiting, next_epoch) = (request.tranche, request.shares, request.epoch_id);
    // An epoch that paid nothing still settles (the lender can then add, cancel or wait):
    // only a call that neither settles nor pays is refused.
    require!(amount > 0 || settled > 0, CreditError::NothingToWithdraw);
    let pool = &mut ctx.accounts.pool;
    if let Some(e) = accrue(pool, pool_key, lender, now)? {
        emit_cpi!(e);
    }
    pool.pay_redemption(amount)?;
    pool.invariant()?;
    let seq = pool.next_seq()?;
    emit_cpi!(RedemptionWithdrawn {
        header: EventHeader::new(pool_key, seq, lender, now),
        lender,
        tranche,
        amount,
        waiting,
        settled,
        next_epoch,
    });
    let balances = balances_event(pool, pool_key, lender, now)?;
    emit_cpi!(balances);
    if amount == 0 {
        return Ok(());
    }
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
