//! kassa-compliance: what decides the compliance actions the payments program enforces.
//!
//! [`lists`] imports sanctions lists in their published formats (OFAC's `SDN_ADVANCED.XML`
//! and `sdn.csv` family, the EU consolidated list) and Kassa's own lists, each import a
//! version with what changed. [`graph`] keeps the wallet-to-wallet flows the indexer has seen
//! and the exposure of each wallet to flagged ones, precomputed. [`screen`] answers, in
//! milliseconds, whether a payer may pay. [`rules`] are the monitoring rules, kept as
//! versioned data, and [`monitor`] runs them over every authorization the indexer stores,
//! raising [`cases`] for officers and holds on chain through [`actions`], each recorded in the
//! append-only [`audit`] log. [`kyb`] runs merchants' KYB cases, with [`names`] matching
//! people and firms against the sanctions names; an approval attests the case on chain.
//! Migrations `0018_compliance.sql` and `0019_kyb.sql` hold the tables.

pub mod actions;
pub mod audit;
pub mod cases;
pub mod error;
pub mod graph;
pub mod kyb;
pub mod lists;
pub mod monitor;
pub mod names;
pub mod rules;
pub mod screen;

pub use error::{ComplianceError, Result};

use solana_sdk::pubkey::Pubkey;

/// Risk levels, in order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
    Severe,
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Risk::Low => "low",
            Risk::Medium => "medium",
            Risk::High => "high",
            Risk::Severe => "severe",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "low" => Risk::Low,
            "medium" => Risk::Medium,
            "high" => Risk::High,
            "severe" => Risk::Severe,
            _ => return None,
        })
    }
}

/// A stored 32-byte key.
pub(crate) fn pubkey(bytes: &[u8], what: &str) -> Result<Pubkey> {
    Pubkey::try_from(bytes).map_err(|_| ComplianceError::Corrupt(format!("{what} is not a key")))
}

/// The hex SHA-256 of a JSON record as serialized (how case hashes are made).
pub fn sha256_hex(record: &serde_json::Value) -> String {
    hex::encode(sha256(record.to_string().as_bytes()))
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}
