//! Credit lines: approval by the underwriter, draws, repayments (fees, then interest, then
//! principal), the time-driven status crank, restoration (underwriter only), impairment and
//! write-off.

use super::common::*;
use crate::{error::CreditError, events::*, math::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_payments::state::Merchant;

#[derive(AnchorSerialize, AnchorDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct LineApproveArgs {
    pub kind: LineKind,
    pub limit: u64,
    pub apr_bps: u16,
    pub late_apr_bps: u16,
    pub advance_rate_bps: u16,
    pub maturity: i64,
    pub payment_interval: i64,
    pub grace_seconds: i64,
}

#[event_cpi]
#[derive(Accounts)]
pub struct LineApprove<'info> {
    #[account(mut)]
    pub underwriter: Signer<'info>,
    #[account(has_one = underwriter @ CreditError::NotUnderwriter)]
    pub pool: Box<Account<'info, CreditPool>>,
    /// CHECK: the borrower's wallet (for a receivable line, the merchant's authority).
    pub borrower: UncheckedAccount<'info>,
    #[account(
        init,
        payer = underwriter,
        space = 8 + CreditLine::INIT_SPACE,
        seeds = [LINE_SEED, pool.key().as_ref(), borrower.key().as_ref()],
        bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
    /// The payments program's merchant, for a receivable-backed line.
    pub merchant: Option<Box<Account<'info, Merchant>>>,
    pub system_program: Program<'info, System>,
}

pub fn line_approve(ctx: Context<LineApprove>, args: LineApproveArgs) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let borrower = ctx.accounts.borrower.key();
    let merchant = match (args.kind, &ctx.accounts.merchant) {
        (LineKind::Revolving, None) => Pubkey::default(),
        (LineKind::Receivable, Some(m)) => {
            require_keys_eq!(m.authority, borrower, CreditError::MerchantMismatch);
            m.key()
        }
        _ => return err!(CreditError::InvalidLineParams),
    };
    let ok = args.limit > 0
        && u64::from(args.apr_bps) <= BPS
        && u64::from(args.late_apr_bps) <= BPS
        && args.advance_rate_bps <= MAX_ADVANCE_RATE_BPS
        && (args.kind == LineKind::Revolving || args.advance_rate_bps > 0)
        && args.maturity > now
        && args.payment_interval > 0
        && args.grace_seconds >= 0;
    require!(ok, CreditError::InvalidLineParams);
    let pool_key = ctx.accounts.pool.key();
    let line_key = ctx.accounts.line.key();
    let line = &mut ctx.accounts.line;
    line.set_inner(CreditLine {
        pool: pool_key,
        borrower,
        merchant,
        kind: args.kind,
        status: LineStatus::GoodStanding,
        limit: args.limit,
        apr_bps: args.apr_bps,
        late_apr_bps: args.late_apr_bps,
        advance_rate_bps: args.advance_rate_bps,
        maturity: args.maturity,
        payment_interval: args.payment_interval,
        grace_seconds: args.grace_seconds,
        next_due: now.saturating_add(args.payment_interval).min(args.maturity),
        delayed_since: 0,
        principal: 0,
        accrued_raw: 0,
        interest_paid: 0,
        late_raw: 0,
        fees_paid: 0,
        impaired: 0,
        last_accrual: now,
        seq: 0,
        bump: ctx.bumps.line,
        reserved: [0; 32],
    });
    line.invariant()?;
    let seq = line.next_seq()?;
    emit_cpi!(LineApproved {
        header: EventHeader::new(line_key, seq, ctx.accounts.underwriter.key(), now),
        pool: pool_key,
        borrower,
        merchant,
        kind: args.kind,
        limit: args.limit,
        apr_bps: args.apr_bps,
        late_apr_bps: args.late_apr_bps,
        advance_rate_bps: args.advance_rate_bps,
        maturity: args.maturity,
        payment_interval: args.payment_interval,
        grace_seconds: args.grace_seconds,
    });
    Ok(())
}

