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
    PaymentRequirements, SettleResponse, VERSION, decode_header, encode_header, escrow,
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
    /// Open `kassa-escrow` sessions per (facilitator, merchant, asset).
    sessions: Mutex<HashMap<(String, String, Pubkey), OpenedSession>>,
    /// The last facilitator a session was opened with.
    last_facilitator: Mutex<Option<String>>,
}

/// A session this client opened.
#[derive(Clone, Debug)]
struct OpenedSession {
    session: String,
    facilitator: String,
    asset: Pubkey,
    pay_to: Pubkey,
    budget: u64,
    /// Reserved or captured by this client's calls.
    used: u64,
}

/// How a call is paid.
struct Plan {
    requirements: PaymentRequirements,
    asset: Pubkey,
    pay_to: Pubkey,
    amount: u64,
    /// `kassa-escrow`: the session's key.
    session: Option<(String, String, Pubkey)>,
    /// `kassa-escrow`: a new session of this budget is opened first.
    open_budget: Option<u64>,
}

fn rand_u128() -> u128 {
    let k = Keypair::new().pubkey().to_bytes();
    u128::from_le_bytes(k[..16].try_into().expect("16 bytes"))
}

async fn read<T: serde::de::DeserializeOwned>(r: reqwest::Response) -> Result<T, X402Error> {
    let status = r.status();
    if !status.is_success() {
        let body = r.text().await.unwrap_or_default();
        return Err(X402Error::Refused {
            reason: format!("the facilitator answered {status}: {body}"),
        });
    }
    r.json()
        .await
        .map_err(|e| X402Error::Protocol(format!("the facilitator's answer: {e}")))
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
            sessions: Mutex::default(),
            last_facilitator: Mutex::default(),
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
        let plan = self.plan(&required.accepts)?;
        let (chosen, asset, pay_to, amount) = (
            plan.requirements.clone(),
            plan.asset,
            plan.pay_to,
            plan.amount,
        );
        let payload = match self.pay(&plan, &required.resource.url).await {
            Ok(p) => p,
            Err(e) => {
                self.undo(&plan);
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
        let header = encode_header(&payload);
        // A lost answer is asked for again with the same payment: the server answers what it
        // kept, and charges nothing twice.
        let mut attempt = 0;
        let paid = loop {
            match build().header(PAYMENT_SIGNATURE, &header).send().await {
                Ok(p) => break p,
                Err(e) if attempt < 2 => {
                    attempt += 1;
                    let _ = e;
                    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
                }
                // The answer is lost, not necessarily the payment: keep the reservation.
                Err(e) => return Err(X402Error::Http(e)),
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
                self.undo(&plan);
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

    /// The first requirement the policy allows (`kassa-escrow` first when offered), with its
    /// amount reserved: in the session's budget for escrow (a new session's budget counted
    /// against the recipient's limit), in the recipient's limit for `exact`.
    fn plan(&self, accepts: &[PaymentRequirements]) -> Result<Plan, X402Error> {
        let mut why = Vec::new();
        let mut spent = self.spent.lock().expect("spent");
        let mut sessions = self.sessions.lock().expect("sessions");
        let mut ordered: Vec<&PaymentRequirements> = accepts
            .iter()
            .filter(|r| r.scheme == escrow::SCHEME)
            .collect();
        ordered.extend(accepts.iter().filter(|r| r.scheme != escrow::SCHEME));
        for r in ordered {
            if r.scheme != "exact" && r.scheme != escrow::SCHEME {
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
            let room = limit.per_recipient.saturating_sub(so_far);
            if r.scheme == escrow::SCHEME {
                let (Some(merchant), Some(facilitator)) =
                    (r.extra_str("merchant"), r.extra_str("facilitator"))
                else {
                    why.push("a kassa-escrow offer without its merchant and facilitator".into());
                    continue;
                };
                let key = (facilitator.to_string(), merchant.to_string(), asset);
                if let Some(s) = sessions
                    .get_mut(&key)
                    .filter(|s| s.budget - s.used >= amount)
                {
                    s.used += amount;
                    return Ok(Plan {
                        requirements: r.clone(),
                        asset,
                        pay_to,
                        amount,
                        session: Some(key),
                        open_budget: None,
                    });
                }
                if room < amount {
                    why.push(format!(
                        "a session for {amount} more to {pay_to} would pass the limit of {} per recipient ({so_far} spent or held)",
                        limit.per_recipient
                    ));
                    continue;
                }
                // A new session holds the rest of what may go to this recipient.
                spent.insert((asset, pay_to), so_far + room);
                return Ok(Plan {
                    requirements: r.clone(),
                    asset,
                    pay_to,
                    amount,
                    session: Some(key),
                    open_budget: Some(room),
                });
            }
            if room < amount {
                why.push(format!(
                    "{amount} more to {pay_to} would pass the limit of {} per recipient ({so_far} spent or held)",
                    limit.per_recipient
                ));
                continue;
            }
            spent.insert((asset, pay_to), so_far + amount);
            return Ok(Plan {
                requirements: r.clone(),
                asset,
                pay_to,
                amount,
                session: None,
                open_budget: None,
            });
        }
        Err(X402Error::Policy(if why.is_empty() {
            "the server offered no way to pay".into()
        } else {
            why.join("; ")
        }))
    }

    /// Gives back what [`Client::plan`] reserved for a call that was not charged.
    fn undo(&self, plan: &Plan) {
        match (&plan.session, plan.open_budget) {
            (Some(key), None) => {
                if let Some(s) = self.sessions.lock().expect("sessions").get_mut(key) {
                    s.used = s.used.saturating_sub(plan.amount);
                }
            }
            (Some(key), Some(budget)) => {
                let opened = self
                    .sessions
                    .lock()
                    .expect("sessions")
                    .get_mut(key)
                    .map(|s| s.used = s.used.saturating_sub(plan.amount))
                    .is_some();
                if !opened {
                    self.release(&plan.asset, &plan.pay_to, budget);
                }
            }
            (None, _) => self.release(&plan.asset, &plan.pay_to, plan.amount),
        }
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

    /// The payment's payload: an `exact` transfer, or a call on a (new) escrow session.
    async fn pay(&self, plan: &Plan, resource: &str) -> Result<Value, X402Error> {
        let Some(key) = &plan.session else {
            return self
                .sign(&plan.requirements, &plan.asset, &plan.pay_to, plan.amount)
                .await;
        };
        if let Some(budget) = plan.open_budget {
            let session = self
                .open_session(&plan.requirements, &plan.asset, budget)
                .await?;
            self.sessions.lock().expect("sessions").insert(
                key.clone(),
                OpenedSession {
                    session,
                    facilitator: key.0.clone(),
                    asset: plan.asset,
                    pay_to: plan.pay_to,
                    budget,
                    used: plan.amount,
                },
            );
        }
        let session = self
            .sessions
            .lock()
            .expect("sessions")
            .get(key)
            .map(|s| s.session.clone())
            .ok_or_else(|| X402Error::Protocol("the session went away".into()))?;
        let call = format!("xc_{:032x}", rand_u128());
        let amount = plan.amount.to_string();
        let signature = self
            .signer
            .sign_message(&escrow::call_message(&session, &call, &amount, resource));
        Ok(serde_json::to_value(escrow::CallPayload {
            session,
            call,
            amount,
            resource: resource.to_string(),
            signature: signature.to_string(),
        })
        .expect("a call serializes"))
    }

    /// Opens a session of `budget` with the facilitator the requirements name: checks the
    /// offered transaction is exactly that, signs it and hands it back.
    async fn open_session(
        &self,
        r: &PaymentRequirements,
        asset: &Pubkey,
        budget: u64,
    ) -> Result<String, X402Error> {
        let facilitator = r
            .extra_str("facilitator")
            .unwrap_or_default()
            .trim_end_matches('/');
        let merchant = r
            .extra_str("merchant")
            .and_then(|m| Pubkey::from_str(m).ok())
            .ok_or_else(|| X402Error::Protocol("the offer names no merchant".into()))?;
        let fee_payer = r
            .extra_str("feePayer")
            .and_then(|f| Pubkey::from_str(f).ok())
            .ok_or_else(|| X402Error::Protocol("the requirements name no feePayer".into()))?;
        *self.last_facilitator.lock().expect("facilitator") = Some(facilitator.to_string());
        let offer: escrow::SessionOffer = self
            .facilitator(
                self.http
                    .post(format!("{facilitator}/escrow/sessions"))
                    .json(&escrow::OpenSession {
                        merchant: merchant.to_string(),
                        payer: self.signer.pubkey().to_string(),
                        budget: budget.to_string(),
                        network: r.network.clone(),
                    }),
            )
            .await?;
        let mut tx: solana_sdk::transaction::Transaction =
            base64::engine::general_purpose::STANDARD
                .decode(&offer.transaction)
                .ok()
                .and_then(|b| bincode::deserialize(&b).ok())
                .ok_or_else(|| X402Error::Protocol("the offer is not a transaction".into()))?;
        let (token_program, _) = self.mint(asset).await?;
        let mint =
            MintRef::new(*asset, token_program).map_err(|e| X402Error::Protocol(e.to_string()))?;
        let session = escrow::check_offer(
            &tx,
            &self.signer.pubkey(),
            &fee_payer,
            &merchant,
            &mint,
            budget,
        )
        .map_err(X402Error::Protocol)?;
        if session.to_string() != offer.session {
            return Err(X402Error::Protocol(
                "the offer names another session".into(),
            ));
        }
        let blockhash = tx.message.recent_blockhash;
        tx.try_partial_sign(&[&self.signer], blockhash)
            .map_err(|e| X402Error::Protocol(format!("signing the session: {e}")))?;
        let wire = base64::engine::general_purpose::STANDARD
            .encode(bincode::serialize(&tx).expect("a transaction serializes"));
        let opened: escrow::Session = self
            .facilitator(
                self.http
                    .post(format!("{facilitator}/escrow/sessions/{session}/authorize"))
                    .json(&escrow::AuthorizeSession { transaction: wire }),
            )
            .await?;
        if opened.status != "open" {
            return Err(X402Error::Refused {
                reason: format!("the session is {}", opened.status),
            });
        }
        Ok(opened.session)
    }

    /// Closes every open session: what they did not capture goes back to the agent's wallet
    /// (and back into its budget). Answers the closed sessions.
    pub async fn close_sessions(&self) -> Result<Vec<escrow::Session>, X402Error> {
        let open: Vec<((String, String, Pubkey), OpenedSession)> =
            self.sessions.lock().expect("sessions").drain().collect();
        let mut closed = Vec::new();
        for (_, s) in open {
            let signature = self
                .signer
                .sign_message(&escrow::close_message(&s.session))
                .to_string();
            let mut tries = 0;
            let done: escrow::Session = loop {
                let r = self
                    .http
                    .post(format!(
                        "{}/escrow/sessions/{}/close",
                        s.facilitator, s.session
                    ))
                    .json(&escrow::CloseSession {
                        signature: signature.clone(),
                    })
                    .send()
                    .await?;
                // Calls still in flight: the facilitator asks to come back.
                if r.status() == reqwest::StatusCode::CONFLICT && tries < 40 {
                    tries += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                    continue;
                }
                break read(r).await?;
            };
            let captured: u64 = done.captured.parse().unwrap_or(s.budget);
            self.release(&s.asset, &s.pay_to, s.budget.saturating_sub(captured));
            closed.push(done);
        }
        Ok(closed)
    }

    /// Where a `kassa-escrow` call stands (for a receipt whose answer was lost, or to see its
    /// capture land).
    pub async fn call_status(&self, receipt: &Receipt) -> Result<escrow::CallStatus, X402Error> {
        let call = receipt
            .settlement
            .extra
            .get("settlementId")
            .and_then(Value::as_str)
            .ok_or_else(|| X402Error::Protocol("the receipt has no settlement id".into()))?;
        let facilitator = self
            .sessions
            .lock()
            .expect("sessions")
            .values()
            .next()
            .map(|s| s.facilitator.clone())
            .or_else(|| self.last_facilitator.lock().expect("facilitator").clone())
            .ok_or_else(|| X402Error::Protocol("no facilitator known".into()))?;
        self.facilitator(self.http.get(format!("{facilitator}/escrow/calls/{call}")))
            .await
    }

    async fn facilitator<T: serde::de::DeserializeOwned>(
        &self,
        r: reqwest::RequestBuilder,
    ) -> Result<T, X402Error> {
        read(r.send().await?).await
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
