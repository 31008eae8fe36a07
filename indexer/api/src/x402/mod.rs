//! x402 on Kassa: the facilitator merchants' paid routes settle through (`/x402/supported`,
//! `/x402/verify`, `/x402/settle`, with the merchant's API key), the settlement lookup
//! (`GET /v1/x402/settlements/{id}`), and the axum layer a merchant's server prices its routes
//! with ([`paywall`]). See `docs/x402.md`.
//!
//! The facilitator checks a client's `exact` payment against the specification's rules
//! ([`exact::check`]) and against the merchant (it pays the merchant's settlement wallet in
//! the merchant's coin), screens the payer as every Kassa payer is screened, simulates it,
//! and only then co-signs as fee payer and sends it. Every settlement is a row of
//! `x402.settlement` keyed by the hash of the client's message, so a replayed payload is never
//! sent twice, and a settled one is an `x402.settled` notification in the same transaction.

pub mod escrow;
pub mod exact;
pub(crate) mod facilitator;
pub mod paywall;

use crate::{error::ApiError, AppState};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    hash::Hash,
    signature::{Keypair, Signature},
};
use solana_transaction_status_client_types::TransactionStatus;
use std::sync::Arc;

pub(crate) use facilitator::routes;

/// How the facilitator runs.
#[derive(Clone)]
pub struct X402Config {
    /// The key that pays every payment's fee (and signs nothing else).
    pub fee_payer: Arc<Keypair>,
    /// The CAIP-2 ids the cluster is presented as: its own (`solana:` and the first 32
    /// characters of its genesis hash) first, then any alias. The official clients know only
    /// mainnet's, devnet's and testnet's ids, so a local node is also presented as devnet (see
    /// `docs/x402.md`).
    pub networks: Vec<String>,
}

/// What the cluster knows of `sig`, if anything.
pub(crate) async fn signature_status(
    state: &AppState,
    sig: &Signature,
) -> Result<Option<TransactionStatus>, ApiError> {
    state
        .rpc
        .get_signature_statuses(&[*sig])
        .await
        .map_err(|e| ApiError::Upstream(format!("getSignatureStatuses: {e}")))
        .map(|r| r.value.into_iter().next().flatten())
}

/// Whether a transaction the cluster has not seen never will: its blockhash is no longer
/// valid, and it is still unseen when asked again after that check (it may have landed in
/// between).
pub(crate) async fn never_lands(
    state: &AppState,
    sig: &Signature,
    blockhash: &Hash,
) -> Result<bool, ApiError> {
    let valid = state
        .rpc
        .is_blockhash_valid(blockhash, CommitmentConfig::processed())
        .await
        .map_err(|e| ApiError::Upstream(format!("isBlockhashValid: {e}")))?;
    Ok(!valid && signature_status(state, sig).await?.is_none())
}
