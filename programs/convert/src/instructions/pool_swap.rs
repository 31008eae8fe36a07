use super::{pool_accounts::*, swap_engine::*};
use crate::events::SwapKind;
use anchor_lang::prelude::*;
use anchor_spl::token_interface::TokenAccount;

/// A trader swaps between the pool's coins: `a_to_b` picks the direction.
#[event_cpi]
#[derive(Accounts)]
pub struct PoolSwap<'info> {
    pub trader: Signer<'info>,
    pub pool: PoolAccounts<'info>,
    #[account(mut, token::mint = pool.mint_a, token::authority = trader)]
    pub trader_a: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, token::mint = pool.mint_b, token::authority = trader)]
    pub trader_b: Box<InterfaceAccount<'info, TokenAccount>>,
}

/// Runs the swap engine in the direction asked and emits `Swapped`.
pub fn swap(
    ctx: Context<PoolSwap>,
    a_to_b: bool,
    kind: SwapKind,
    amount: u64,
    limit: u64,
) -> Result<()> {
    let a = &ctx.accounts;
    let (pool_info, vault_a, vault_b) = (
        a.pool.pool.to_account_info(),
        a.pool.vault_a.to_account_info(),
        a.pool.vault_b.to_account_info(),
    );
    let (mint_a, mint_b) = (
        a.pool.mint_a.to_account_info(),
        a.pool.mint_b.to_account_info(),
    );
    let (tp_a, tp_b) = (
        a.pool.token_program_a.to_account_info(),
        a.pool.token_program_b.to_account_info(),
    );
    let (trader_a, trader_b) = (a.trader_a.to_account_info(), a.trader_b.to_account_info());
    let (dec_a, dec_b) = (a.pool.mint_a.decimals, a.pool.mint_b.decimals);
    let trader = a.trader.to_account_info();
    let legs = if a_to_b {
        Legs {
            pool_info: &pool_info,
            vault_in: &vault_a,
            vault_out: &vault_b,
            mint_in: &mint_a,
            mint_out: &mint_b,
            decimals_in: dec_a,
            decimals_out: dec_b,
            token_program_in: &tp_a,
            token_program_out: &tp_b,
            source: &trader_a,
            destination: &trader_b,
            authority: &trader,
        }
    } else {
        Legs {
            pool_info: &pool_info,
            vault_in: &vault_b,
            vault_out: &vault_a,
            mint_in: &mint_b,
            mint_out: &mint_a,
            decimals_in: dec_b,
            decimals_out: dec_a,
            token_program_in: &tp_b,
            token_program_out: &tp_a,
            source: &trader_b,
            destination: &trader_a,
            authority: &trader,
        }
    };
    let event = execute(
        &mut ctx.accounts.pool.pool,
        &legs,
        a_to_b,
        kind,
        amount,
        limit,
    )?;
    ctx.accounts.pool.check_invariant()?;
    emit_cpi!(event);
    Ok(())
}
