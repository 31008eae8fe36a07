//! kassa_payments: escrowed merchant payments on Solana.
//!
//! Merchants (KYB-verified by the compliance authority) open invoices; payers authorize them by
//! moving funds into a per-mint escrow vault; merchants capture (partially, repeatedly), void or
//! refund; payers reclaim expired authorizations or dispute; the arbiter resolves disputes; the
//! compliance authority holds, releases or rejects. Every state change is an `emit_cpi!` event.
//! See `docs/payments.md` for the lifecycle and each instruction's rules.
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
pub mod token;

use instructions::*;

declare_id!("KassaPaykKEskpeBxQWRNWRYTkqYEaZ5HFe9r7xgpnh");

#[program]
pub mod kassa_payments {
    use super::*;

    /// Creates the protocol config (upgrade authority only on an upgradeable deployment).
    pub fn config_init(ctx: Context<ConfigInit>, args: ConfigInitArgs) -> Result<()> {
        config_init::handler(ctx, args)
    }

    /// Admin changes roles, the protocol fee (under the hard cap), pause and the hook registry.
    pub fn config_update(ctx: Context<ConfigUpdate>, args: ConfigUpdateArgs) -> Result<()> {
        config_update::handler(ctx, args)
    }

    /// Admin hands the admin role to a new key that co-signs.
    pub fn config_transfer_admin(ctx: Context<ConfigTransferAdmin>) -> Result<()> {
        config_transfer_admin::handler(ctx)
    }

    /// Anyone opens the escrow vault of a supported mint.
    pub fn vault_open(ctx: Context<VaultOpen>) -> Result<()> {
        vault_open::handler(ctx)
    }

    /// A merchant registers, pending KYB.
    pub fn merchant_register(
        ctx: Context<MerchantRegister>,
        args: MerchantRegisterArgs,
    ) -> Result<()> {
        merchant_register::handler(ctx, args)
    }

    /// The merchant changes its authority, settlement mint or wallet, or policy.
    pub fn merchant_update(ctx: Context<MerchantUpdate>, args: MerchantUpdateArgs) -> Result<()> {
        merchant_update::handler(ctx, args)
    }

    /// The merchant authority sets, rotates (the new operator co-signs) or removes its operator.
    pub fn merchant_operator_set(ctx: Context<MerchantOperatorSet>) -> Result<()> {
        merchant_operator_set::handler(ctx)
    }

    /// Admin sets a merchant's fee tier.
    pub fn merchant_set_fee_tier(
        ctx: Context<MerchantSetFeeTier>,
        fee_bps: Option<u16>,
    ) -> Result<()> {
        merchant_set_fee_tier::handler(ctx, fee_bps)
    }

    /// Compliance approves a merchant's KYB, recording the case hash.
    pub fn merchant_kyb_attest(ctx: Context<MerchantKyb>, case_hash: [u8; 32]) -> Result<()> {
        merchant_kyb_attest::handler(ctx, case_hash)
    }

    /// Compliance suspends a merchant.
    pub fn merchant_kyb_suspend(ctx: Context<MerchantKyb>, case_hash: [u8; 32]) -> Result<()> {
        merchant_kyb_suspend::handler(ctx, case_hash)
    }

    /// Compliance blocks a wallet from paying.
    pub fn blocklist_add(
        ctx: Context<BlocklistAdd>,
        wallet: Pubkey,
        reason_hash: [u8; 32],
    ) -> Result<()> {
        blocklist_add::handler(ctx, wallet, reason_hash)
    }

    /// Compliance unblocks a wallet.
    pub fn blocklist_remove(ctx: Context<BlocklistRemove>) -> Result<()> {
        blocklist_remove::handler(ctx)
    }

    /// The merchant opens an invoice.
    pub fn invoice_open(ctx: Context<InvoiceOpen>, args: InvoiceOpenArgs) -> Result<()> {
        invoice_open::handler(ctx, args)
    }

    /// The merchant cancels an unpaid invoice.
    pub fn invoice_cancel(ctx: Context<InvoiceCancel>) -> Result<()> {
        invoice_cancel::handler(ctx)
    }

    /// Anyone expires an unpaid invoice past its expiry.
    pub fn invoice_expire(ctx: Context<InvoiceExpire>) -> Result<()> {
        invoice_expire::handler(ctx)
    }

    /// The payer pays an invoice into escrow.
    pub fn payment_pay(ctx: Context<PaymentPay>) -> Result<()> {
        payment_pay::handler(ctx)
    }

    /// The payer pays in another token through a registered conversion hook, spending at most
    /// `max_in`; the escrow must receive exactly the invoiced amount.
    pub fn payment_pay_with_conversion<'info>(
        ctx: Context<'info, PaymentPayWithConversion<'info>>,
        max_in: u64,
    ) -> Result<()> {
        payment_pay_with_conversion::handler(ctx, max_in)
    }

    /// The merchant captures part or all of the escrow.
    pub fn payment_capture(ctx: Context<PaymentCapture>, amount: u64) -> Result<()> {
        payment_capture::handler(ctx, amount)
    }

    /// Anyone captures the whole escrow once auto-capture is due.
    pub fn payment_auto_capture(ctx: Context<PaymentAutoCapture>) -> Result<()> {
        payment_auto_capture::handler(ctx)
    }

    /// The merchant voids what is still escrowed.
    pub fn payment_void(ctx: Context<PaymentVoid>) -> Result<()> {
        payment_void::handler(ctx)
    }

    /// The payer reclaims the escrow after the authorization expired.
    pub fn payment_reclaim(ctx: Context<PaymentReclaim>) -> Result<()> {
        payment_reclaim::handler(ctx)
    }

    /// The merchant refunds part of what it captured, until the refund deadline.
    pub fn payment_refund(ctx: Context<PaymentRefund>, amount: u64) -> Result<()> {
        payment_refund::handler(ctx, amount)
    }

    /// The payer disputes the escrowed funds before the dispute deadline.
    pub fn dispute_open(ctx: Context<DisputeOpen>, reason_hash: [u8; 32]) -> Result<()> {
        dispute_open::handler(ctx, reason_hash)
    }

    /// The arbiter splits a disputed escrow between merchant and payer.
    pub fn dispute_resolve(
        ctx: Context<DisputeResolve>,
        to_merchant: u64,
        to_payer: u64,
    ) -> Result<()> {
        dispute_resolve::handler(ctx, to_merchant, to_payer)
    }

    /// Compliance holds an authorized payment.
    pub fn hold_place(ctx: Context<ComplianceHold>, case_hash: [u8; 32]) -> Result<()> {
        hold_place::handler(ctx, case_hash)
    }

    /// Compliance releases a held payment.
    pub fn hold_release(ctx: Context<ComplianceHold>) -> Result<()> {
        hold_release::handler(ctx)
    }

    /// Compliance rejects a held payment, returning the escrow to the payer.
    pub fn hold_reject(ctx: Context<HoldReject>, case_hash: [u8; 32]) -> Result<()> {
        hold_reject::handler(ctx, case_hash)
    }

    /// The merchant assigns a payment's capture proceeds to a token account (credit pools).
    pub fn receivable_assign(ctx: Context<ReceivableAssign>, amount: u64) -> Result<()> {
        receivable_assign::handler(ctx, amount)
    }

    /// Anyone closes a settled payment; the rent returns to the merchant authority.
    pub fn payment_close(ctx: Context<PaymentClose>) -> Result<()> {
        payment_close::handler(ctx)
    }
}
