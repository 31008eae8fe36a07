use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::{token::TokenMint, SafeMath};
use kassa_payments::state::Payment;

/// Anyone books what an advanced payment paid into the advance's account: it repays the line
/// (anything beyond its whole debt goes back to the borrower). When the payment can pay
/// nothing more, the advance is settled and whatever did not arrive stays owed on the line.
#[event_cpi]
#[derive(Accounts)]
pub struct ReceivableSync<'info> {
    pub caller: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
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
    )]
    pub advance: Box<Account<'info, Advance>>,
    #[account(mut, address = advance.vault)]
    pub advance_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    /// The token program must be the mint's, even when nothing moves (the matrix's
    /// SPL ↔ Token-2022 swap).
    #[account(address = pool.mint, mint::token_program = token_program)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// CHECK: the advanced payment (address checked), read by hand in `payment_can_pay`
    /// because it may have been closed.
    #[account(address = advance.payment @ CreditError::PaymentMismatch)]
    pub payment: UncheckedAccount<'info>,
    /// Where arrivals beyond the line's whole debt go back to the borrower.
    #[account(mut, token::mint = mint, token::authority = line.borrower)]
    pub borrower_destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

impl ReceivableSync<'_> {
    pub fn validate(&self) -> Result<()> {
        require!(!self.advance.settled, CreditError::AdvanceSettled);
        Ok(())
    }
}

/// Whether the payment can still pay the advance anything.
fn payment_can_pay(info: &AccountInfo<'_>) -> Result<bool> {
    if info.data_is_empty() || *info.owner != kassa_payments::ID {
        // Closed: nothing more can arrive.
        return Ok(false);
    }
    let data = info.try_borrow_data()?;
    let payment = Payment::try_deserialize(&mut &data[..])?;
    Ok(!payment.status.is_terminal() && payment.assigned > 0)
}

#[access_control(ctx.accounts.validate())]
pub fn handler(ctx: Context<ReceivableSync>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.caller.key();
    let arrived = ctx.accounts.advance_vault.amount;
    let open = payment_can_pay(&ctx.accounts.payment.to_account_info())?;
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    // Arrivals repay the line; anything beyond its whole debt is the borrower's.
    let applied = if line.status == LineStatus::WrittenOff {
        arrived
    } else {
        arrived.min(line.total_owed()?)
    };
    // The pool vault receives `applied`; the booked repayment adds it to cash.
    let booked = pool.book_repayment(line, applied)?;
    let refund = arrived.safe_sub(applied)?;
    check(pool, line)?;
    let advance = &mut ctx.accounts.advance;
    let shortfall = advance.record_arrival(arrived, open)?;
    let (settled, arrived_total) = (advance.settled, advance.arrived);
    if let Some(e) = income {
        emit_cpi!(e);
    }
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    for e in repayment_income_events(&mut ctx.accounts.pool, pool_key, actor, now, &booked)? {
        emit_cpi!(e);
    }
    if booked.total()? > 0 {
        let r = booked.repayment;
        let seq = ctx.accounts.line.next_seq()?;
        emit_cpi!(Repaid {
            header: EventHeader::new(line_key, seq, actor, now),
            payer: ctx.accounts.advance_vault.key(),
            fees: r.fees,
            interest: r.interest,
            principal: r.principal,
            recovery: booked.recovery,
            principal_after: ctx.accounts.line.principal,
        });
    }
    let seq = ctx.accounts.advance.next_seq()?;
    emit_cpi!(ReceivableSynced {
        header: EventHeader::new(ctx.accounts.advance.key(), seq, actor, now),
        arrived,
        arrived_total,
        settled,
        shortfall,
    });
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, actor, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    let token = TokenMint {
        token_program: &a.token_program.to_account_info(),
        mint: &a.mint.to_account_info(),
        decimals: a.pool.decimals,
    };
    let (pool_info, from, seeds) = (
        a.pool.to_account_info(),
        a.advance_vault.to_account_info(),
        a.pool.seeds(),
    );
    token.transfer_signed(
        &from,
        &a.vault.to_account_info(),
        &pool_info,
        &seeds,
        applied,
    )?;
    token.transfer_signed(
        &from,
        &a.borrower_destination.to_account_info(),
        &pool_info,
        &seeds,
        refund,
    )
}
