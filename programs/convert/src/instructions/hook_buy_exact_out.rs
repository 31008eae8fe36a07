use super::swap_engine::*;
use crate::{error::ConvertError, events::SwapKind, state::Pool, token::balance};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_hook_interface::BuyExactOutArgs;

/// The conversion-hook interface (`kassa_hook_interface`): buy exactly `amount_out` of
/// `mint_out` into `destination`, spending at most `max_in` of `mint_in` from `payer_source`.
/// Accounts are in the interface's fixed order; the event accounts follow as extras.
#[event_cpi]
#[derive(Accounts)]
pub struct HookBuyExactOut<'info> {
    #[account(mut)]
    pub pool: Box<Account<'info, Pool>>,
    #[account(mut)]
    pub vault_in: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut)]
    pub vault_out: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, token::mint = mint_in, token::authority = payer_authority)]
    pub payer_source: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, token::mint = mint_out)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub payer_authority: Signer<'info>,
    #[account(mint::token_program = token_program_in)]
    pub mint_in: Box<InterfaceAccount<'info, Mint>>,
    #[account(mint::token_program = token_program_out)]
    pub mint_out: Box<InterfaceAccount<'info, Mint>>,
    pub token_program_in: Interface<'info, TokenInterface>,
    pub token_program_out: Interface<'info, TokenInterface>,
}

impl HookBuyExactOut<'_> {
    /// The accounts must be this pool's, in the interface's order; returns the direction.
    pub fn validate(&self) -> Result<bool> {
        let p = &self.pool;
        let (mint_in, mint_out) = (self.mint_in.key(), self.mint_out.key());
        let a_to_b = if (mint_in, mint_out) == (p.mint_a, p.mint_b) {
            true
        } else if (mint_in, mint_out) == (p.mint_b, p.mint_a) {
            false
        } else {
            return err!(ConvertError::HookAccountOrder);
        };
        let (vault_in, vault_out) = if a_to_b {
            (p.vault_a, p.vault_b)
        } else {
            (p.vault_b, p.vault_a)
        };
        require!(
            self.vault_in.key() == vault_in && self.vault_out.key() == vault_out,
            ConvertError::HookAccountOrder
        );
        Ok(a_to_b)
    }
}

pub fn handler(ctx: Context<HookBuyExactOut>, args: BuyExactOutArgs) -> Result<()> {
    let a_to_b = ctx.accounts.validate()?;
    let a = &ctx.accounts;
    let (pool_info, vault_in, vault_out) = (
        a.pool.to_account_info(),
        a.vault_in.to_account_info(),
        a.vault_out.to_account_info(),
    );
    let (mint_in, mint_out) = (a.mint_in.to_account_info(), a.mint_out.to_account_info());
    let (tp_in, tp_out) = (
        a.token_program_in.to_account_info(),
        a.token_program_out.to_account_info(),
    );
    let (source, destination, authority) = (
        a.payer_source.to_account_info(),
        a.destination.to_account_info(),
        a.payer_authority.to_account_info(),
    );
    let legs = Legs {
        pool_info: &pool_info,
        vault_in: &vault_in,
        vault_out: &vault_out,
        mint_in: &mint_in,
        mint_out: &mint_out,
        decimals_in: a.mint_in.decimals,
        decimals_out: a.mint_out.decimals,
        token_program_in: &tp_in,
        token_program_out: &tp_out,
        source: &source,
        destination: &destination,
        authority: &authority,
    };
    let event = execute(
        &mut ctx.accounts.pool,
        &legs,
        a_to_b,
        SwapKind::Hook,
        args.amount_out,
        args.max_in,
    )?;
    let (va, vb) = if a_to_b {
        (balance(&vault_in)?, balance(&vault_out)?)
    } else {
        (balance(&vault_out)?, balance(&vault_in)?)
    };
    ctx.accounts.pool.invariant(va, vb)?;
    emit_cpi!(event);
    Ok(())
}
