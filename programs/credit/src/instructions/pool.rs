//! Pool creation (by the payments protocol admin), the lender allowlist, the interest crank
//! and fee withdrawal.

use super::common::*;
use crate::{error::CreditError, events::*, math::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_payments::{constants::CONFIG_SEED, state::Config};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct PoolCreateArgs {
    pub underwriter: Pubkey,
    pub protocol_fee_receiver: Pubkey,
    pub senior_cap_bps: u32,
    pub senior_apr_bps: u16,
    pub protocol_fee_bps: u16,
    pub admin_fee_bps: u16,
    pub allowlist: bool,
    /// Redemptions are served at the end of each epoch of this many seconds.
    pub epoch_seconds: i64,
}

/// The payments protocol's admin creates the credit pool of a stablecoin, one per mint.
#[event_cpi]
#[derive(Accounts)]
pub struct PoolCreate<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(
        seeds = [CONFIG_SEED],
        bump = payments_config.bump,
        seeds::program = kassa_payments::ID,
        constraint = payments_config.admin == admin.key() @ CreditError::NotPoolAdmin,
    )]
    pub payments_config: Box<Account<'info, Config>>,
    #[account(mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        init,
        payer = admin,
        space = 8 + CreditPool::INIT_SPACE,
        seeds = [POOL_SEED, mint.key().as_ref()],
        bump,
    )]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        init,
        payer = admin,
        seeds = [VAULT_SEED, pool.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = pool,
        token::token_program = token_program,
    )]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        init,
        payer = admin,
        seeds = [SENIOR_SEED, pool.key().as_ref()],
        bump,
        mint::decimals = mint.decimals,
        mint::authority = pool,
        mint::token_program = token_program,
    )]
    pub senior_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        init,
        payer = admin,
        seeds = [JUNIOR_SEED, pool.key().as_ref()],
        bump,
        mint::decimals = mint.decimals,
        mint::authority = pool,
        mint::token_program = token_program,
    )]
    pub junior_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(
        init,
        payer = admin,
        seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[Tranche::Senior.seed()]],
        bump,
        token::mint = senior_mint,
        token::authority = pool,
        token::token_program = token_program,
    )]
    pub senior_escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        init,
        payer = admin,
        seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[Tranche::Junior.seed()]],
        bump,
        token::mint = junior_mint,
        token::authority = pool,
        token::token_program = token_program,
    )]
    pub junior_escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn pool_create(ctx: Context<PoolCreate>, args: PoolCreateArgs) -> Result<()> {
    require_supported_mint(&ctx.accounts.mint.to_account_info())?;
    require!(
        args.protocol_fee_bps.saturating_add(args.admin_fee_bps) <= MAX_FEE_BPS,
        CreditError::FeeTooHigh
    );
    require!(
        args.senior_cap_bps <= MAX_SENIOR_CAP_BPS
            && u64::from(args.senior_apr_bps) <= BPS
            && args.epoch_seconds > 0,
        CreditError::InvalidPoolParams
    );
    let now = Clock::get()?.unix_timestamp;
    let admin = ctx.accounts.admin.key();
    let pool_key = ctx.accounts.pool.key();
    let pool = &mut ctx.accounts.pool;
    pool.set_inner(CreditPool {
        admin,
        underwriter: args.underwriter,
        protocol_fee_receiver: args.protocol_fee_receiver,
        mint: ctx.accounts.mint.key(),
        vault: ctx.accounts.vault.key(),
        senior_mint: ctx.accounts.senior_mint.key(),
        junior_mint: ctx.accounts.junior_mint.key(),
        decimals: ctx.accounts.mint.decimals,
        senior_cap_bps: args.senior_cap_bps,
        senior_apr_bps: args.senior_apr_bps,
        protocol_fee_bps: args.protocol_fee_bps,
        admin_fee_bps: args.admin_fee_bps,
        allowlist: args.allowlist,
        cash: 0,
        principal: 0,
        rate_raw: 0,
        accrued_raw: 0,
        recognized: 0,
        received: 0,
        prepaid: 0,
        impaired_senior: 0,
        impaired_junior: 0,
        senior_value: 0,
        junior_value: 0,
        protocol_fees: 0,
        admin_fees: 0,
        losses: 0,
        epoch_seconds: args.epoch_seconds,
        epoch_id: 0,
        epoch_end: now.saturating_add(args.epoch_seconds),
        pending_senior: 0,
        pending_junior: 0,
        redemption_payable: 0,
        last_accrual: now,
        seq: 0,
        bump: ctx.bumps.pool,
        vault_bump: ctx.bumps.vault,
        reserved: [0; 64],
    });
    pool.invariant()?;
    let seq = pool.next_seq()?;
    emit_cpi!(PoolCreated {
        header: EventHeader::new(pool_key, seq, admin, now),
        mint: pool.mint,
        vault: pool.vault,
        senior_mint: pool.senior_mint,
        junior_mint: pool.junior_mint,
        admin,
        underwriter: pool.underwriter,
        senior_cap_bps: pool.senior_cap_bps,
        senior_apr_bps: pool.senior_apr_bps,
        protocol_fee_bps: pool.protocol_fee_bps,
        admin_fee_bps: pool.admin_fee_bps,
        allowlist: pool.allowlist,
        epoch_seconds: pool.epoch_seconds,
    });
    Ok(())
}

