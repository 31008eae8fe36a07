use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::token::TokenMint;

/// Anyone closes a settled advance and its token account, returning their rent to the borrower
/// who paid it (audit 13). The `["advance", payment]` address is then free, so a payment opened
/// again at a reused order id can back a new advance. Tokens sent to the advance's account after
/// it settled did not come from the payment; they go to the borrower with the rent.
#[event_cpi]
#[derive(Accounts)]
pub struct AdvanceClose<'info> {
    pub caller: Signer<'info>,
    #[account(seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        has_one = pool,
        seeds = [LINE_SEED, pool.key().as_ref(), line.borrower.as_ref()],
        bump = line.bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
    #[account(
        mut,
        has_one = pool,
        has_one = line,
        seeds = [ADVANCE_SEED, advance.payment.as_ref()],
        bump = advance.bump,
        close = borrower,
    )]
    pub advance: Box<Account<'info, Advance>>,
    #[account(mut, address = advance.vault)]
    pub advance_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// CHECK: receives the rent; the line's borrower (address checked).
    #[account(mut, address = line.borrower @ CreditError::NotBorrower)]
    pub borrower: UncheckedAccount<'info>,
    /// The borrower's token account, for anything left in the advance's account.
    #[account(mut, token::mint = mint, token::authority = line.borrower)]
    pub borrower_destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl AdvanceClose<'_> {
    pub fn validate(&self) -> Result<()> {
        require!(self.advance.settled, CreditError::AdvanceNotSettled);
        Ok(())
    }
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<AdvanceClose>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let a = &ctx.accounts;
    let swept = a.advance_vault.amount;
    let rent = a
        .advance
        .to_account_info()
        .lamports()
        .saturating_add(a.advance_vault.to_account_info().lamports());
    let token = TokenMint {
        token_program: &a.token_program.to_account_info(),
        mint: &a.mint.to_account_info(),
        decimals: a.pool.decimals,
    };
    let (pool_info, vault, seeds) = (
        a.pool.to_account_info(),
        a.advance_vault.to_account_info(),
        a.pool.seeds(),
    );
    token.transfer_signed(
        &vault,
        &a.borrower_destination.to_account_info(),
        &pool_info,
        &seeds,
        swept,
    )?;
    token.close_signed(&vault, &a.borrower.to_account_info(), &pool_info, &seeds)?;
    let advance = &mut ctx.accounts.advance;
    let seq = advance.next_seq()?;
    emit_cpi!(AdvanceClosed {
        header: EventHeader::new(advance.key(), seq, ctx.accounts.caller.key(), now),
        payment: advance.payment,
        rent_receiver: ctx.accounts.borrower.key(),
        lamports: rent,
        swept,
    });
    Ok(())
}
