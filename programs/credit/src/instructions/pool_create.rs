use crate::{constants::*, error::CreditError, events::*, math::BPS, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenInterface};
use kassa_common::create::Creator;
use kassa_common::mint_policy::{has_transfer_fee, unsafe_mint_extension};
use kassa_payments::{constants::CONFIG_SEED, state::Config};

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct PoolCreateArgs {
    pub underwriter: Pubkey,
    pub protocol_fee_receiver: Pubkey,
    /// Senior value may be at most junior value × this / 10,000.
    pub senior_cap_bps: u32,
    /// The senior tranche's target yield, APR in bps.
    pub senior_apr_bps: u16,
    pub protocol_fee_bps: u16,
    pub admin_fee_bps: u16,
    /// Deposits need an allowlist entry.
    pub allowlist: bool,
    /// Redemptions are served at the end of each epoch of this many seconds.
    pub epoch_seconds: i64,
    /// Policy: the largest limit the underwriter may give a line.
    pub max_line_limit: u64,
    /// Policy: at most this many lines may owe the pool at once (at most 16).
    pub max_active_lines: u8,
}

/// The payments protocol's admin creates the credit pool of a stablecoin, one per mint, with
/// its vault, the two share mints and their redemption escrows.
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
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [POOL_SEED, mint.key().as_ref()], bump)]
    pub pool: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [VAULT_SEED, pool.key().as_ref()], bump)]
    pub vault: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [SENIOR_SEED, pool.key().as_ref()], bump)]
    pub senior_mint: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [JUNIOR_SEED, pool.key().as_ref()], bump)]
    pub junior_mint: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[Tranche::Senior.seed()]], bump)]
    pub senior_escrow: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[Tranche::Junior.seed()]], bump)]
    pub junior_escrow: UncheckedAccount<'info>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

impl PoolCreate<'_> {
    pub fn validate(&self, args: &PoolCreateArgs) -> Result<()> {
        // The mint: nothing may move, freeze or tax the pool's cash behind its books.
        let mint = self.mint.to_account_info();
        require!(
            unsafe_mint_extension(&mint)?.is_none() && !has_transfer_fee(&mint)?,
            CreditError::UnsupportedMint
        );
        // Fees: together at most MAX_FEE_BPS of income.
        require!(
            args.protocol_fee_bps.saturating_add(args.admin_fee_bps) <= MAX_FEE_BPS,
            CreditError::FeeTooHigh
        );
        // Tranches and epochs.
        require!(
            args.senior_cap_bps <= MAX_SENIOR_CAP_BPS
                && u64::from(args.senior_apr_bps) <= BPS
                && args.epoch_seconds > 0,
            CreditError::InvalidPoolParams
        );
        require!(
            args.max_active_lines <= MAX_ACTIVE_LINES,
            CreditError::InvalidPoolPolicy
        );
        Ok(())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<PoolCreate>, args: PoolCreateArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let admin = ctx.accounts.admin.key();
    let pool_key = ctx.accounts.pool.key();
    let mint_key = ctx.accounts.mint.key();
    let mut pool = CreditPool {
        admin,
        underwriter: args.underwriter,
        protocol_fee_receiver: args.protocol_fee_receiver,
        mint: mint_key,
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
        senior_shares: 0,
        junior_shares: 0,
        max_line_limit: args.max_line_limit,
        max_active_lines: args.max_active_lines,
        active_lines: 0,
        paused: false,
        written_off_senior: 0,
        written_off_junior: 0,
        reserved: [0; 21],
    };
    pool.invariant()?;
    let seq = pool.next_seq()?;
    let a = &ctx.accounts;
    let create = Creator {
        payer: &a.admin.to_account_info(),
        system_program: &a.system_program.to_account_info(),
    };
    let (pool_info, token_program) = (a.pool.to_account_info(), a.token_program.to_account_info());
    create.create_state(
        &pool_info,
        8 + CreditPool::INIT_SPACE,
        &[POOL_SEED, mint_key.as_ref(), &[pool.bump]],
        &pool,
    )?;
    create.create_token_account(
        &a.vault.to_account_info(),
        &[VAULT_SEED, pool_key.as_ref(), &[pool.vault_bump]],
        &a.mint.to_account_info(),
        &pool_info,
        &token_program,
    )?;
    for (share_mint, seed, bump) in [
        (&a.senior_mint, SENIOR_SEED, ctx.bumps.senior_mint),
        (&a.junior_mint, JUNIOR_SEED, ctx.bumps.junior_mint),
    ] {
        create.create_mint(
            &share_mint.to_account_info(),
            &[seed, pool_key.as_ref(), &[bump]],
            pool.decimals,
            &pool_key,
            &token_program,
        )?;
    }
    for (escrow, share_mint, tranche, bump) in [
        (
            &a.senior_escrow,
            &a.senior_mint,
            Tranche::Senior,
            ctx.bumps.senior_escrow,
        ),
        (
            &a.junior_escrow,
            &a.junior_mint,
            Tranche::Junior,
            ctx.bumps.junior_escrow,
        ),
    ] {
        create.create_token_account(
            &escrow.to_account_info(),
            &[
                SHARE_ESCROW_SEED,
                pool_key.as_ref(),
                &[tranche.seed()],
                &[bump],
            ],
            &share_mint.to_account_info(),
            &pool_info,
            &token_program,
        )?;
    }
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
        protocol_fee_receiver: pool.protocol_fee_receiver,
        max_line_limit: pool.max_line_limit,
        max_active_lines: pool.max_active_lines,
    });
    Ok(())
}
