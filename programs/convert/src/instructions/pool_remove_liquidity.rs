use super::pool_accounts::*;
use crate::{error::*, events::*, math::stableswap::withdraw};
use anchor_lang::prelude::*;
use anchor_spl::{
    token::Token,
    token_interface::{self, Burn, Mint, TokenAccount},
};
use kassa_common::SafeMath;

/// A liquidity provider burns LP tokens for its proportional share of both reserves, at least
/// the given minimums. Always allowed, even while the pool is paused.
#[event_cpi]
#[derive(Accounts)]
pub struct PoolRemoveLiquidity<'info> {
    pub provider: Signer<'info>,
    pub pool: PoolAccounts<'info>,
    #[account(mut, address = pool.pool.lp_mint)]
    pub lp_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = pool.mint_a)]
    pub provider_a: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, token::mint = pool.mint_b)]
    pub provider_b: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, token::mint = lp_mint, token::authority = provider)]
    pub provider_lp: Box<InterfaceAccount<'info, TokenAccount>>,
    pub lp_token_program: Program<'info, Token>,
}

pub fn handler(
    ctx: Context<PoolRemoveLiquidity>,
    lp_amount: u64,
    min_a: u64,
    min_b: u64,
) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let supply = a.pool.pool.lp_supply;
    let (out_a, out_b) = withdraw(
        a.pool.pool.reserve_a,
        a.pool.pool.reserve_b,
        lp_amount,
        supply,
    )
    .or_err()?;
    require!(
        out_a >= min_a && out_b >= min_b,
        ConvertError::MinimumWithdrawalNotMet
    );
    token_interface::burn(
        CpiContext::new(
            a.lp_token_program.key(),
            Burn {
                mint: a.lp_mint.to_account_info(),
                from: a.provider_lp.to_account_info(),
                authority: a.provider.to_account_info(),
            },
        ),
        lp_amount,
    )?;
    a.pool.pay_both(
        &a.provider_a.to_account_info(),
        out_a,
        &a.provider_b.to_account_info(),
        out_b,
    )?;

    let actor = a.provider.key();
    let pool = &mut ctx.accounts.pool.pool;
    pool.reserve_a = pool.reserve_a.safe_sub(out_a)?;
    pool.reserve_b = pool.reserve_b.safe_sub(out_b)?;
    pool.lp_supply = pool.lp_supply.safe_sub(lp_amount)?;
    let seq = pool.next_seq()?;
    let (pool_key, reserve_a, reserve_b, lp_supply) =
        (pool.key(), pool.reserve_a, pool.reserve_b, pool.lp_supply);
    ctx.accounts.pool.check_invariant()?;
    emit_cpi!(LiquidityRemoved {
        header: EventHeader::new(pool_key, seq, actor, now),
        amount_a: out_a,
        amount_b: out_b,
        lp_burned: lp_amount,
        reserve_a,
        reserve_b,
        lp_supply,
    });
    Ok(())
}
