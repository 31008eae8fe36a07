//! Receivable advances: a merchant with a receivable line takes an advance on one of its
//! authorized payments. Credit has the payments program assign the payment's capture proceeds
//! (up to the advance) to a token account of the advance, owned by the pool; anyone then syncs
//! what arrived into the pool as repayment. When the payment can pay nothing more, whatever
//! did not arrive simply stays owed on the merchant's line.

use super::{common::*, line::*};
use crate::{error::CreditError, events::*, math::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_payments::{
    constants::{CONFIG_SEED, MERCHANT_SEED},
    program::KassaPayments,
    state::{Merchant, Payment, PaymentStatus},
};

#[event_cpi]
#[derive(Accounts)]
pub struct AdvanceTake<'info> {
    /// The merchant's authority, which is the line's borrower.
    #[account(mut)]
    pub borrower: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        has_one = pool,
        has_one = borrower @ CreditError::NotBorrower,
        seeds = [LINE_SEED, pool.key().as_ref(), borrower.key().as_ref()],
        bump = line.bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, token::mint = mint)]
    pub destination: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(
        init,
        payer = borrower,
        space = 8 + Advance::INIT_SPACE,
        seeds = [ADVANCE_SEED, payment.key().as_ref()],
        bump,
    )]
    pub advance: Box<Account<'info, Advance>>,
    #[account(
        init,
        payer = borrower,
        seeds = [ADVANCE_VAULT_SEED, payment.key().as_ref()],
        bump,
        token::mint = mint,
        token::authority = pool,
        token::token_program = token_program,
    )]
    pub advance_vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut)]
    pub payment: Box<Account<'info, Payment>>,
    #[account(
        seeds = [MERCHANT_SEED, merchant.merchant_id.as_ref()],
        bump = merchant.bump,
        seeds::program = kassa_payments::ID,
        constraint = merchant.key() == line.merchant @ CreditError::MerchantMismatch,
    )]
    pub merchant: Box<Account<'info, Merchant>>,
    /// CHECK: the payments config PDA; the payments program checks it.
    #[account(seeds = [CONFIG_SEED], bump, seeds::program = kassa_payments::ID)]
    pub payments_config: UncheckedAccount<'info>,
    /// CHECK: the payments program's event authority; the payments program checks it.
    #[account(seeds = [b"__event_authority"], bump, seeds::program = kassa_payments::ID)]
    pub payments_event_authority: UncheckedAccount<'info>,
    pub payments_program: Program<'info, KassaPayments>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn advance_take(ctx: Context<AdvanceTake>, amount: u64) -> Result<()> {
    require!(amount > 0, CreditError::ZeroAmount);
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.borrower.key();
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let payment_key = ctx.accounts.payment.key();
    let a = &ctx.accounts;
    require!(
        a.line.kind == LineKind::Receivable,
        CreditError::NotReceivableLine
    );
    require_keys_eq!(
        a.payment.merchant,
        a.line.merchant,
        CreditError::ForeignPayment
    );
    require_keys_eq!(a.payment.mint, a.pool.mint, CreditError::MintMismatch);
    require!(
        a.payment.status == PaymentStatus::Authorized,
        CreditError::PaymentNotAuthorized
    );
    require!(
        a.payment.assignee == Pubkey::default(),
        CreditError::ReceivableAlreadyAssigned
    );
    let escrowed = a.payment.escrowed()?;
    require!(
        amount <= mul_div_floor(escrowed, u64::from(a.line.advance_rate_bps), BPS)?,
        CreditError::AdvanceAboveRate
    );
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    let new = lend(pool, line, amount, now)?;
    let vault_key = ctx.accounts.advance_vault.key();
    let advance = &mut ctx.accounts.advance;
    advance.set_inner(Advance {
        pool: pool_key,
        line: line_key,
        payment: payment_key,
        vault: vault_key,
        amount,
        arrived: 0,
        settled: false,
        seq: 0,
        bump: ctx.bumps.advance,
        vault_bump: ctx.bumps.advance_vault,
    });
    if let Some(e) = income {
        emit_cpi!(e);
    }
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    let seq = ctx.accounts.line.next_seq()?;
    emit_cpi!(Drawn {
        header: EventHeader::new(line_key, seq, actor, now),
        amount,
        principal: new,
    });
    let seq = ctx.accounts.advance.next_seq()?;
    emit_cpi!(AdvanceTaken {
        header: EventHeader::new(ctx.accounts.advance.key(), seq, actor, now),
        line: line_key,
        payment: payment_key,
        vault: vault_key,
        amount,
    });
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, actor, now)?;
    emit_cpi!(balances);

    // Captures of the payment now pay the advance's account first, up to the advance.
    let a = &ctx.accounts;
    kassa_payments::cpi::receivable_assign(
        CpiContext::new(
            a.payments_program.key(),
            kassa_payments::cpi::accounts::ReceivableAssign {
                authority: a.borrower.to_account_info(),
                config: a.payments_config.to_account_info(),
                merchant: a.merchant.to_account_info(),
                payment: a.payment.to_account_info(),
                assignee: a.advance_vault.to_account_info(),
                event_authority: a.payments_event_authority.to_account_info(),
                program: a.payments_program.to_account_info(),
            },
        ),
        amount,
    )?;
    transfer_out(
        &a.pool,
        &a.pool.to_account_info(),
        &a.token_program.to_account_info(),
        &a.vault.to_account_info(),
        &a.mint.to_account_info(),
        &a.destination.to_account_info(),
        amount,
    )
}

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
    #[account(address = pool.mint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// CHECK: the advanced payment, read by hand because it may have been closed.
    #[account(address = advance.payment @ CreditError::PaymentMismatch)]
    pub payment: UncheckedAccount<'info>,
    /// Where arrivals beyond the line's whole debt go back to the borrower.
    #[account(mut, token::mint = mint, token::authority = line.borrower)]
    pub borrower_destination: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
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

