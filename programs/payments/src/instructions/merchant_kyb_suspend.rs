use super::merchant_kyb_attest::{set_kyb, MerchantKyb};
use crate::state::KybStatus;
use anchor_lang::prelude::*;

/// Suspends a merchant: no new invoices or payments; existing escrow can still settle.
#[access_control(ctx.accounts.validate(&case_hash))]
pub fn handler(ctx: Context<MerchantKyb>, case_hash: [u8; 32]) -> Result<()> {
    set_kyb(ctx, KybStatus::Suspended, case_hash)
}
