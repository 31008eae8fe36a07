//! Events, emitted with `emit_cpi!` so they arrive as inner instructions that no log truncation
//! can drop. Every event opens with an [`EventHeader`]; amounts travel with their mint.

use anchor_lang::prelude::*;

pub use kassa_common::EventHeader;

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigInitialized {
    pub header: EventHeader,
    pub admin: Pubkey,
    pub compliance_authority: Pubkey,
    pub arbiter: Pubkey,
    pub fee_receiver: Pubkey,
    /// Basis points.
    pub protocol_fee_bps: u16,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigUpdated {
    pub header: EventHeader,
    pub admin: Pubkey,
    pub compliance_authority: Pubkey,
    pub arbiter: Pubkey,
    pub fee_receiver: Pubkey,
    /// Basis points.
    pub protocol_fee_bps: u16,
    pub paused: bool,
    pub hooks: Vec<Pubkey>,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerBlocked {
    /// Entity is the config; the wallet is named below.
    pub header: EventHeader,
    pub wallet: Pubkey,
    pub reason_hash: [u8; 32],
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerUnblocked {
    pub header: EventHeader,
    pub wallet: Pubkey,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultOpened {
    pub header: EventHeader,
    pub mint: Pubkey,
    pub vault: Pubkey,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantRegistered {
    pub header: EventHeader,
    pub authority: Pubkey,
    pub merchant_id: Pubkey,
    pub settlement_mint: Pubkey,
    pub settlement_wallet: Pubkey,
    pub policy: crate::state::MerchantPolicy,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantUpdated {
    pub header: EventHeader,
    pub authority: Pubkey,
    pub settlement_mint: Pubkey,
    pub settlement_wallet: Pubkey,
    pub policy: crate::state::MerchantPolicy,
    /// Fee tier in basis points, when the admin set one for this merchant.
    pub fee_bps: Option<u16>,
    /// The merchant's operator key; the default key when there is none.
    pub operator: Pubkey,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantKybChanged {
    pub header: EventHeader,
    pub status: crate::state::KybStatus,
    /// SHA-256 of the off-chain KYB case; no personal data on chain.
    pub case_hash: [u8; 32],
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceOpened {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub order_id: [u8; 32],
    pub mint: Pubkey,
    pub amount: u64,
    pub expires_at: i64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceCancelled {
    pub header: EventHeader,
    pub merchant: Pubkey,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceExpired {
    pub header: EventHeader,
    pub merchant: Pubkey,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentAuthorized {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub payer: Pubkey,
    pub mint: Pubkey,
    /// What the invoice asked for.
    pub requested: u64,
    /// What the escrow vault actually received (less any Token-2022 transfer fee).
    pub received: u64,
    pub authorization_expires_at: i64,
    pub refund_deadline: i64,
    pub dispute_deadline: i64,
    /// 0 when auto-capture is off.
    pub auto_capture_at: i64,
    pub kyt_cosigned: bool,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentCaptured {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub mint: Pubkey,
    /// Gross amount taken out of escrow.
    pub amount: u64,
    pub fee: u64,
    pub to_assignee: u64,
    pub to_merchant: u64,
    /// Captured so far, including this capture.
    pub captured_total: u64,
    /// True when a permissionless crank captured after the auto-capture time.
    pub auto: bool,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentVoided {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub mint: Pubkey,
    /// Returned from escrow to the payer.
    pub amount: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentReclaimed {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub mint: Pubkey,
    pub amount: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRefunded {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub mint: Pubkey,
    /// Paid by the merchant to the payer.
    pub amount: u64,
    pub refunded_total: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentDisputed {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub mint: Pubkey,
    /// Escrowed amount frozen by the dispute.
    pub amount: u64,
    pub reason_hash: [u8; 32],
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeResolved {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub mint: Pubkey,
    pub to_merchant_gross: u64,
    pub fee: u64,
    pub to_assignee: u64,
    pub to_merchant: u64,
    pub to_payer: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentHeld {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub mint: Pubkey,
    pub amount: u64,
    pub case_hash: [u8; 32],
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentReleased {
    pub header: EventHeader,
    pub merchant: Pubkey,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRejected {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub mint: Pubkey,
    /// Returned from escrow to the payer.
    pub amount: u64,
    pub case_hash: [u8; 32],
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivableAssigned {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub mint: Pubkey,
    /// Token account that captures pay first.
    pub assignee: Pubkey,
    pub amount: u64,
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentClosed {
    pub header: EventHeader,
    pub merchant: Pubkey,
    pub rent_receiver: Pubkey,
    pub lamports: u64,
}

impl ConfigUpdated {
    /// The whole post-change config, so readers never merge partial updates.
    pub fn snapshot(header: EventHeader, config: &crate::state::Config) -> Self {
        Self {
            header,
            admin: config.admin,
            compliance_authority: config.compliance_authority,
            arbiter: config.arbiter,
            fee_receiver: config.fee_receiver,
            protocol_fee_bps: config.protocol_fee_bps,
            paused: config.paused,
            hooks: config.registered_hooks(),
        }
    }
}

impl MerchantUpdated {
    /// The whole post-change merchant profile.
    pub fn snapshot(header: EventHeader, merchant: &crate::state::Merchant) -> Self {
        Self {
            header,
            authority: merchant.authority,
            settlement_mint: merchant.settlement_mint,
            settlement_wallet: merchant.settlement_wallet,
            policy: merchant.policy,
            fee_bps: merchant.fee_bps,
            operator: merchant.operator,
        }
    }
}

#[event]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentConverted {
    pub header: EventHeader,
    pub merchant: Pubkey,
    /// What the payer held and spent.
    pub input_mint: Pubkey,
    pub input_amount: u64,
    /// What arrived in escrow: exactly the invoiced amount.
    pub output_mint: Pubkey,
    pub output_amount: u64,
    /// The registered hook program and the pool (its first account) it used.
    pub hook: Pubkey,
    pub pool: Pubkey,
}