/// Brings pool and line to `now` and moves the line's status by time. Returns the events to
/// emit (income shared, status changed).
pub fn touch(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    line: &mut CreditLine,
    line_key: Pubkey,
    actor: Pubkey,
    now: i64,
) -> Result<(Option<IncomeDistributed>, Option<LineStatusChanged>)> {
    let income = accrue_pool(pool, pool_key, actor, now)?;
    line.accrue(now)?;
    let from = line.status;
    let changed = match line.refresh(now)? {
        Some(to) => {
            let seq = line.next_seq()?;
            Some(LineStatusChanged {
                header: EventHeader::new(line_key, seq, actor, now),
                from,
                to,
            })
        }
        None => None,
    };
    Ok((income, changed))
}

/// Lends `amount` of the pool's cash on `line` (a draw or an advance): the line must be in
/// good standing, before maturity, within its limit, and the pool must have the cash nobody
/// else is owed. Returns the line's new principal.
pub fn lend(pool: &mut CreditPool, line: &mut CreditLine, amount: u64, now: i64) -> Result<u64> {
    require!(
        line.status == LineStatus::GoodStanding,
        CreditError::LineNotInGoodStanding
    );
    require!(now < line.maturity, CreditError::LineMatured);
    let new = add(line.principal, amount)?;
    require!(new <= line.limit, CreditError::OverLimit);
    require!(
        amount <= pool.available_cash()?,
        CreditError::InsufficientPoolCash
    );
    pool.reprice(line.principal, new, line.apr_bps)?;
    line.principal = new;
    pool.cash = sub(pool.cash, amount)?;
    pool.invariant()?;
    line.invariant()?;
    Ok(new)
}

/// Accounts of every instruction that moves a line's money through the pool vault.
#[event_cpi]
#[derive(Accounts)]
pub struct LineMoney<'info> {
    /// The borrower for a draw; anyone repaying for a repayment.
    pub signer: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        has_one = pool,
        seeds = [LINE_SEED, pool.key().as_ref(), line.borrower.as_ref()],
        bump = line.bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
    #[account(mut, address = pool.vault)]
    pub vault: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(address = pool.mint)]
    pub mint: Box<InterfaceAccount<'info, Mint>>,
    /// Draw: where the money goes. Repay: where it comes from (owned by the signer).
    #[account(mut, token::mint = mint)]
    pub counterparty: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
}

pub fn line_draw(ctx: Context<LineMoney>, amount: u64) -> Result<()> {
    require!(amount > 0, CreditError::ZeroAmount);
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.signer.key();
    require_keys_eq!(actor, ctx.accounts.line.borrower, CreditError::NotBorrower);
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    require!(
        line.kind == LineKind::Revolving,
        CreditError::NotRevolvingLine
    );
    let new = lend(pool, line, amount, now)?;
    if let Some(e) = income {
        emit_cpi!(e);
    }
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    let seq = line.next_seq()?;
    emit_cpi!(Drawn {
        header: EventHeader::new(line_key, seq, actor, now),
        amount,
        principal: new,
    });
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, actor, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    transfer_out(
        &a.pool,
        &a.pool.to_account_info(),
        &a.token_program.to_account_info(),
        &a.vault.to_account_info(),
        &a.mint.to_account_info(),
        &a.counterparty.to_account_info(),
        amount,
    )
}

