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

use solana_sdk::signature::Keypair;
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
