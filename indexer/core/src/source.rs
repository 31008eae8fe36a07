//! The chain side: Solana JSON-RPC against any cluster URL. Signatures per program through
//! `getSignaturesForAddress` (paged back from the tip to the cursor), transactions through
//! `getTransaction` (base64, v0 allowed), statuses for finality, with bounded retries and
//! jittered exponential backoff. Nothing here writes; a page that cannot be fetched is an
//! error and the caller does not move its cursor (fail closed).

use rand::Rng;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::{
    nonblocking::rpc_client::RpcClient, rpc_client::GetConfirmedSignaturesForAddress2Config,
};
use solana_rpc_client_api::config::RpcTransactionConfig;
use solana_sdk::{pubkey::Pubkey, signature::Signature};
use solana_transaction_status_client_types::{
    EncodedConfirmedTransactionWithStatusMeta, TransactionConfirmationStatus, UiTransactionEncoding,
};
use std::{future::Future, str::FromStr, sync::Arc, time::Duration};

/// Retry policy for one RPC call.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Self {
            attempts: 6,
            base: Duration::from_millis(100),
            max: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("rpc {call} failed after {attempts} attempts: {last}")]
    Exhausted {
        call: &'static str,
        attempts: u32,
        last: String,
    },
    #[error("rpc answered something that is not a valid {0}: {1}")]
    Garbage(&'static str, String),
}

/// A signature listed for a program, with the slot it landed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub signature: Signature,
    pub slot: u64,
}

/// What the cluster says about a stored transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Finalized, in this slot.
    Finalized(u64),
    /// Known but not yet finalized.
    Pending,
    /// The cluster does not know it (any more).
    Unknown,
}

#[derive(Clone)]
pub struct Source {
    rpc: Arc<RpcClient>,
    pub retry: Retry,
}

impl Source {
    pub fn new(url: &str) -> Self {
        Self {
            rpc: Arc::new(RpcClient::new_with_timeout_and_commitment(
                url.to_string(),
                Duration::from_secs(10),
                CommitmentConfig::confirmed(),
            )),
            retry: Retry::default(),
        }
    }

    pub fn url(&self) -> String {
        self.rpc.url()
    }

    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    /// Runs `f` until it succeeds or the attempts are spent, sleeping a jittered,
    /// exponentially growing delay between attempts.
    pub async fn retry<T, E: std::fmt::Display, F, Fut>(
        &self,
        call: &'static str,
        mut f: F,
    ) -> Result<T, SourceError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut last = String::new();
        for attempt in 0..self.retry.attempts {
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    last = e.to_string();
                    if attempt + 1 == self.retry.attempts {
                        break;
                    }
                    let exp = self.retry.base.saturating_mul(1 << attempt.min(16));
                    let cap = exp.min(self.retry.max);
                    // Full jitter: anywhere between half and all of the capped delay.
                    let ms = cap.as_millis() as u64;
                    let delay = rand::rng().random_range(ms / 2..=ms.max(1));
                    tracing::debug!(call, attempt, error = %last, delay_ms = delay, "rpc retry");
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                }
            }
        }
        Err(SourceError::Exhausted {
            call,
            attempts: self.retry.attempts,
            last,
        })
    }

    /// Every signature of `program` at or after `from_slot`, oldest first (as landed).
    pub async fn signatures_since(
        &self,
        program: &Pubkey,
        from_slot: u64,
    ) -> Result<Vec<Listed>, SourceError> {
        let mut out = Vec::new();
        let mut before: Option<Signature> = None;
        loop {
            let page = self
                .retry("getSignaturesForAddress", || {
                    self.rpc.get_signatures_for_address_with_config(
                        program,
                        GetConfirmedSignaturesForAddress2Config {
                            before,
                            until: None,
                            limit: Some(1000),
                            commitment: Some(CommitmentConfig::confirmed()),
                        },
                    )
                })
                .await?;
            let full = page.len() == 1000;
            let mut reached = false;
            let mut last = None;
            for s in page {
                // Newest first: once below the cursor slot, everything older is stored.
                if s.slot < from_slot {
                    reached = true;
                    break;
                }
                let signature = Signature::from_str(&s.signature)
                    .map_err(|_| SourceError::Garbage("signature", s.signature.clone()))?;
                last = Some(signature);
                out.push(Listed {
                    signature,
                    slot: s.slot,
                });
            }
            if reached || !full {
                break;
            }
            before = match last {
                Some(s) => Some(s),
                None => break,
            };
        }
        // Within a page newest first; a slot never goes up while walking back.
        if out.windows(2).any(|w| w[1].slot > w[0].slot) {
            return Err(SourceError::Garbage(
                "signature page",
                "slots out of order".into(),
            ));
        }
        out.reverse();
        Ok(out)
    }

    /// The transaction, or `None` when the cluster no longer has it (dropped fork).
    pub async fn transaction(
        &self,
        signature: &Signature,
    ) -> Result<Option<EncodedConfirmedTransactionWithStatusMeta>, SourceError> {
        let sig = *signature;
        let config = RpcTransactionConfig {
            encoding: Some(UiTransactionEncoding::Base64),
            commitment: Some(CommitmentConfig::confirmed()),
            max_supported_transaction_version: Some(0),
        };
        match self
            .retry("getTransaction", || {
                self.rpc.get_transaction_with_config(&sig, config)
            })
            .await
        {
            Ok(t) => Ok(Some(t)),
            Err(e) => {
                // Listed a moment ago but not fetchable: gone if the cluster forgot it.
                if self.status(&[sig]).await?[0] == Status::Unknown {
                    tracing::warn!(%signature, "listed transaction vanished before fetch");
                    Ok(None)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Finality of each signature (searching the whole history).
    pub async fn status(&self, signatures: &[Signature]) -> Result<Vec<Status>, SourceError> {
        let mut out = Vec::with_capacity(signatures.len());
        for sigs in signatures.chunks(256) {
            let statuses = self
                .retry("getSignatureStatuses", || {
                    self.rpc.get_signature_statuses_with_history(sigs)
                })
                .await?
                .value;
            if statuses.len() != sigs.len() {
                return Err(SourceError::Garbage(
                    "signature statuses",
                    format!("{} answers for {} signatures", statuses.len(), sigs.len()),
                ));
            }
            out.extend(statuses.into_iter().map(|s| match s {
                None => Status::Unknown,
                Some(s) => match s.confirmation_status {
                    Some(TransactionConfirmationStatus::Finalized) => Status::Finalized(s.slot),
                    _ => Status::Pending,
                },
            }));
        }
        Ok(out)
    }

    pub async fn genesis_hash(&self) -> Result<String, SourceError> {
        Ok(self
            .retry("getGenesisHash", || self.rpc.get_genesis_hash())
            .await?
            .to_string())
    }

    pub async fn slot(&self, commitment: CommitmentConfig) -> Result<u64, SourceError> {
        self.retry("getSlot", || self.rpc.get_slot_with_commitment(commitment))
            .await
    }
}
