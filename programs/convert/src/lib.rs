//! kassa_convert: StableSwap pools for pairs of stablecoins that implement the Kassa
//! conversion-hook interface, so a payer holding one stablecoin can pay an invoice in another.
//! See `docs/conversion-hooks.md` for the interface, the math and the fees.
#![allow(unexpected_cfgs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use anchor_lang::prelude::*;

pub mod constants;
pub mod error;
pub mod events;
pub mod instructions;
pub mod math;
pub mod state;
pub mod token;

use instructions::*;
use kassa_hook_interface::BuyExactOutArgs;

declare_id!("KassaCnvJEZXiZRbywinsa7efsLKzwXtSy9XFZC4rAE");

#[program]
pub mod kassa_convert {
    use super::*;

    /// Creates a pool for two mints (sorted), its vaults and its LP mint.
    pub fn pool_create(ctx: Context<PoolCreate>, args: PoolCreateArgs) -> Result<()> {
        pool_create::handler(ctx, args)
    }

    /// Deposits either or both coins for at least `min_lp` LP tokens.
    pub fn pool_add_liquidity(
        ctx: Context<PoolAddLiquidity>,
        amount_a: u64,
        amount_b: u64,
        min_lp: u64,
    ) -> Result<()> {
        pool_add_liquidity::handler(ctx, amount_a, amount_b, min_lp)
    }

    /// Burns LP tokens for a proportional share of both coins, at least the minimums.
    pub fn pool_remove_liquidity(
        ctx: Context<PoolRemoveLiquidity>,
        lp_amount: u64,
        min_a: u64,
        min_b: u64,
    ) -> Result<()> {
        pool_remove_liquidity::handler(ctx, lp_amount, min_a, min_b)
    }

    /// Swaps exactly `amount_in` for at least `min_out`.
    pub fn pool_swap_exact_in(
        ctx: Context<PoolSwap>,
        a_to_b: bool,
        amount_in: u64,
        min_out: u64,
    ) -> Result<()> {
        pool_swap::swap(ctx, a_to_b, events::SwapKind::ExactIn, amount_in, min_out)
    }

    /// Swaps at most `max_in` for exactly `amount_out`.
    pub fn pool_swap_exact_out(
        ctx: Context<PoolSwap>,
        a_to_b: bool,
        amount_out: u64,
        max_in: u64,
    ) -> Result<()> {
        pool_swap::swap(ctx, a_to_b, events::SwapKind::ExactOut, amount_out, max_in)
    }

    /// The conversion hook: buys exactly `amount_out` into `destination`, spending at most
    /// `max_in` (interface discriminator, fixed account order).
    #[instruction(discriminator = &kassa_hook_interface::BUY_EXACT_OUT_DISCRIMINATOR)]
    pub fn hook_buy_exact_out(ctx: Context<HookBuyExactOut>, args: BuyExactOutArgs) -> Result<()> {
        hook_buy_exact_out::handler(ctx, args)
    }

    /// The admin ramps the amplification linearly to `target_amp` by `stop`.
    pub fn pool_ramp_amp(ctx: Context<PoolAdmin>, target_amp: u64, stop: i64) -> Result<()> {
        pool_ramp_amp::handler(ctx, target_amp, stop)
    }

    /// The admin stops a ramp at the current amplification.
    pub fn pool_stop_ramp(ctx: Context<PoolAdmin>) -> Result<()> {
        pool_stop_ramp::handler(ctx)
    }

    /// The admin pauses, resumes or changes fees.
    pub fn pool_update_settings(ctx: Context<PoolAdmin>, args: PoolSettingsArgs) -> Result<()> {
        pool_update_settings::handler(ctx, args)
    }

    /// Anyone sweeps accrued protocol fees to the fee receiver.
    pub fn pool_withdraw_protocol_fees(ctx: Context<PoolWithdrawProtocolFees>) -> Result<()> {
        pool_withdraw_protocol_fees::handler(ctx)
    }
}
