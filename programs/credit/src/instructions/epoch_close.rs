use super::books::*;
use crate::{constants::*, error::CreditError, events::*, state::*};
use anchor_lang::prelude::*;
use anchor_spl::token_interface::{Mint, TokenAccount, TokenInterface};
use kassa_common::create::Creator;
use kassa_common::token::TokenMint;

/// Anyone ends the current epoch once its time has come: every active line of the pool is
/// brought up to date first (remaining accounts, writable, in ascending address order), so a
/// line past due is on non-accrual and its overdue interest impaired before anyone is paid
/// (audit 4); then the queued redemptions are served pro rata from the cash nobody else is
/// owed (senior first; junior only as far as the senior cap allows), the served shares
/// burned, and what each tranche got recorded for lenders to settle.
#[event_cpi]
#[derive(Accounts)]
pub struct EpochClose<'info> {
    #[account(mut)]
    pub caller: Signer<'info>,
    #[account(mut, seeds = [POOL_SEED, pool.mint.as_ref()], bump = pool.bump)]
    pub pool: Box<Account<'info, CreditPool>>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(
        mut,
        seeds = [EPOCH_SEED, pool.key().as_ref(), &[Tranche::Senior.seed()], &pool.epoch_id.to_le_bytes()],
        bump,
    )]
    pub senior_record: UncheckedAccount<'info>,
    /// CHECK: created by the handler through `kassa_common::create`, whatever lamports it
    /// already holds; the seeds constraint fixes its address.
    #[account(
        mut,
        seeds = [EPOCH_SEED, pool.key().as_ref(), &[Tranche::Junior.seed()], &pool.epoch_id.to_le_bytes()],
        bump,
    )]
    pub junior_record: UncheckedAccount<'info>,
    #[account(mut, address = pool.senior_mint, mint::token_program = token_program)]
    pub senior_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, address = pool.junior_mint, mint::token_program = token_program)]
    pub junior_mint: Box<InterfaceAccount<'info, Mint>>,
    #[account(mut, seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[Tranche::Senior.seed()]], bump)]
    pub senior_escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    #[account(mut, seeds = [SHARE_ESCROW_SEED, pool.key().as_ref(), &[Tranche::Junior.seed()]], bump)]
    pub junior_escrow: Box<InterfaceAccount<'info, TokenAccount>>,
    pub token_program: Interface<'info, TokenInterface>,
    pub system_program: Program<'info, System>,
}

pub fn handler(ctx: Context<EpochClose>) -> Result<()> {
    let now = Clock::get()?.unix_timestamp;
    let actor = ctx.accounts.caller.key();
    let pool_key = ctx.accounts.pool.key();
    let bumps = [ctx.bumps.senior_record, ctx.bumps.junior_record];
    let pool = &mut ctx.accounts.pool;
    let income = accrue(pool, pool_key, actor, now)?;
    let changes = bring_lines_up_to_date(pool, pool_key, ctx.remaining_accounts, actor, now)?;
    let epoch = pool.epoch_id;
    let served = pool.close_epoch(now)?;
    pool.invariant()?;
    let create = Creator {
        payer: &ctx.accounts.caller.to_account_info(),
        system_program: &ctx.accounts.system_program.to_account_info(),
    };
    for (record, (t, bump)) in [&ctx.accounts.senior_record, &ctx.accounts.junior_record]
        .into_iter()
        .zip(served.iter().zip(bumps))
    {
        let value = EpochRecord {
            pool: pool_key,
            tranche: t.tranche,
            epoch_id: epoch,
            requested: t.requested,
            served: t.served,
            paid: t.paid,
            bump,
            requested_left: t.requested,
            served_left: t.served,
            paid_left: t.paid,
        };
        value.invariant()?;
        create.create_state(
            &record.to_account_info(),
            8 + EpochRecord::INIT_SPACE,
            &[
                EPOCH_SEED,
                pool_key.as_ref(),
                &[t.tranche.seed()],
                &epoch.to_le_bytes(),
                &[bump],
            ],
            &value,
        )?;
    }
    if let Some(e) = income {
        emit_cpi!(e);
    }
    for e in changes {
        emit_cpi!(e);
    }
    for t in &served {
        let pool = &mut ctx.accounts.pool;
        let tranche_value = pool.tranche_value(t.tranche);
        let seq = pool.next_seq()?;
        emit_cpi!(EpochClosed {
            header: EventHeader::new(pool_key, seq, actor, now),
            epoch_id: epoch,
            tranche: t.tranche,
            requested: t.requested,
            served: t.served,
            paid: t.paid,
            tranche_value,
        });
    }
    let balances = balances_event(&mut ctx.accounts.pool, pool_key, actor, now)?;
    emit_cpi!(balances);
    let a = &ctx.accounts;
    let pool_info = a.pool.to_account_info();
    let token_program = a.token_program.to_account_info();
    for (mint, escrow, t) in [
        (&a.senior_mint, &a.senior_escrow, &served[0]),
        (&a.junior_mint, &a.junior_escrow, &served[1]),
    ] {
        TokenMint {
            token_program: &token_program,
            mint: &mint.to_account_info(),
            decimals: a.pool.decimals,
        }
        .burn_signed(
            &escrow.to_account_info(),
            &pool_info,
            &a.pool.seeds(),
            t.served,
        )?;
    }
    Ok(())
}

/// Touches each of `lines`, which must be exactly the pool's active lines: owned by this
/// program, of this pool, counted, writable, strictly ascending (so none twice), and as many
/// as the pool counts. Returns the status changes to emit.
fn bring_lines_up_to_date<'info>(
    pool: &mut CreditPool,
    pool_key: Pubkey,
    lines: &'info [AccountInfo<'info>],
    actor: Pubkey,
    now: i64,
) -> Result<Vec<LineStatusChanged>> {
    require!(
        lines.len() == usize::from(pool.active_lines),
        CreditError::ActiveLinesMismatch
    );
    let mut changes = Vec::new();
    let mut last: Option<Pubkey> = None;
    for info in lines {
        // The account's type first (the framework's own errors), then whether it is one of
        // this pool's counted lines, then the order, which makes each line count once.
        require!(info.is_writable, CreditError::ActiveLinesMismatch);
        let mut line = Account::<CreditLine>::try_from(info)?;
        require!(
            line.pool == pool_key && line.counted && last.is_none_or(|l| *info.key > l),
            CreditError::ActiveLinesMismatch
        );
        last = Some(*info.key);
        let (income, changed) = touch(pool, pool_key, &mut line, *info.key, actor, now)?;
        // The pool accrued to `now` before the first line: nothing more to recognise.
        require!(income.is_none(), CreditError::InvariantViolated);
        changes.extend(changed);
        check(pool, &mut line)?;
        line.exit(&crate::ID)?;
    }
    Ok(changes)
}