/// The pool admin allows a lender (a KYC pass recorded on chain).
#[event_cpi]
#[derive(Accounts)]
pub struct AllowAdd<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ CreditError::NotPoolAdmin)]
    pub pool: Box<Account<'info, CreditPool>>,
    /// CHECK: any wallet.
    pub lender: UncheckedAccount<'info>,
    #[account(
        init,
        payer = admin,
        space = 8 + LenderAllow::INIT_SPACE,
        seeds = [ALLOW_SEED, pool.key().as_ref(), lender.key().as_ref()],
        bump,
    )]
    pub allow: Box<Account<'info, LenderAllow>>,
    pub system_program: Program<'info, System>,
}

pub fn allow_add(ctx: Context<AllowAdd>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let (pool_key, lender) = (ctx.accounts.pool.key(), ctx.accounts.lender.key());
    ctx.accounts.allow.set_inner(LenderAllow {
        pool: pool_key,
        lender,
        bump: ctx.bumps.allow,
    });
    let seq = ctx.accounts.pool.next_seq()?;
    emit_cpi!(LenderAllowlisted {
        header: EventHeader::new(pool_key, seq, ctx.accounts.admin.key(), now),
        lender,
        allowed: true,
    });
    Ok(())
}

/// The pool admin removes a lender; positions already held stay.
#[event_cpi]
#[derive(Accounts)]
pub struct AllowRemove<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(mut, has_one = admin @ CreditError::NotPoolAdmin)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        close = admin,
        has_one = pool,
        seeds = [ALLOW_SEED, pool.key().as_ref(), allow.lender.as_ref()],
        bump = allow.bump,
    )]
    pub allow: Box<Account<'info, LenderAllow>>,
}

pub fn allow_remove(ctx: Context<AllowRemove>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let pool_key = ctx.accounts.pool.key();
    let lender = ctx.accounts.allow.lender;
    let seq = ctx.accounts.pool.next_seq()?;
    emit_cpi!(LenderAllowlisted {
        header: EventHeader::new(pool_key, seq, ctx.accounts.admin.key(), now),
        lender,
        allowed: false,
    });
    Ok(())
}

/// Anyone recognises the interest accrued so far (share prices are always current anyway:
/// every instruction that reads them accrues first).
#[event_cpi]
#[derive(Accounts)]
pub struct PoolAccrue<'info> {
    pub caller: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
}

pub fn pool_accrue(ctx: Context<PoolAccrue>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.caller.key();
    let pool_key = ctx.accounts.pool.key();
    let pool = &mut ctx.accounts.pool;
    pool.invariant()?;
    if let Some(event) = accrue_pool(pool, pool_key, actor, now)? {
        pool.invariant()?;
        emit_cpi!(event);
        let balances = balances_event(pool, pool_key, actor, now)?;
        emit_cpi!(balances);
    }
    Ok(())
}

/// The protocol fee receiver, or the pool admin, withdraws the fees payable to it. What was
/// withdrawn is no longer payable: a second call has nothing to take.
#[event_cpi]
#[derive(Accounts)]
pub struct FeesWithdraw<'info> {
    pub recipient: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = mint, token::authority = recipient)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

pub fn fees_withdraw(ctx: Context<FeesWithdraw>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let recipient = ctx.accounts.recipient.key();
    let pool_key = ctx.accounts.pool.key();
    let pool = &mut ctx.accounts.pool;
    let accrued = accrue_pool(pool, pool_key, recipient, now)?;
    let amount = if recipient == pool.protocol_fee_receiver {
        std::mem::take(&mut pool.protocol_fees)
    } else if recipient == pool.admin {
        std::mem::take(&mut pool.admin_fees)
    } else {
        return err!(CreditError::NotFeeReceiver);
    };
    require!(amount > 0, CreditError::NothingToWithdraw);
    pool.cash = sub(pool.cash, amount)?;
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
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, recipient, now)?;
    emit_cpi!(balances);
    let pool_info = ctx.accounts.pool.to_account_info();
    transfer_out(
        &ctx.accounts.pool,
        &pool_info,
        &ctx.accounts.token_program.to_account_info(),
        &ctx.accounts.vault.to_account_info(),
        &ctx.accounts.mint.to_account_info(),
        &ctx.accounts.destination.to_account_info(),
        amount,
    )
}
