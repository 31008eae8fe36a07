//! An HTTP client that pays `402` answers within a spending policy and keeps the receipts.
//!
//! ```no_run
//! # async fn run() -> Result<(), kassa_sdk::x402::client::X402Error> {
//! use kassa_sdk::x402::{client::{AssetLimit, Client, Policy}, SOLANA_DEVNET};
//! let usdc = "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU".parse().unwrap();
//! let policy = Policy {
//!     assets: vec![AssetLimit { network: SOLANA_DEVNET.into(), asset: usdc,
//!                               per_call: 50_000, per_recipient: 1_000_000 }],
//! };
//! let agent = Client::new(reqwest::Client::new(), "http://127.0.0.1:8899",
//!                         solana_sdk::signature::Keypair::new(), policy);
//! let answer = agent.get("https://api.example.com/weather").await?;
//! if let Some(r) = &answer.receipt {
//!     println!("paid {} for it in {}", r.amount, r.settlement.transaction);
//! }
//! # Ok(()) }
//! ```
//!
//! Before it signs anything the client checks the policy: only the networks and assets it
//! lists, at most `per_call` for one call and `per_recipient` in all to one recipient over the
//! client's life. A call the server did not charge for (it answered an error and no settlement)
//! gives its amount back to the budget.

use super::{
    PAYMENT_REQUIRED, PAYMENT_RESPONSE, PAYMENT_SIGNATURE, PaymentPayload, PaymentRequired,
    PaymentRequirements, SettleResponse, VERSION, decode_header, encode_header,
    exact::{self, Transfer},
};
use crate::payments::MintRef;
use anchor_lang::prelude::Pubkey;
use base64::Engine;
use serde_json::{Value, json};
use solana_sdk::{hash::Hash, signature::Keypair, signer::Signer};
use std::{collections::HashMap, str::FromStr, sync::Mutex};

/// Why a call was not made or not paid.
#[derive(Debug, thiserror::Error)]
pub enum X402Error {
    /// The request failed on the way.
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    /// The policy refused every way to pay (each reason named).
    #[error("refused by the spending policy: {0}")]
    Policy(String),
    /// The cluster's RPC failed.
    #[error("RPC: {0}")]
    Rpc(String),
    /// The server broke the protocol.
    #[error("x402: {0}")]
    Protocol(String),
    /// The server refused the payment (the specification's reason).
    #[error("the payment was refused: {reason}")]
    Refused {
        /// The reason the server or facilitator gave.
        reason: String,
    },
}

/// What the client may pay in one asset on one network.
#[derive(Clone, Debug)]
pub struct AssetLimit {
    /// The CAIP-2 network the asset is paid on.
    pub network: String,
    /// The mint.
    pub asset: Pubkey,
    /// At most this for one call (smallest unit).
    pub per_call: u64,
    /// At most this in all to one recipient (smallest unit).
    pub per_recipient: u64,
}

/// What the client may pay; anything not listed is refused.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// The assets it pays in, with their limits.
    pub assets: Vec<AssetLimit>,
}

/// What a paid call cost.
#[derive(Clone, Debug)]
pub struct Receipt {
    /// The URL paid for.
    pub url: String,
    /// The scheme used.
    pub scheme: String,
    /// The network.
    pub network: String,
    /// The mint.
    pub asset: Pubkey,
    /// The recipient.
    pub pay_to: Pubkey,
    /// The amount (smallest unit).
    pub amount: u64,
    /// The server's settlement (transaction signature, payer, settlement id).
    pub settlement: SettleResponse,
}

/// An answer, and its receipt when it was paid for.
#[derive(Debug)]
pub struct Paid {
    /// The final status.
    pub status: reqwest::StatusCode,
    /// The final headers.
    pub headers: reqwest::header::HeaderMap,
    /// The final body.
    pub body: Vec<u8>,
    /// Present when the call was paid for.
    pub receipt: Option<Receipt>,
}

/// Pays `402`s within its policy.
pub struct Client {
    http: reqwest::Client,
    rpc_url: String,
    signer: Keypair,
    policy: Policy,
    /// Paid or reserved per (asset, recipient).
    spent: Mutex<HashMap<(Pubkey, Pubkey), u64>>,
    /// Token program and decimals per mint, once read.
    mints: Mutex<HashMap<Pubkey, (Pubkey, u8)>>,
    receipts: Mutex<Vec<Receipt>>,
}

impl Client {
    /// A client paying from `signer`'s token accounts, reading mints and blockhashes from
    /// `rpc_url`.
    pub fn new(http: reqwest::Client, rpc_url: &str, signer: Keypair, policy: Policy) -> Self {
        Self {
            http,
            rpc_url: rpc_url.to_string(),
            signer,
            policy,
            spent: Mutex::default(),
            mints: Mutex::default(),
            receipts: Mutex::default(),
        }
    }