pub fn receivable_sync(ctx: Context<ReceivableSync>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.caller.key();
    require!(!ctx.accounts.advance.settled, CreditError::AdvanceSettled);
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
    let (r, recovery, incomes) = book_repayment(pool, pool_key, line, actor, now, applied)?;
    let refund = sub(arrived, applied)?;
    pool.invariant()?;
    line.invariant()?;
    let advance = &mut ctx.accounts.advance;
    advance.arrived = add(advance.arrived, arrived)?;
    let settled = !open;
    advance.settled = settled;
    let shortfall = if settled {
        advance.amount.saturating_sub(advance.arrived)
    } else {
        0
    };
    if let Some(e) = income {
        emit_cpi!(e);
    }
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    for e in incomes {
        emit_cpi!(e);
    }
    if add(r.total()?, recovery)? > 0 {
        let seq = ctx.accounts.line.next_seq()?;
        emit_cpi!(Repaid {
            header: EventHeader::new(line_key, seq, actor, now),
            payer: ctx.accounts.advance_vault.key(),
            fees: r.fees,
            interest: r.interest,
            principal: r.principal,
            recovery,
            principal_after: ctx.accounts.line.principal,
        });
    }
    let seq = ctx.accounts.advance.next_seq()?;
    let arrived_total = ctx.accounts.advance.arrived;
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
    let pool_info = a.pool.to_account_info();
    let token_program = a.token_program.to_account_info();
    let mint = a.mint.to_account_info();
    let from = a.advance_vault.to_account_info();
    transfer_out(
        &a.pool,
        &pool_info,
        &token_program,
        &from,
        &mint,
        &a.vault.to_account_info(),
        applied,
    )?;
    transfer_out(
        &a.pool,
        &pool_info,
        &token_program,
        &from,
        &mint,
        &a.borrower_destination.to_account_info(),
        refund,
    )
}
