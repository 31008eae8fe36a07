use crate::{
    constants::{
        MAX_AUTHORIZATION_WINDOW, MAX_DISPUTE_WINDOW, MAX_PROTOCOL_FEE_BPS, MAX_REFUND_WINDOW,
        MIN_AUTHORIZATION_WINDOW,
    },
    error::PaymentsError,
};
use anchor_lang::prelude::*;
use kassa_common::SafeMath;

/// KYB state of a merchant, written only by the compliance authority.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KybStatus {
    /// Registered, not yet verified: cannot open invoices or receive payments.
    Pending,
    /// Verified: may open invoices and receive payments.
    Approved,
    /// Verification withdrawn: existing payments can still settle, nothing new is accepted.
    Suspended,
}

impl KybStatus {
    /// Every KYB status.
    pub const ALL: [KybStatus; 3] = [
        KybStatus::Pending,
        KybStatus::Approved,
        KybStatus::Suspended,
    ];

    /// The status's name off chain: lowercase, stable.
    pub fn name(self) -> &'static str {
        match self {
            KybStatus::Pending => "pending",
            KybStatus::Approved => "approved",
            KybStatus::Suspended => "suspended",
        }
    }
}

/// How a merchant's payments behave. All durations are in seconds, counted from authorization.
#[derive(AnchorSerialize, AnchorDeserialize, InitSpace, Clone, Copy, Debug, PartialEq, Eq)]
pub struct MerchantPolicy {
    /// How long an authorization holds funds before the payer may reclaim them.
    pub authorization_window: i64,
    /// Delay after which anyone may capture the whole escrow; 0 disables auto-capture.
    pub auto_capture_delay: i64,
    /// How long refunds are accepted.
    pub refund_window: i64,
    /// How long the payer may open a dispute on escrowed funds.
    pub dispute_window: i64,
    /// Payments must be co-signed by the compliance authority after KYT screening.
    pub require_kyt: bool,
}

impl MerchantPolicy {
    /// Checks every bound; each failure names the broken rule.
    pub fn validate(&self) -> Result<()> {
        require!(
            (MIN_AUTHORIZATION_WINDOW..=MAX_AUTHORIZATION_WINDOW)
                .contains(&self.authorization_window),
            PaymentsError::AuthorizationWindowOutOfBounds
        );
        require!(
            (0..=MAX_REFUND_WINDOW).contains(&self.refund_window),
            PaymentsError::RefundWindowOutOfBounds
        );
        require!(
            (0..=MAX_DISPUTE_WINDOW).contains(&self.dispute_window),
            PaymentsError::DisputeWindowOutOfBounds
        );
        require!(
            (0..self.authorization_window).contains(&self.auto_capture_delay),
            PaymentsError::AutoCaptureDelayOutOfBounds
        );
        Ok(())
    }
}

/// A merchant (PDA `["merchant", merchant_id]`). `merchant_id` is fixed at registration so the
/// authority can be rotated without moving the account.
#[account]
#[derive(InitSpace, Debug)]
pub struct Merchant {
    /// Signs invoices, captures, voids, refunds and receivable assignments, and changes the
    /// merchant.
    pub authority: Pubkey,
    /// Seed of this PDA, chosen at registration (usually the first authority).
    pub merchant_id: Pubkey,
    /// Mint new invoices are denominated in.
    pub settlement_mint: Pubkey,
    /// Wallet whose token accounts receive captured funds.
    pub settlement_wallet: Pubkey,
    pub kyb_status: KybStatus,
    /// SHA-256 of the off-chain KYB case; never personal data.
    pub kyb_case_hash: [u8; 32],
    /// Unix timestamp (seconds) of the last KYB decision.
    pub kyb_updated_at: i64,
    pub policy: MerchantPolicy,
    /// Fee tier in basis points set by the admin; `None` uses the protocol default.
    pub fee_bps: Option<u16>,
    /// Sequence number of the next event about this merchant.
    pub seq: u64,
    pub bump: u8,
    /// A key the authority hands to a server: it may open and cancel invoices, capture (always
    /// to the settlement wallet) and void, nothing else. The default key when there is none.
    pub operator: Pubkey,
    pub reserved: [u8; 32],
}

impl Merchant {
    /// Whether the merchant may open invoices and receive payments.
    pub fn can_transact(&self) -> bool {
        self.kyb_status == KybStatus::Approved
    }

    /// Whether `signer` may open and cancel invoices, capture and void for this merchant: the
    /// authority, or the operator when one is set.
    pub fn may_operate(&self, signer: &Pubkey) -> bool {
        *signer == self.authority
            || (self.operator != Pubkey::default() && *signer == self.operator)
    }

    /// Checks `signer` may operate this merchant ([`Merchant::may_operate`]).
    pub fn require_operator(&self, signer: &Pubkey) -> Result<()> {
        require!(self.may_operate(signer), PaymentsError::NotMerchantOperator);
        Ok(())
    }

    /// Who gets a closed payment's rent back: whoever paid it when opening the invoice, the
    /// operator (the current one, keys rotate) or the authority. A payment opened by an operator
    /// that has since been removed returns its rent to the authority.
    pub fn rent_receiver(&self, payment_opened_by_operator: bool) -> Pubkey {
        if payment_opened_by_operator && self.operator != Pubkey::default() {
            self.operator
        } else {
            self.authority
        }
    }

    /// Fee in basis points charged on this merchant's captures.
    pub fn effective_fee_bps(&self, protocol_fee_bps: u16) -> u16 {
        self.fee_bps.unwrap_or(protocol_fee_bps)
    }

    /// Returns the current sequence number and advances it.
    pub fn next_seq(&mut self) -> Result<u64> {
        let seq = self.seq;
        self.seq = seq.safe_add(1)?;
        Ok(seq)
    }

    pub fn invariant(&self) -> Result<()> {
        self.policy
            .validate()
            .map_err(|_| PaymentsError::InvariantViolated)?;
        require!(
            self.fee_bps.is_none_or(|bps| bps <= MAX_PROTOCOL_FEE_BPS),
            PaymentsError::InvariantViolated
        );
        // The operator is a second key, never the authority itself.
        require!(
            self.operator != self.authority,
            PaymentsError::InvariantViolated
        );
        // An approved or suspended merchant carries the case that decided it.
        require!(
            self.kyb_status == KybStatus::Pending || self.kyb_case_hash != [0; 32],
            PaymentsError::InvariantViolated
        );
        Ok(())
    }
}
