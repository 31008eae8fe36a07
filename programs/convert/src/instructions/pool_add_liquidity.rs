use super::pool_accounts::*;
use crate::{error::*, events::*, math::stableswap::deposit, token::transfer_in};
use anchor_lang::prelude::*;
use anchor_spl::{
    token::Token,
    token_interface::{self, Mint, MintTo, TokenAccount},
};
use kassa_common::SafeMath;

/// A liquidity provider deposits either or both coins and receives LP tokens, at least
/// `min_lp`. Amounts are what the vaults actually received.
#[event_cpi]
#[derive(Accounts)]
pub struct PoolAddLiquidity<'info> {
    pub provider: Signer<'info>,
    pub pool: PoolAccounts<'info>,
    #[account(mut, address = pool.pool.lp_mint)]
    pub lp_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = pool.mint_a, token::authority = provider)]
    pub provider_a: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, token::mint = pool.mint_b, token::authority = provider)]
    pub provider_b: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, token::mint = lp_mint, token::authority = provider)]
    pub provider_lp: Box<InterfaceAccount<'info, TokenAccount>>,
    pub lp_token_program: Program<'info, Token>,
}

pub fn handler(
    ctx: Context<PoolAddLiquidity>,
    amount_a: u64,
    amount_b: u64,
    min_lp: u64,
) -> Result<()> {
    ctx.accounts.pool.require_active()?;
    require!(amount_a > 0 || amount_b > 0, ConvertError::ZeroAmount);
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let provider = a.provider.to_account_info();
    let received_a = if amount_a > 0 {
        transfer_in(
            &a.pool.token_program_a.to_account_info(),
            &a.provider_a.to_account_info(),
            &a.pool.mint_a.to_account_info(),
            &a.pool.vault_a.to_account_info(),
            &provider,
            amount_a,
            a.pool.mint_a.decimals,
        )?
    } else {
        0
    };
    let received_b = if amount_b > 0 {
        transfer_in(
            &a.pool.token_program_b.to_account_info(),
            &a.provider_b.to_account_info(),
            &a.pool.mint_b.to_account_info(),
            &a.pool.vault_b.to_account_info(),
            &provider,
            amount_b,
            a.pool.mint_b.decimals,
        )?
    } else {
        0
    };
    let pool = &a.pool.pool;
    let (ma, mb) = pool.mults();
    let supply = pool.lp_supply;
    let dep = deposit(
        pool.amp(now),
        ma,
        mb,
        pool.trade_fee_bps,
        pool.reserve_a,
        pool.reserve_b,
        received_a,
        received_b,
        supply,
    )
    .or_err()?;
    require!(
        dep.lp >= min_lp && dep.lp > 0,
        ConvertError::MinimumLpNotMet
    );

    let pool_key = pool.key();
    let seeds: &[&[u8]] = &[
        crate::constants::POOL_SEED,
        pool.mint_a.as_ref(),
        pool.mint_b.as_ref(),
        &[pool.bump],
    ];
    token_interface::mint_to(
        CpiContext::new_with_signer(
            a.lp_token_program.key(),
            MintTo {
                mint: a.lp_mint.to_account_info(),
                to: a.provider_lp.to_account_info(),
                authority: a.pool.pool.to_account_info(),
            },
            &[seeds],
        ),
        dep.lp,
    )?;

    let actor = a.provider.key();
    let pool = &mut ctx.accounts.pool.pool;
    pool.reserve_a = pool.reserve_a.safe_add(received_a)?;
    pool.reserve_b = pool.reserve_b.safe_add(received_b)?;
    pool.lp_supply = pool.lp_supply.safe_add(dep.lp)?;
    let seq = pool.next_seq()?;
    let (reserve_a, reserve_b) = (pool.reserve_a, pool.reserve_b);
    ctx.accounts.pool.check_invariant()?;
    let lp_supply = ctx.accounts.pool.pool.lp_supply;
    emit_cpi!(LiquidityAdded {
        header: EventHeader::new(pool_key, seq, actor, now),
        amount_a: received_a,
        amount_b: received_b,
        lp_minted: dep.lp,
        reserve_a,
        reserve_b,
        lp_supply,
    });
    Ok(())
}
