//! Epoch redemptions: a lender queues shares (held in the tranche's escrow), may cancel them
//! until the epoch ends; anyone closes an ended epoch, which serves the queue pro rata from the
//! cash not owed to anyone else (senior first; junior only as far as the senior cap allows) and
//! records what it did; each lender then settles its share of every closed epoch and withdraws.

use super::common::*;
use crate::{error::CreditError, events::*, math::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[event_cpi]
#[derive(Accounts)]
#[instruction(tranche: Tranche)]
pub struct RedeemQueue<'info> {
    #[account(mut)]
    pub lender: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(address = pool.share_mint(tranche))]
    pub share_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = share_mint, token::authority = lender)]
    pub lender_shares: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[tranche.seed()]], bump)]
    pub escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        init_if_needed,
        payer = lender,
        space = 8 + RedemptionRequest::INIT_SPACE,
        seeds = [REDEMPTION_SEED, pool.key().as_ref(), &[tranche.seed()], lender.key().as_ref()],
        bump,
    )]
    pub request: Box<Account<'info, RedemptionRequest>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// Queues `shares` (or, with `cancel`, takes them back) for the current epoch's end.
pub fn redeem_queue(
    ctx: Context<RedeemQueue>,
    tranche: Tranche,
    shares: u64,
    cancel: bool,
) -> Result<()> {
    require!(shares > 0, CreditError::ZeroAmount);
    require!(
        cancel || ctx.accounts.lender_shares.amount >= shares,
        CreditError::InsufficientShares
    );
    let now = Clock::get()?.unix_timestamp;
    let lender = ctx.accounts.lender.key();
    let (pool_key, request_bump) = (ctx.accounts.pool.key(), ctx.bumps.request);
    let epoch = ctx.accounts.pool.epoch_id;
    let request = &mut ctx.accounts.request;
    if request.lender == Pubkey::default() {
        request.set_inner(RedemptionRequest {
            pool: pool_key,
            lender,
            tranche,
            shares: 0,
            epoch_id: epoch,
            payable: 0,
            bump: request_bump,
        });
    }
    // Shares from an earlier epoch must be settled first (redeem_withdraw).
    require!(
        request.shares == 0 || request.epoch_id == epoch,
        CreditError::RedemptionNotSettled
    );
    request.epoch_id = epoch;
    request.shares = if cancel {
        sub(request.shares, shares).map_err(|_| error!(CreditError::CancelExceedsRequest))?
    } else {
        add(request.shares, shares)?
    };
    let waiting = request.shares;
    let pool = &mut ctx.accounts.pool;
    let income = accrue_pool(pool, pool_key, lender, now)?;
    let pending = if cancel {
        sub(pool.pending(tranche), shares)?
    } else {
        add(pool.pending(tranche), shares)?
    };
    pool.set_pending(tranche, pending);
    pool.invariant()?;
    if let Some(e) = income {
        emit_cpi!(e);
    }
    let seq = pool.next_seq()?;
    emit_cpi!(RedemptionRequested {
        header: EventHeader::new(pool_key, seq, lender, now),
        lender,
        tranche,
        shares,
        cancelled: cancel,
        waiting,
        pending,
    });
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, lender, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    if cancel {
        transfer_out(
            &a.pool,
            &a.pool.to_account_info(),
            &a.token_program.to_account_info(),
            &a.escrow.to_account_info(),
            &a.share_mint.to_account_info(),
            &a.lender_shares.to_account_info(),
            shares,
        )
    } else {
        transfer_in(
            &a.token_program.to_account_info(),
            &a.lender_shares.to_account_info(),
            &a.share_mint.to_account_info(),
            &a.escrow.to_account_info(),
            &a.lender.to_account_info(),
            shares,
            a.pool.decimals,
        )
    }
}