    /// The paying wallet.
    pub fn payer(&self) -> Pubkey {
        self.signer.pubkey()
    }

    /// What has been paid (or is being paid) to `pay_to` in `asset`.
    pub fn spent(&self, asset: &Pubkey, pay_to: &Pubkey) -> u64 {
        self.spent
            .lock()
            .expect("spent")
            .get(&(*asset, *pay_to))
            .copied()
            .unwrap_or(0)
    }

    /// Every receipt so far, oldest first.
    pub fn receipts(&self) -> Vec<Receipt> {
        self.receipts.lock().expect("receipts").clone()
    }

    /// `GET url`, paying if asked.
    pub async fn get(&self, url: &str) -> Result<Paid, X402Error> {
        self.request(reqwest::Method::GET, url, None).await
    }

    /// `method url` with an optional JSON body, paying if asked.
    pub async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<Paid, X402Error> {
        let build = || {
            let r = self.http.request(method.clone(), url);
            match body {
                Some(b) => r.json(b),
                None => r,
            }
        };
        let first = build().send().await?;
        if first.status() != reqwest::StatusCode::PAYMENT_REQUIRED {
            return answer(first, None).await;
        }
        let required: PaymentRequired = first
            .headers()
            .get(PAYMENT_REQUIRED)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| X402Error::Protocol("a 402 without a PAYMENT-REQUIRED header".into()))
            .and_then(|h| decode_header(h).map_err(X402Error::Protocol))?;
        if required.x402_version != VERSION {
            return Err(X402Error::Protocol(format!(
                "x402 version {} (this client speaks {VERSION})",
                required.x402_version
            )));
        }
        let (chosen, asset, pay_to, amount) = self.choose(&required.accepts)?;
        let payload = match self.sign(&chosen, &asset, &pay_to, amount).await {
            Ok(p) => p,
            Err(e) => {
                self.release(&asset, &pay_to, amount);
                return Err(e);
            }
        };
        let payload = PaymentPayload {
            x402_version: VERSION,
            resource: Some(required.resource.clone()),
            accepted: chosen.clone(),
            payload,
            extensions: required.extensions.clone(),
        };
        let paid = build()
            .header(PAYMENT_SIGNATURE, encode_header(&payload))
            .send()
            .await;
        let paid = match paid {
            Ok(p) => p,
            Err(e) => {
                // The answer is lost, not necessarily the payment: keep the reservation.
                return Err(X402Error::Http(e));
            }
        };
        let settlement: Option<SettleResponse> = paid
            .headers()
            .get(PAYMENT_RESPONSE)
            .and_then(|v| v.to_str().ok())
            .and_then(|h| decode_header(h).ok());
        match settlement {
            Some(s) if s.success => {
                let receipt = Receipt {
                    url: url.to_string(),
                    scheme: chosen.scheme.clone(),
                    network: chosen.network.clone(),
                    asset,
                    pay_to,
                    amount,
                    settlement: s,
                };
                self.receipts
                    .lock()
                    .expect("receipts")
                    .push(receipt.clone());
                answer(paid, Some(receipt)).await
            }
            other => {
                self.release(&asset, &pay_to, amount);
                if paid.status() == reqwest::StatusCode::PAYMENT_REQUIRED {
                    let reason = other
                        .and_then(|s| s.error_reason)
                        .or_else(|| {
                            paid.headers()
                                .get(PAYMENT_REQUIRED)
                                .and_then(|v| v.to_str().ok())
                                .and_then(|h| decode_header::<PaymentRequired>(h).ok())
                                .and_then(|r| r.error)
                        })
                        .unwrap_or_else(|| "the server did not say".into());
                    return Err(X402Error::Refused { reason });
                }
                // Served without a charge (the handler failed, say): the budget is untouched.
                answer(paid, None).await
            }
        }
    }

    /// The first requirement the policy allows, reserved against the budget.
    fn choose(
        &self,
        accepts: &[PaymentRequirements],
    ) -> Result<(PaymentRequirements, Pubkey, Pubkey, u64), X402Error> {
        let mut why = Vec::new();
        let mut spent = self.spent.lock().expect("spent");
        for r in accepts {
            if r.scheme != "exact" {
                why.push(format!("scheme {} is not one this client pays", r.scheme));
                continue;
            }
            let (Ok(asset), Ok(pay_to), Some(amount)) = (
                Pubkey::from_str(&r.asset),
                Pubkey::from_str(&r.pay_to),
                r.amount_u64(),
            ) else {
                why.push(format!(
                    "{} {} to {} is not a Solana payment",
                    r.amount, r.asset, r.pay_to
                ));
                continue;
            };
            let Some(limit) = self
                .policy
                .assets
                .iter()
                .find(|l| l.network == r.network && l.asset == asset)
            else {
                why.push(format!(
                    "{} on {} is not an asset the policy pays in",
                    r.asset, r.network
                ));
                continue;
            };
            if amount > limit.per_call {
                why.push(format!(
                    "{amount} is over the limit of {} per call",
                    limit.per_call
                ));
                continue;
            }
            let so_far = spent.get(&(asset, pay_to)).copied().unwrap_or(0);
            if so_far
                .checked_add(amount)
                .is_none_or(|t| t > limit.per_recipient)
            {
                why.push(format!(
                    "{amount} more to {pay_to} would pass the limit of {} per recipient ({so_far} spent)",
                    limit.per_recipient
                ));
                continue;
            }
            spent.insert((asset, pay_to), so_far + amount);
            return Ok((r.clone(), asset, pay_to, amount));
        }
        Err(X402Error::Policy(if why.is_empty() {
            "the server offered no way to pay".into()
        } else {
            why.join("; ")
        }))
    }

    fn release(&self, asset: &Pubkey, pay_to: &Pubkey, amount: u64) {
        if let Some(s) = self
            .spent
            .lock()
            .expect("spent")
            .get_mut(&(*asset, *pay_to))
        {
            *s = s.saturating_sub(amount);
        }
    }

    async fn sign(
        &self,
        r: &PaymentRequirements,
        asset: &Pubkey,
        pay_to: &Pubkey,
        amount: u64,
    ) -> Result<Value, X402Error> {
        let fee_payer = r
            .extra_str("feePayer")
            .and_then(|f| Pubkey::from_str(f).ok())
            .ok_or_else(|| X402Error::Protocol("the requirements name no feePayer".into()))?;
        let (token_program, decimals) = self.mint(asset).await?;
        let blockhash = match r
            .extra_str("recentBlockhash")
            .and_then(|h| Hash::from_str(h).ok())
        {
            Some(h) => h,
            None => {
                let v = self.rpc("getLatestBlockhash", json!([])).await?;
                v["value"]["blockhash"]
                    .as_str()
                    .and_then(|h| Hash::from_str(h).ok())
                    .ok_or_else(|| X402Error::Rpc("getLatestBlockhash gave no blockhash".into()))?
            }
        };
        let memo = match r.extra_str("memo") {
            Some(m) if m.len() <= 256 => m.as_bytes().to_vec(),
            Some(_) => return Err(X402Error::Protocol("extra.memo is over 256 bytes".into())),
            None => exact::nonce_memo(),
        };
        let t = Transfer {
            mint: MintRef::new(*asset, token_program)
                .map_err(|e| X402Error::Protocol(e.to_string()))?,
            decimals,
            amount,
            pay_to: *pay_to,
            fee_payer,
            memo,
        };
        let tx = exact::transaction(&self.signer, &t, blockhash)
            .map_err(|e| X402Error::Protocol(e.to_string()))?;
        Ok(exact::payload(&tx))
    }

    async fn mint(&self, mint: &Pubkey) -> Result<(Pubkey, u8), X402Error> {
        if let Some(m) = self.mints.lock().expect("mints").get(mint) {
            return Ok(*m);
        }
        let v = self
            .rpc(
                "getAccountInfo",
                json!([mint.to_string(), {"encoding": "base64"}]),
            )
            .await?;
        let account = &v["value"];
        let owner = account["owner"]
            .as_str()
            .and_then(|o| Pubkey::from_str(o).ok())
            .ok_or_else(|| X402Error::Rpc(format!("no mint {mint}")))?;
        let data = account["data"][0]
            .as_str()
            .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
            .ok_or_else(|| X402Error::Rpc(format!("mint {mint}: no data")))?;
        if owner != anchor_spl::token::ID && owner != anchor_spl::token_2022::ID {
            return Err(X402Error::Protocol(format!(
                "{mint} was not created by a token program"
            )));
        }
        // A mint: authority option (36), supply (8), then decimals.
        let decimals = *data
            .get(44)
            .ok_or_else(|| X402Error::Protocol(format!("{mint} is not a mint")))?;
        self.mints
            .lock()
            .expect("mints")
            .insert(*mint, (owner, decimals));
        Ok((owner, decimals))
    }

    async fn rpc(&self, method: &str, params: Value) -> Result<Value, X402Error> {
        let v: Value = self
            .http
            .post(&self.rpc_url)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
            .send()
            .await
            .map_err(|e| X402Error::Rpc(format!("{method}: {e}")))?
            .json()
            .await
            .map_err(|e| X402Error::Rpc(format!("{method}: {e}")))?;
        if let Some(e) = v.get("error") {
            return Err(X402Error::Rpc(format!("{method}: {e}")));
        }
        Ok(v["result"].clone())
    }
}

async fn answer(r: reqwest::Response, receipt: Option<Receipt>) -> Result<Paid, X402Error> {
    let status = r.status();
    let headers = r.headers().clone();
    let body = r.bytes().await?.to_vec();
    Ok(Paid {
        status,
        headers,
        body,
        receipt,
    })
}
