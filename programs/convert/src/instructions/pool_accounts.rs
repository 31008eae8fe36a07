//! The accounts every trade or liquidity change touches: the pool, its vaults and mints.

use crate::{
    error::ConvertError,
    state::Pool,
    token::{balance, transfer_out},
};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};

#[derive(Accounts)]
pub struct PoolAccounts<'info> {
    #[account(
        mut,
        has_one = vault_a,
        has_one = vault_b,
        has_one = mint_a,
        has_one = mint_b,
    )]
    pub pool: Box<Account<'info, Pool>>,
    #[account(mut)]
    pub vault_a: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut)]
    pub vault_b: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mint::token_program = token_program_a)]
    pub mint_a: Box<InterfaceAccount<'info, Mint>>,
    #[account(mint::token_program = token_program_b)]
    pub mint_b: Box<InterfaceAccount<'info, Mint>>,
    pub token_program_a: Interface<'info, TokenInterface>,
    pub token_program_b: Interface<'info, TokenInterface>,
}

impl<'info> PoolAccounts<'info> {
    /// Pays `amount_a` of coin A to `to_a` and `amount_b` of coin B to `to_b` out of the
    /// vaults, signed by the pool. Zero amounts move nothing.
    pub fn pay_both(
        &self,
        to_a: &AccountInfo<'info>,
        amount_a: u64,
        to_b: &AccountInfo<'info>,
        amount_b: u64,
    ) -> Result<()> {
        let pool_info = self.pool.to_account_info();
        transfer_out(
            &self.pool,
            &pool_info,
            &self.token_program_a.to_account_info(),
            &self.vault_a.to_account_info(),
            &self.mint_a.to_account_info(),
            to_a,
            amount_a,
            self.mint_a.decimals,
        )?;
        transfer_out(
            &self.pool,
            &pool_info,
            &self.token_program_b.to_account_info(),
            &self.vault_b.to_account_info(),
            &self.mint_b.to_account_info(),
            to_b,
            amount_b,
            self.mint_b.decimals,
        )
    }

    /// Checks the pool's invariant against the vaults' current balances.
    pub fn check_invariant(&self) -> Result<()> {
        let a = balance(&self.vault_a.to_account_info())?;
        let b = balance(&self.vault_b.to_account_info())?;
        self.pool.invariant(a, b)
    }

    pub fn require_active(&self) -> Result<()> {
        require!(!self.pool.paused, ConvertError::PoolPaused);
        Ok(())
    }
}