#[event_cpi]
#[derive(Accounts)]
pub struct EpochClose<'info> {
    #[account(mut)]
    pub caller: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        init,
        payer = caller,
        space = 8 + EpochRecord::INIT_SPACE,
        seeds = [EPOCH_SEED, pool.key().as_ref(), &[Tranche::Senior.seed()], &pool.epoch_id.to_le_bytes()],
        bump,
    )]
    pub senior_record: Box<Account<'info, EpochRecord>>,
    #[account(
        init,
        payer = caller,
        space = 8 + EpochRecord::INIT_SPACE,
        seeds = [EPOCH_SEED, pool.key().as_ref(), &[Tranche::Junior.seed()], &pool.epoch_id.to_le_bytes()],
        bump,
    )]
    pub junior_record: Box<Account<'info, EpochRecord>>,
    #[account(mut, address = pool.senior_mint)]
    pub senior_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, address = pool.junior_mint)]
    pub junior_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[Tranche::Senior.seed()]], bump)]
    pub senior_escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[Tranche::Junior.seed()]], bump)]
    pub junior_escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

/// Anyone ends the current epoch once its time has come.
pub fn epoch_close(ctx: Context<EpochClose>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.caller.key();
    let pool_key = ctx.accounts.pool.key();
    require!(
        now >= ctx.accounts.pool.epoch_end,
        CreditError::EpochNotEnded
    );
    let (senior_supply, junior_supply) = (
        ctx.accounts.senior_mint.supply,
        ctx.accounts.junior_mint.supply,
    );
    let (senior_bump, junior_bump) = (ctx.bumps.senior_record, ctx.bumps.junior_record);
    let pool = &mut ctx.accounts.pool;
    let income = accrue_pool(pool, pool_key, actor, now)?;
    let epoch = pool.epoch_id;
    // Senior first, from the cash nobody else is owed.
    let cash = pool.available_cash()?;
    let senior_requested = pool.pending_senior;
    let (senior_served, senior_paid) =
        serve(senior_requested, pool.senior_value, senior_supply, cash)?;
    pool.senior_value = sub(pool.senior_value, senior_paid)?;
    // Junior with what is left, never below what the senior cap needs.
    let cash = sub(cash, senior_paid)?;
    let limit = junior_redeemable(pool.senior_value, pool.junior_value, pool.senior_cap_bps)?;
    let junior_requested = pool.pending_junior;
    let (junior_served, junior_paid) = serve(
        junior_requested,
        pool.junior_value,
        junior_supply,
        cash.min(limit),
    )?;
    pool.junior_value = sub(pool.junior_value, junior_paid)?;
    pool.redemption_payable = add(pool.redemption_payable, add(senior_paid, junior_paid)?)?;
    pool.pending_senior = sub(senior_requested, senior_served)?;
    pool.pending_junior = sub(junior_requested, junior_served)?;
    // The next epoch ends one period after this one (or after now, if several were missed).
    let periods = now
        .checked_sub(pool.epoch_end)
        .and_then(|late| late.checked_div(pool.epoch_seconds))
        .and_then(|n| n.checked_add(1))
        .ok_or(CreditError::ArithmeticOverflow)?;
    pool.epoch_end = periods
        .checked_mul(pool.epoch_seconds)
        .and_then(|d| pool.epoch_end.checked_add(d))
        .ok_or(CreditError::ArithmeticOverflow)?;
    pool.epoch_id = epoch
        .checked_add(1)
        .ok_or(CreditError::ArithmeticOverflow)?;
    pool.invariant()?;
    ctx.accounts.senior_record.set_inner(EpochRecord {
        pool: pool_key,
        tranche: Tranche::Senior,
        epoch_id: epoch,
        requested: senior_requested,
        served: senior_served,
        paid: senior_paid,
        bump: senior_bump,
    });
    ctx.accounts.junior_record.set_inner(EpochRecord {
        pool: pool_key,
        tranche: Tranche::Junior,
        epoch_id: epoch,
        requested: junior_requested,
        served: junior_served,
        paid: junior_paid,
        bump: junior_bump,
    });
    if let Some(e) = income {
        emit_cpi!(e);
    }
    for (tranche, requested, served, paid) in [
        (
            Tranche::Senior,
            senior_requested,
            senior_served,
            senior_paid,
        ),
        (
            Tranche::Junior,
            junior_requested,
            junior_served,
            junior_paid,
        ),
    ] {
        let pool = &mut ctx.accounts.pool;
        let tranche_value = pool.tranche_value(tranche);
        let seq = pool.next_seq()?;
        emit_cpi!(EpochClosed {
            header: EventHeader::new(pool_key, seq, actor, now),
            epoch_id: epoch,
            tranche,
            requested,
            served,
            paid,
            tranche_value,
        });
    }
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, actor, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    let pool_info = a.pool.to_account_info();
    let token_program = a.token_program.to_account_info();
    burn_shares(
        &a.pool,
        &pool_info,
        &token_program,
        &a.senior_mint.to_account_info(),
        &a.senior_escrow.to_account_info(),
        senior_served,
    )?;
    burn_shares(
        &a.pool,
        &pool_info,
        &token_program,
        &a.junior_mint.to_account_info(),
        &a.junior_escrow.to_account_info(),
        junior_served,
    )
}