/// Books `amount` paid to a line: fees, interest, principal in that order (recovery income on
/// a written-off line). Returns the split and the events to emit. Caps at the debt.
pub fn book_repayment(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    line: &mut CreditLine,
    actor: Pubkey,
    now: i64,
    amount: u64,
) -> Result<(Repayment, u64, Vec<IncomeDistributed>)> {
    let mut events = Vec::new();
    if line.status == LineStatus::WrittenOff {
        let s = pool.receive_income(amount)?;
        events.push(income_event(pool, pool_key, actor, now, amount, s)?);
        return Ok((Repayment::default(), amount, events));
    }
    let r = line.allocate(amount)?;
    if r.fees > 0 {
        let s = pool.receive_income(r.fees)?;
        line.fees_paid = add(line.fees_paid, r.fees)?;
        events.push(income_event(pool, pool_key, actor, now, r.fees, s)?);
    }
    if r.interest > 0 {
        line.interest_paid = add(line.interest_paid, r.interest)?;
        if let Some(s) = pool.receive_interest(r.interest)? {
            let extra = add(add(s.protocol, s.admin)?, add(s.senior, s.junior)?)?;
            events.push(income_event(pool, pool_key, actor, now, extra, s)?);
        }
    }
    if r.principal > 0 {
        let new = sub(line.principal, r.principal)?;
        pool.reprice(line.principal, new, line.apr_bps)?;
        line.principal = new;
        pool.cash = add(pool.cash, r.principal)?;
    }
    // An impairment can never exceed what is still owed.
    let excess = line.impaired.saturating_sub(line.total_owed()?);
    if excess > 0 {
        pool.reverse_impairment(excess)?;
        line.impaired = sub(line.impaired, excess)?;
    }
    Ok((r, 0, events))
}

pub fn line_repay(ctx: Context<LineMoney>, amount: u64) -> Result<()> {
    require!(amount > 0, CreditError::ZeroAmount);
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.signer.key();
    require_keys_eq!(
        ctx.accounts.counterparty.owner,
        actor,
        CreditError::NotBorrower
    );
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    let (r, recovery, incomes) = book_repayment(pool, pool_key, line, actor, now, amount)?;
    let total = add(r.total()?, recovery)?;
    require!(total > 0, CreditError::NothingToWithdraw);
    pool.invariant()?;
    line.invariant()?;
    if let Some(e) = income {
        emit_cpi!(e);
    }
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    for e in incomes {
        emit_cpi!(e);
    }
    let principal_after = line.principal;
    let seq = line.next_seq()?;
    emit_cpi!(Repaid {
        header: EventHeader::new(line_key, seq, actor, now),
        payer: actor,
        fees: r.fees,
        interest: r.interest,
        principal: r.principal,
        recovery,
        principal_after,
    });
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, actor, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    transfer_in(
        &a.token_program.to_account_info(),
        &a.counterparty.to_account_info(),
        &a.mint.to_account_info(),
        &a.vault.to_account_info(),
        &a.signer.to_account_info(),
        total,
        a.pool.decimals,
    )
}

/// Accounts of the status and valuation instructions.
#[event_cpi]
#[derive(Accounts)]
pub struct LineAdmin<'info> {
    /// Anyone for the crank; the underwriter for restore, impair and write-off.
    pub signer: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    #[account(
        mut,
        has_one = pool,
        seeds = [LINE_SEED, pool.key().as_ref(), line.borrower.as_ref()],
        bump = line.bump,
    )]
    pub line: Box<Account<'info, CreditLine>>,
}

/// Anyone moves a line's status by time (GoodStanding → Delayed → Defaulted).
pub fn line_refresh(ctx: Context<LineAdmin>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.signer.key();
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    pool.invariant()?;
    line.invariant()?;
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    if let Some(e) = income {
        emit_cpi!(e);
        let balances = balances_event(pool, pool_key, actor, now)?;
        emit_cpi!(balances);
    }
    Ok(())
}

/// Actions only the underwriter takes on a line.
#[derive(AnchorSerialize, AnchorDeserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnderwriterAction {
    /// Back to good standing, once nothing is overdue.
    Restore,
    /// Mark `amount` of the line's value down (reversible).
    Impair(u64),
    /// Reverse `amount` of an impairment.
    ReverseImpairment(u64),
    /// Recognise the line's principal and interest as a loss.
    WriteOff,
}

