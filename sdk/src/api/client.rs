//! A typed client for the Kassa HTTP API.

use super::types::*;
use reqwest::Method;
use serde::{Serialize, de::DeserializeOwned};

/// What a call to the API can end in.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The API answered with a problem document.
    #[error("{} {}: {}", .0.status, .0.kind, .0.detail)]
    Problem(Box<Problem>),
    /// The API could not be reached, or answered something that is not the API's.
    #[error("transport: {0}")]
    Transport(String),
}

impl ApiError {
    /// The problem's short name (the last segment of its `type`), if the API answered one.
    pub fn kind(&self) -> Option<&str> {
        match self {
            ApiError::Problem(p) => p.kind.rsplit('/').next(),
            ApiError::Transport(_) => None,
        }
    }
}

/// A client for one API base URL and key. `Debug` leaves the key out.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Client {
    /// A client for `base` (`https://host:port`) with API key `key`.
    pub fn new(base: impl Into<String>, key: impl Into<String>) -> Result<Self, ApiError> {
        Self::with_http(reqwest::Client::new(), base, key)
    }

    /// A client that trusts the PEM CA certificate `ca_pem` (a local node's), beside the
    /// system's roots.
    pub fn with_ca(
        base: impl Into<String>,
        key: impl Into<String>,
        ca_pem: &[u8],
    ) -> Result<Self, ApiError> {
        let ca = reqwest::Certificate::from_pem(ca_pem)
            .map_err(|e| ApiError::Transport(format!("CA certificate: {e}")))?;
        let http = reqwest::Client::builder()
            .add_root_certificate(ca)
            .build()
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        Self::with_http(http, base, key)
    }

    /// A client over a configured `reqwest::Client`.
    pub fn with_http(
        http: reqwest::Client,
        base: impl Into<String>,
        key: impl Into<String>,
    ) -> Result<Self, ApiError> {
        Ok(Self {
            http,
            base: base.into().trim_end_matches('/').to_string(),
            key: key.into(),
        })
    }

    /// The same client with another key.
    pub fn with_key(&self, key: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            ..self.clone()
        }
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        idempotency_key: Option<&str>,
    ) -> Result<T, ApiError> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(e.to_string()))?;
        if status.is_success() {
            serde_json::from_slice(&bytes)
                .map_err(|e| ApiError::Transport(format!("unexpected answer ({status}): {e}")))
        } else {
            match serde_json::from_slice::<Problem>(&bytes) {
                Ok(p) => Err(ApiError::Problem(Box::new(p))),
                Err(_) => Err(ApiError::Transport(format!(
                    "{status}: {}",
                    String::from_utf8_lossy(&bytes)
                ))),
            }
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        self.call::<(), T>(Method::GET, path, None, None).await
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        idempotency_key: &str,
    ) -> Result<T, ApiError> {
        self.call(Method::POST, path, Some(body), Some(idempotency_key))
            .await
    }

    /// A merchant.
    pub async fn merchant(&self, address: &str) -> Result<Merchant, ApiError> {
        self.get(&format!("/v1/merchants/{address}")).await
    }

    /// A merchant's balances per mint.
    pub async fn balances(&self, merchant: &str) -> Result<Vec<Balance>, ApiError> {
        self.get(&format!("/v1/merchants/{merchant}/balances"))
            .await
    }

    /// A page of payments; `query` is the URL query (`merchant=…&status=…&limit=…&cursor=…`).
    pub async fn payments(&self, query: &str) -> Result<Page<Payment>, ApiError> {
        self.get(&format!("/v1/payments?{query}")).await
    }

    /// A payment.
    pub async fn payment(&self, address: &str) -> Result<Payment, ApiError> {
        self.get(&format!("/v1/payments/{address}")).await
    }

    /// A payment by its merchant's order id.
    pub async fn payment_by_order(
        &self,
        merchant: &str,
        order_id: &str,
    ) -> Result<Payment, ApiError> {
        self.get(&format!(
            "/v1/merchants/{merchant}/orders/{}",
            percent_encode(order_id)
        ))
        .await
    }

    /// A payment's timeline.
    pub async fn timeline(&self, payment: &str) -> Result<Vec<TimelineEvent>, ApiError> {
        self.get(&format!("/v1/payments/{payment}/timeline")).await
    }

    /// Where a payment stands, by Solana Pay reference.
    pub async fn status_by_reference(&self, reference: &str) -> Result<SettlementStatus, ApiError> {
        self.get(&format!("/v1/status?reference={reference}")).await
    }

    /// Where a transaction's payment stands.
    pub async fn status_by_signature(&self, signature: &str) -> Result<SettlementStatus, ApiError> {
        self.get(&format!("/v1/status?signature={signature}")).await
    }

    /// A stored transaction.
    pub async fn transaction(&self, signature: &str) -> Result<Transaction, ApiError> {
        self.get(&format!("/v1/transactions/{signature}")).await
    }

    /// Opens an invoice: the transaction for the merchant to sign.
    pub async fn create_invoice(
        &self,
        req: &CreateInvoice,
        idempotency_key: &str,
    ) -> Result<PreparedTransaction, ApiError> {
        self.post("/v1/payments", req, idempotency_key).await
    }

    /// Opts the merchant in to an operator key Kassa holds (which also lets Kassa run x402
    /// `kassa-escrow` sessions for it): the transaction for the authority and the new key.
    pub async fn create_operator_key(
        &self,
        merchant: &str,
        req: &CreateOperatorKey,
        idempotency_key: &str,
    ) -> Result<PreparedTransaction, ApiError> {
        self.post(
            &format!("/v1/merchants/{merchant}/operator"),
            req,
            idempotency_key,
        )
        .await
    }

    /// Capture: the transaction for the merchant to sign.
    pub async fn capture(
        &self,
        payment: &str,
        req: &CaptureRequest,
        idempotency_key: &str,
    ) -> Result<PreparedTransaction, ApiError> {
        self.post(
            &format!("/v1/payments/{payment}/capture"),
            req,
            idempotency_key,
        )
        .await
    }

    /// Void: the transaction for the merchant to sign.
    pub async fn void(
        &self,
        payment: &str,
        req: &VoidRequest,
        idempotency_key: &str,
    ) -> Result<PreparedTransaction, ApiError> {
        self.post(
            &format!("/v1/payments/{payment}/void"),
            req,
            idempotency_key,
        )
        .await
    }

    /// Refund: the transaction for the merchant authority to sign.
    pub async fn refund(
        &self,
        payment: &str,
        req: &RefundRequest,
        idempotency_key: &str,
    ) -> Result<PreparedTransaction, ApiError> {
        self.post(
            &format!("/v1/payments/{payment}/refund"),
            req,
            idempotency_key,
        )
        .await
    }

    /// Submits a signed transaction (base64) and waits for confirmation.
    pub async fn submit(
        &self,
        transaction_base64: &str,
        idempotency_key: &str,
    ) -> Result<Submitted, ApiError> {
        self.post(
            "/v1/transactions",
            &SubmitTransaction {
                transaction: transaction_base64.to_string(),
            },
            idempotency_key,
        )
        .await
    }

    /// Creates an account with its first key (operators).
    pub async fn create_account(
        &self,
        req: &CreateAccount,
        idempotency_key: &str,
    ) -> Result<CreatedAccount, ApiError> {
        self.post("/v1/accounts", req, idempotency_key).await
    }

    /// Rotates a key.
    pub async fn rotate_key(
        &self,
        id: &str,
        overlap_secs: Option<i64>,
        idempotency_key: &str,
    ) -> Result<NewApiKey, ApiError> {
        self.post(
            &format!("/v1/keys/{id}/rotate"),
            &RotateKey { overlap_secs },
            idempotency_key,
        )
        .await
    }

    /// Revokes a key.
    pub async fn revoke_key(&self, id: &str) -> Result<ApiKey, ApiError> {
        self.call::<(), _>(Method::DELETE, &format!("/v1/keys/{id}"), None, None)
            .await
    }

    /// Registers a webhook endpoint; the answer holds its secret, shown this once.
    pub async fn create_webhook_endpoint(
        &self,
        req: &CreateWebhookEndpoint,
        idempotency_key: &str,
    ) -> Result<NewWebhookEndpoint, ApiError> {
        self.post("/v1/webhook-endpoints", req, idempotency_key)
            .await
    }

    /// The caller's webhook endpoints.
    pub async fn webhook_endpoints(&self) -> Result<Vec<WebhookEndpoint>, ApiError> {
        self.get("/v1/webhook-endpoints").await
    }

    /// Changes a webhook endpoint (or disables or enables it).
    pub async fn update_webhook_endpoint(
        &self,
        id: &str,
        req: &UpdateWebhookEndpoint,
    ) -> Result<WebhookEndpoint, ApiError> {
        self.call(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(req),
            None,
        )
        .await
    }

    /// A new signing secret; the current one signs beside it for `overlap_secs`.
    pub async fn rotate_webhook_secret(
        &self,
        id: &str,
        overlap_secs: Option<i64>,
        idempotency_key: &str,
    ) -> Result<NewWebhookSecret, ApiError> {
        self.post(
            &format!("/v1/webhook-endpoints/{id}/rotate-secret"),
            &RotateWebhookSecret { overlap_secs },
            idempotency_key,
        )
        .await
    }

    /// Sends a `webhook.test` event to an endpoint.
    pub async fn send_webhook_test(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<WebhookDelivery, ApiError> {
        self.post(
            &format!("/v1/webhook-endpoints/{id}/test"),
            &serde_json::json!({}),
            idempotency_key,
        )
        .await
    }

    /// Queues again every message an endpoint would receive since a time or after a message.
    pub async fn replay_webhooks(
        &self,
        id: &str,
        req: &ReplayWebhooks,
        idempotency_key: &str,
    ) -> Result<Replayed, ApiError> {
        self.post(
            &format!("/v1/webhook-endpoints/{id}/replay"),
            req,
            idempotency_key,
        )
        .await
    }

    /// A page of an endpoint's deliveries (`query` as in `limit=50&cursor=…`).
    pub async fn webhook_deliveries(
        &self,
        id: &str,
        query: &str,
    ) -> Result<Page<WebhookDelivery>, ApiError> {
        self.get(&format!("/v1/webhook-endpoints/{id}/deliveries?{query}"))
            .await
    }

    /// One delivery with its attempts.
    pub async fn webhook_delivery(&self, id: &str) -> Result<WebhookDelivery, ApiError> {
        self.get(&format!("/v1/webhook-deliveries/{id}")).await
    }

    /// Sends a delivery's message again.
    pub async fn redeliver_webhook(
        &self,
        id: &str,
        idempotency_key: &str,
    ) -> Result<WebhookDelivery, ApiError> {
        self.post(
            &format!("/v1/webhook-deliveries/{id}/redeliver"),
            &serde_json::json!({}),
            idempotency_key,
        )
        .await
    }

    /// Endpoints Kassa disabled after days of failures (operators).
    pub async fn webhook_alerts(&self) -> Result<Vec<WebhookAlert>, ApiError> {
        self.get("/v1/webhook-alerts").await
    }

    /// Signs an unsigned transaction the API built with `signers` (every key it lists) and
    /// submits it.
    pub async fn sign_and_submit(
        &self,
        unsigned: &PreparedTransaction,
        signers: &[&solana_sdk::signature::Keypair],
        idempotency_key: &str,
    ) -> Result<Submitted, ApiError> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&unsigned.transaction)
            .map_err(|e| ApiError::Transport(format!("transaction base64: {e}")))?;
        let mut tx: solana_sdk::transaction::Transaction = bincode::deserialize(&bytes)
            .map_err(|e| ApiError::Transport(format!("transaction: {e}")))?;
        let blockhash = tx.message.recent_blockhash;
        tx.try_partial_sign(signers, blockhash)
            .map_err(|e| ApiError::Transport(format!("signing: {e}")))?;
        let signed = base64::engine::general_purpose::STANDARD
            .encode(bincode::serialize(&tx).map_err(|e| ApiError::Transport(e.to_string()))?);
        self.submit(&signed, idempotency_key).await
    }
}

fn percent_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
