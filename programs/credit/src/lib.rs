//! kassa_credit: PayFi credit pools on Solana.
//!
//! A pool per stablecoin holds lenders' money in a vault, split into a senior tranche (capped at
//! a multiple of the junior, paid a target yield first, hit by losses last) and a junior
//! tranche, each with its own SPL share mint. The underwriter approves credit lines (revolving,
//! or receivable-backed: advances on a merchant's authorized payments whose capture proceeds
//! flow back to the pool). Interest accrues per second, exactly, and is recognised before any
//! share is priced. Every state change is an `emit_cpi!` event. See `docs/credit.md`.
#![allow(unexpected_cfgs)]
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use anchor_lang::prelude::*;

pub mod error;
pub mod events;
pub mod instructions;
pub mod math;
pub mod state;

use instructions::*;
use state::Tranche;

declare_id!("KassaCrdKpGMuz9UWnGXrxbyt6LaxH7Tn5rghSQaNoR");

#[program]
pub mod kassa_credit {
    use super::*;

    /// The payments protocol admin creates the credit pool of a stablecoin.
    pub fn pool_create(ctx: Context<PoolCreate>, args: PoolCreateArgs) -> Result<()> {
        pool::pool_create(ctx, args)
    }

    /// The pool admin allowlists a lender.
    pub fn allow_add(ctx: Context<AllowAdd>) -> Result<()> {
        pool::allow_add(ctx)
    }

    /// The pool admin removes a lender from the allowlist.
    pub fn allow_remove(ctx: Context<AllowRemove>) -> Result<()> {
        pool::allow_remove(ctx)
    }

    /// Anyone recognises the interest accrued so far.
    pub fn pool_accrue(ctx: Context<PoolAccrue>) -> Result<()> {
        pool::pool_accrue(ctx)
    }

    /// The protocol fee receiver or the pool admin withdraws the fees payable to it.
    pub fn fees_withdraw(ctx: Context<FeesWithdraw>) -> Result<()> {
        pool::fees_withdraw(ctx)
    }

    /// A lender deposits into a tranche for shares, at least `min_shares`.
    pub fn deposit(
        ctx: Context<Deposit>,
        tranche: Tranche,
        amount: u64,
        min_shares: u64,
    ) -> Result<()> {
        lender::deposit(ctx, tranche, amount, min_shares)
    }

    /// A lender queues shares for redemption at the epoch's end (or, with `cancel`, takes
    /// queued shares back).
    pub fn redeem_queue(
        ctx: Context<RedeemQueue>,
        tranche: Tranche,
        shares: u64,
        cancel: bool,
    ) -> Result<()> {
        redeem::redeem_queue(ctx, tranche, shares, cancel)
    }

    /// Anyone ends an epoch whose time has come, serving the queued redemptions.
    pub fn epoch_close(ctx: Context<EpochClose>) -> Result<()> {
        redeem::epoch_close(ctx)
    }

    /// A lender settles its share of closed epochs and withdraws what was served.
    pub fn redeem_withdraw<'info>(ctx: Context<'info, RedeemWithdraw<'info>>) -> Result<()> {
        redeem::redeem_withdraw(ctx)
    }

    /// The underwriter approves a credit line.
    pub fn line_approve(ctx: Context<LineApprove>, args: LineApproveArgs) -> Result<()> {
        line::line_approve(ctx, args)
    }

    /// The borrower draws on a revolving line.
    pub fn line_draw(ctx: Context<LineMoney>, amount: u64) -> Result<()> {
        line::line_draw(ctx, amount)
    }

    /// Anyone repays a line: fees, then interest, then principal.
    pub fn line_repay(ctx: Context<LineMoney>, amount: u64) -> Result<()> {
        line::line_repay(ctx, amount)
    }

    /// Anyone moves a line's status by time.
    pub fn line_refresh(ctx: Context<LineAdmin>) -> Result<()> {
        line::line_refresh(ctx)
    }

    /// The underwriter restores, impairs, reverses an impairment or writes a line off.
    pub fn line_underwrite(ctx: Context<LineAdmin>, action: UnderwriterAction) -> Result<()> {
        line::line_underwrite(ctx, action)
    }

    /// A merchant takes an advance on one of its authorized payments.
    pub fn advance_take(ctx: Context<AdvanceTake>, amount: u64) -> Result<()> {
        advance::advance_take(ctx, amount)
    }

    /// Anyone books what an advanced payment paid into the pool.
    pub fn receivable_sync(ctx: Context<ReceivableSync>) -> Result<()> {
        advance::receivable_sync(ctx)
    }
}