pub fn line_underwrite(ctx: Context<LineAdmin>, action: UnderwriterAction) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.signer.key();
    require_keys_eq!(
        actor,
        ctx.accounts.pool.underwriter,
        CreditError::NotUnderwriter
    );
    let (pool_key, line_key) = (ctx.accounts.pool.key(), ctx.accounts.line.key());
    let pool = &mut ctx.accounts.pool;
    let line = &mut ctx.accounts.line;
    let (income, changed) = touch(pool, pool_key, line, line_key, actor, now)?;
    require!(
        line.status != LineStatus::WrittenOff,
        CreditError::LineWrittenOff
    );
    if let Some(e) = income {
        emit_cpi!(e);
    }
    if let Some(e) = changed {
        emit_cpi!(e);
    }
    match action {
        UnderwriterAction::Restore => {
            require!(
                line.status != LineStatus::GoodStanding,
                CreditError::LineAlreadyInGoodStanding
            );
            let overdue = line.interest_owed()? > 0
                || line.fees_owed()? > 0
                || (now > line.maturity && line.principal > 0);
            require!(!overdue, CreditError::LineHasOverdue);
            let from = line.status;
            line.status = LineStatus::GoodStanding;
            line.next_due = now
                .saturating_add(line.payment_interval)
                .min(line.maturity.max(now));
            let seq = line.next_seq()?;
            emit_cpi!(LineStatusChanged {
                header: EventHeader::new(line_key, seq, actor, now),
                from,
                to: LineStatus::GoodStanding,
            });
        }
        UnderwriterAction::Impair(amount) => {
            require!(amount > 0, CreditError::ZeroAmount);
            let total = add(line.impaired, amount)?;
            require!(total <= line.total_owed()?, CreditError::ImpairmentTooLarge);
            let (from_junior, from_senior) = pool.impair(amount)?;
            line.impaired = total;
            let seq = line.next_seq()?;
            emit_cpi!(LineImpaired {
                header: EventHeader::new(line_key, seq, actor, now),
                amount,
                reversed: false,
                from_junior,
                from_senior,
                line_impaired: total,
            });
        }
        UnderwriterAction::ReverseImpairment(amount) => {
            require!(amount > 0, CreditError::ZeroAmount);
            require!(amount <= line.impaired, CreditError::ReversalTooLarge);
            let (from_junior, from_senior) = pool.reverse_impairment(amount)?;
            line.impaired = sub(line.impaired, amount)?;
            let seq = line.next_seq()?;
            emit_cpi!(LineImpaired {
                header: EventHeader::new(line_key, seq, actor, now),
                amount,
                reversed: true,
                from_junior,
                from_senior,
                line_impaired: line.impaired,
            });
        }
        UnderwriterAction::WriteOff => {
            // The impairment already marked part of the loss: undo it, then take the whole
            // loss (both junior first, so the result is the same as taking the rest).
            pool.reverse_impairment(line.impaired)?;
            line.impaired = 0;
            let interest = line
                .interest_owed()?
                .min(sub(pool.recognized, pool.received)?);
            pool.received = add(pool.received, interest)?;
            let principal = line.principal;
            pool.reprice(principal, 0, line.apr_bps)?;
            line.principal = 0;
            let (from_junior, from_senior) = pool.take_loss(add(principal, interest)?)?;
            let from = line.status;
            line.status = LineStatus::WrittenOff;
            let seq = line.next_seq()?;
            emit_cpi!(LineStatusChanged {
                header: EventHeader::new(line_key, seq, actor, now),
                from,
                to: LineStatus::WrittenOff,
            });
            let seq = line.next_seq()?;
            emit_cpi!(LineWrittenOff {
                header: EventHeader::new(line_key, seq, actor, now),
                principal,
                interest,
                from_junior,
                from_senior,
            });
        }
    }
    pool.invariant()?;
    line.invariant()?;
    let balances = balances_event(pool, pool_key, actor, now)?;
    emit_cpi!(balances);
    Ok(())
}