#[event_cpi]
#[derive(Accounts)]
pub struct RedeemWithdraw<'info> {
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
    pub request: Box<Account<'info, RedemptionRequest>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = mint, token::authority = lender)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

/// Settles the request's share of each closed epoch, passed in order as remaining accounts
/// (`EpochRecord`s from the request's epoch on), and pays out what was served.
pub fn redeem_withdraw<'info>(ctx: Context<'info, RedeemWithdraw<'info>>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let lender = ctx.accounts.lender.key();
    let pool_key = ctx.accounts.pool.key();
    let current = ctx.accounts.pool.epoch_id;
    let request = &mut ctx.accounts.request;
    for info in ctx.remaining_accounts {
        if request.epoch_id >= current {
            break;
        }
        require_keys_eq!(*info.owner, crate::ID, CreditError::EpochRecordMismatch);
        let data = info.try_borrow_data()?;
        let record = EpochRecord::try_deserialize(&mut &data[..])?;
        require!(
            record.pool == pool_key && record.tranche == request.tranche,
            CreditError::EpochRecordMismatch
        );
        // Records of epochs already settled are skipped; a gap is refused.
        if record.epoch_id < request.epoch_id {
            continue;
        }
        require!(
            record.epoch_id == request.epoch_id,
            CreditError::EpochRecordMismatch
        );
        if record.requested > 0 {
            let served = mul_div_floor(request.shares, record.served, record.requested)?;
            let paid = mul_div_floor(request.shares, record.paid, record.requested)?;
            request.shares = sub(request.shares, served)?;
            request.payable = add(request.payable, paid)?;
        }
        request.epoch_id = request
            .epoch_id
            .checked_add(1)
            .ok_or(CreditError::ArithmeticOverflow)?;
    }
    if request.shares == 0 {
        request.epoch_id = current;
    }
    let amount = std::mem::take(&mut request.payable);
    let (tranche, waiting) = (request.tranche, request.shares);
    require!(amount > 0, CreditError::NothingToWithdraw);
    let pool = &mut ctx.accounts.pool;
    if let Some(e) = accrue_pool(pool, pool_key, lender, now)? {
        emit_cpi!(e);
    }
    pool.redemption_payable = sub(pool.redemption_payable, amount)?;
    pool.cash = sub(pool.cash, amount)?;
    pool.invariant()?;
    let seq = pool.next_seq()?;
    emit_cpi!(RedemptionWithdrawn {
        header: EventHeader::new(pool_key, seq, lender, now),
        lender,
        tranche,
        amount,
        waiting,
    });
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, lender, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    transfer_out(
        &a.pool,
        &a.pool.to_account_info(),
        &a.token_program.to_account_info(),
        &a.vault.to_account_info(),
        &a.mint.to_account_info(),
        &a.destination.to_account_info(),
        amount,
    )
}
