//! kassa_credit: PayFi credit pools on Solana.
//!
//! A pool per stablecoin holds lenders' money in a vault, split into a senior tranche (capped at
//! a multiple of the junior, paid a target yield first, hit by losses last) and a junior
//! tranche, each with its own SPL share mint. The underwriter approves credit lines (revolving,
//! or receivable-backed: advances on a merchant's authorized payments whose capture proceeds
//! flow back to the pool). Interest accrues per second, exactly, and is recognised before any
//! share is priced. Every state change is an `emit_cpi!` event. See `docs/credit.md`.
#![allow(unexpected_cfgs)]
// Money code: every operation checked, nothing unwrapped (tests may do both).
#![cfg_attr(not(test), deny(clippy::arithmetic_side_effects))]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

use anchor_lang::prelude::*;

pub mod constants;
pub mod error;
pub mod events;
pub mod instructions;
pub mod math;
pub mod state;

use instructions::*;
use state::{PoolRole, Tranche};

declare_id!("KassaCrdKpGMuz9UWnGXrxbyt6LaxH7Tn5rghSQaNoR");

#[program]
pub mod kassa_credit {
    use super::*;

    /// The payments protocol admin creates the credit pool of a stablecoin.
    pub fn pool_create(ctx: Context<PoolCreate>, args: PoolCreateArgs) -> Result<()> {
        pool_create::handler(ctx, args)
    }

    /// The pool admin allows a lender to deposit.
    pub fn lender_allow(ctx: Context<LenderAllow>) -> Result<()> {
        lender_allow::handler(ctx)
    }

    /// The pool admin removes a lender from the allowlist.
    pub fn lender_disallow(ctx: Context<LenderDisallow>) -> Result<()> {
        lender_disallow::handler(ctx)
    }

    /// Anyone recognises the interest accrued so far.
    pub fn pool_accrue(ctx: Context<PoolAccrue>) -> Result<()> {
        pool_accrue::handler(ctx)
    }

    /// The protocol fee receiver or the pool admin withdraws the fees payable to it.
    pub fn pool_fees_withdraw(ctx: Context<PoolFeesWithdraw>) -> Result<()> {
        pool_fees_withdraw::handler(ctx)
    }

    /// A lender deposits into a tranche for shares, at least `min_shares`.
    pub fn tranche_deposit(
        ctx: Context<TrancheDeposit>,
        tranche: Tranche,
        amount: u64,
        min_shares: u64,
    ) -> Result<()> {
        tranche_deposit::handler(ctx, tranche, amount, min_shares)
    }

    /// A lender queues shares for redemption at the epoch's end.
    pub fn redemption_request(
        ctx: Context<RedemptionRequest>,
        tranche: Tranche,
        shares: u64,
    ) -> Result<()> {
        redemption_request::handler(ctx, tranche, shares)
    }

    /// A lender takes queued shares back before the epoch ends.
    pub fn redemption_cancel(
        ctx: Context<RedemptionCancel>,
        tranche: Tranche,
        shares: u64,
    ) -> Result<()> {
        redemption_cancel::handler(ctx, tranche, shares)
    }

    /// Anyone ends an epoch whose time has come, serving the queued redemptions.
    pub fn epoch_close(ctx: Context<EpochClose>) -> Result<()> {
        epoch_close::handler(ctx)
    }

    /// A lender settles its share of closed epochs and withdraws what was served.
    pub fn redemption_withdraw<'info>(
        ctx: Context<'info, RedemptionWithdraw<'info>>,
    ) -> Result<()> {
        redemption_withdraw::handler(ctx)
    }

    /// The underwriter approves a credit line.
    pub fn line_approve(ctx: Context<LineApprove>, args: LineApproveArgs) -> Result<()> {
        line_approve::handler(ctx, args)
    }

    /// The borrower draws on a revolving line.
    pub fn line_draw(ctx: Context<LineDraw>, amount: u64) -> Result<()> {
        line_draw::handler(ctx, amount)
    }

    /// Anyone repays a line: fees, then interest, then principal.
    pub fn line_repay(ctx: Context<LineRepay>, amount: u64) -> Result<()> {
        line_repay::handler(ctx, amount)
    }

    /// Anyone moves a line's status by time.
    pub fn line_refresh(ctx: Context<LineRefresh>) -> Result<()> {
        line_refresh::handler(ctx)
    }

    /// The underwriter restores a line to good standing once nothing is overdue.
    pub fn line_restore(ctx: Context<LineRestore>) -> Result<()> {
        line_restore::handler(ctx)
    }

    /// The underwriter marks part of a line's value down.
    pub fn line_impair(ctx: Context<LineImpair>, amount: u64) -> Result<()> {
        line_impair::handler(ctx, amount)
    }

    /// The underwriter reverses part of a line's impairment.
    pub fn line_impairment_reverse(ctx: Context<LineImpairmentReverse>, amount: u64) -> Result<()> {
        line_impairment_reverse::handler(ctx, amount)
    }

    /// The underwriter writes a line off through the loss waterfall.
    pub fn line_write_off(ctx: Context<LineWriteOff>) -> Result<()> {
        line_write_off::handler(ctx)
    }

    /// A merchant takes an advance on one of its authorized payments.
    pub fn advance_take(ctx: Context<AdvanceTake>, amount: u64) -> Result<()> {
        advance_take::handler(ctx, amount)
    }

    /// The pool admin sets the pool's policy (line bounds, pause).
    pub fn pool_policy_set(ctx: Context<PoolPolicySet>, args: PoolPolicyArgs) -> Result<()> {
        pool_policy_set::handler(ctx, args)
    }

    /// The pool admin hands a role to a new key, which co-signs.
    pub fn pool_role_transfer(ctx: Context<PoolRoleTransfer>, role: PoolRole) -> Result<()> {
        pool_role_transfer::handler(ctx, role)
    }

    /// Anyone books what an advanced payment paid into the pool.
    pub fn receivable_sync(ctx: Context<ReceivableSync>) -> Result<()> {
        receivable_sync::handler(ctx)
    }

    /// Anyone closes a settled advance; the rent goes back to the borrower.
    pub fn advance_close(ctx: Context<AdvanceClose>) -> Result<()> {
        advance_close::handler(ctx)
    }
}
