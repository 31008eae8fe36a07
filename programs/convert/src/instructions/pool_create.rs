use crate::{
    constants::*, error::ConvertError, events::*, state::Pool, token::require_supported_mint,
};
use anchor_lang::prelude::*;
use anchor_spl::{
    token::Token,
    token_interface::{Mint, TokenInterface},
};
use kassa_common::create::Creator;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug)]
pub struct PoolCreateArgs {
    pub amp: u64,
    /// Basis points of the output, at most [`MAX_TRADE_FEE_BPS`].
    pub trade_fee_bps: u16,
    /// Basis points of the fee that go to the protocol.
    pub protocol_share_bps: u16,
    /// Wallet whose token accounts receive the protocol's fees.
    pub fee_receiver: Pubkey,
}

/// Creates a pool for a pair of mints with its two vaults and its LP mint (SPL Token, with the
/// decimals of the more precise coin). The creator becomes the pool admin.
#[event_cpi]
#[derive(Accounts)]
pub struct PoolCreate<'info> {
    #[account(mut)]
    pub admin: Signer<'info>,
    #[account(mint::token_program = token_program_a)]
    pub mint_a: Box<InterfaceAccount<'info, Mint>>,
    #[account(mint::token_program = token_program_b)]
    pub mint_b: Box<InterfaceAccount<'info, Mint>>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [POOL_SEED, mint_a.key().as_ref(), mint_b.key().as_ref()], bump)]
    pub pool: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [VAULT_SEED, pool.key().as_ref(), mint_a.key().as_ref()], bump)]
    pub vault_a: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [VAULT_SEED, pool.key().as_ref(), mint_b.key().as_ref()], bump)]
    pub vault_b: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(mut, seeds = [LP_MINT_SEED, pool.key().as_ref()], bump)]
    pub lp_mint: UncheckedAccount<'info>,
    pub token_program_a: Interface<'info, TokenInterface>,
    pub token_program_b: Interface<'info, TokenInterface>,
    pub lp_token_program: Program<'info, Token>,
    pub system_program: Program<'info, System>,
}

impl PoolCreate<'_> {
    pub fn validate(&self, args: &PoolCreateArgs) -> Result<()> {
        let (a, b) = (self.mint_a.key(), self.mint_b.key());
        require_keys_neq!(a, b, ConvertError::IdenticalMints);
        // One pool per pair: the mints come in byte order.
        require!(a < b, ConvertError::MintsNotSorted);
        require!(
            self.mint_a.decimals.abs_diff(self.mint_b.decimals) <= MAX_DECIMALS_DIFFERENCE,
            ConvertError::DecimalsTooFarApart
        );
        require!(
            (MIN_AMP..=MAX_AMP).contains(&args.amp),
            ConvertError::AmpOutOfBounds
        );
        require!(
            args.trade_fee_bps <= MAX_TRADE_FEE_BPS
                && args.protocol_share_bps <= MAX_PROTOCOL_SHARE_BPS,
            ConvertError::FeeOutOfBounds
        );
        require_supported_mint(&self.mint_a.to_account_info())?;
        require_supported_mint(&self.mint_b.to_account_info())
    }
}

#[access_control(ctx.accounts.validate(&args))]
pub fn handler(ctx: Context<PoolCreate>, args: PoolCreateArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let admin = ctx.accounts.admin.key();
    let (mint_a, mint_b) = (ctx.accounts.mint_a.key(), ctx.accounts.mint_b.key());
    let (decimals_a, decimals_b) = (ctx.accounts.mint_a.decimals, ctx.accounts.mint_b.decimals);
    let (vault_a, vault_b, lp_mint) = (
        ctx.accounts.vault_a.key(),
        ctx.accounts.vault_b.key(),
        ctx.accounts.lp_mint.key(),
    );
    let pool_key = ctx.accounts.pool.key();
    let mut pool = Pool {
        admin,
        fee_receiver: args.fee_receiver,
        mint_a,
        mint_b,
        vault_a,
        vault_b,
        lp_mint,
        decimals_a,
        decimals_b,
        reserve_a: 0,
        reserve_b: 0,
        protocol_fees_a: 0,
        protocol_fees_b: 0,
        initial_amp: args.amp,
        target_amp: args.amp,
        // No ramp yet: the first one may start at once.
        ramp_start: now.saturating_sub(MIN_RAMP_DURATION),
        ramp_stop: now.saturating_sub(MIN_RAMP_DURATION),
        trade_fee_bps: args.trade_fee_bps,
        protocol_share_bps: args.protocol_share_bps,
        paused: false,
        seq: 0,
        bump: ctx.bumps.pool,
        lp_supply: 0,
        reserved: [0; 56],
    };
    pool.invariant(0, 0)?;
    let seq = pool.next_seq()?;
    let a = &ctx.accounts;
    let create = Creator {
        payer: &a.admin.to_account_info(),
        system_program: &a.system_program.to_account_info(),
    };
    let pool_info = a.pool.to_account_info();
    create.create_state(
        &pool_info,
        8 + Pool::INIT_SPACE,
        &[POOL_SEED, mint_a.as_ref(), mint_b.as_ref(), &[pool.bump]],
        &pool,
    )?;
    for (vault, mint, token_program, bump) in [
        (&a.vault_a, &a.mint_a, &a.token_program_a, ctx.bumps.vault_a),
        (&a.vault_b, &a.mint_b, &a.token_program_b, ctx.bumps.vault_b),
    ] {
        let mint_key = mint.key();
        create.create_token_account(
            &vault.to_account_info(),
            &[VAULT_SEED, pool_key.as_ref(), mint_key.as_ref(), &[bump]],
            &mint.to_account_info(),
            &pool_info,
            &token_program.to_account_info(),
        )?;
    }
    create.create_mint(
        &a.lp_mint.to_account_info(),
        &[LP_MINT_SEED, pool_key.as_ref(), &[ctx.bumps.lp_mint]],
        decimals_a.max(decimals_b),
        &pool_key,
        &a.lp_token_program.to_account_info(),
    )?;
    let header = EventHeader::new(pool_key, seq, admin, now);
    emit_cpi!(PoolCreated {
        header,
        mint_a,
        mint_b,
        lp_mint,
        amp: args.amp,
        trade_fee_bps: args.trade_fee_bps,
        protocol_share_bps: args.protocol_share_bps,
    });
    Ok(())
}
