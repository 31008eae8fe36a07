//! The layer a merchant's axum server prices its routes with, settling through Kassa's
//! facilitator:
//!
//! ```ignore
//! let paywall = Paywall::new(Facilitator::new(http, "https://kassa.example/x402", api_key),
//!                            "https://api.shop.example");
//! let app = Router::new().route(
//!     "/weather",
//!     get(weather).route_layer(axum::middleware::from_fn_with_state(
//!         paywall.price(Price::new(10_000, usdc, settlement_wallet, "Today's weather")),
//!         gate,
//!     )),
//! );
//! ```
//!
//! A request without a payment gets `402` with the requirements in `PAYMENT-REQUIRED`:
//! `kassa-escrow` first when Kassa holds the merchant's operator key, then `exact`.
//!
//! - `exact`: the payment is verified by the facilitator, then the route is served; only a
//!   `2xx` answer is settled, and it is sent with the settlement in `PAYMENT-RESPONSE`. A
//!   handler that fails costs the client nothing: its answer goes back as it is and the payment
//!   is never sent. A payment that does not settle withholds the answer (`402`).
//! - `kassa-escrow`: the call's price is reserved against the agent's session, the route is
//!   served (within the price's `max_timeout_seconds`), and only once a `2xx` answer's body
//!   has been written is it captured, with the answer kept for a retry of the same call. A
//!   failed or timed-out handler releases the reservation. A retried call that was delivered
//!   gets the kept answer again and is not charged again.

use axum::body::Body;
use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use base64::{engine::general_purpose::STANDARD, Engine};
use bytes::Bytes;
use http_body::Frame;
use kassa_sdk::x402::{
    decode_header, encode_header, escrow, FacilitatorRequest, PaymentPayload, PaymentRequired,
    PaymentRequirements, ResourceInfo, SettleResponse, Supported, VerifyResponse, PAYMENT_REQUIRED,
    PAYMENT_RESPONSE, PAYMENT_SIGNATURE, VERSION,
};
use serde_json::{json, Map};
use solana_sdk::pubkey::Pubkey;
use std::sync::Arc;
use std::{
    convert::Infallible,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};
use tokio::sync::OnceCell;

/// Kassa's facilitator, reached over HTTP with the merchant's API key.
pub struct Facilitator {
    http: reqwest::Client,
    base: String,
    key: String,
    supported: OnceCell<Supported>,
}

impl Facilitator {
    /// The facilitator at `base` (`https://<kassa>/x402`), called with `key`.
    pub fn new(http: reqwest::Client, base: &str, key: &str) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            key: key.to_string(),
            supported: OnceCell::new(),
        }
    }

    /// What it settles (read once).
    pub async fn supported(&self) -> Result<&Supported, String> {
        self.supported
            .get_or_try_init(|| async {
                self.call::<Supported>(self.http.get(format!("{}/supported", self.base)))
                    .await
            })
            .await
    }

    /// Whether a payment would settle.
    pub async fn verify(&self, req: &FacilitatorRequest) -> Result<VerifyResponse, String> {
        self.call(self.http.post(format!("{}/verify", self.base)).json(req))
            .await
    }

    /// Settles a payment.
    pub async fn settle(&self, req: &FacilitatorRequest) -> Result<SettleResponse, String> {
        self.call(self.http.post(format!("{}/settle", self.base)).json(req))
            .await
    }

    /// Releases a `kassa-escrow` call that was not served.
    pub async fn release(&self, call: &str) -> Result<escrow::CallStatus, String> {
        self.call(
            self.http
                .post(format!("{}/escrow/release", self.base))
                .json(&json!({ "call": call })),
        )
        .await
    }

    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        r: reqwest::RequestBuilder,
    ) -> Result<T, String> {
        let r = r
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| format!("the facilitator cannot be reached: {e}"))?;
        let status = r.status();
        if !status.is_success() {
            let body = r.text().await.unwrap_or_default();
            return Err(format!("the facilitator answered {status}: {body}"));
        }
        r.json()
            .await
            .map_err(|e| format!("the facilitator's answer is not what x402 says: {e}"))
    }
}

/// A route's price.
#[derive(Clone, Debug)]
pub struct Price {
    /// The amount in the mint's smallest unit.
    pub amount: u64,
    /// The mint (the merchant's settlement mint).
    pub asset: Pubkey,
    /// The recipient (the merchant's settlement wallet).
    pub pay_to: Pubkey,
    /// The network to ask for; `None`: the facilitator's first.
    pub network: Option<String>,
    /// What the payment buys.
    pub description: String,
    /// The answer's media type.
    pub mime_type: String,
    /// The longest the payment may take to settle, and (`kassa-escrow`) the handler to answer.
    pub max_timeout_seconds: u64,
    /// Offer `kassa-escrow` when the facilitator runs it for this merchant (default true).
    pub escrow: bool,
}

impl Price {
    /// `amount` of `asset` to `pay_to` for `description`, answered as JSON, settled within 60 s.
    pub fn new(amount: u64, asset: Pubkey, pay_to: Pubkey, description: &str) -> Self {
        Self {
            amount,
            asset,
            pay_to,
            network: None,
            description: description.to_string(),
            mime_type: "application/json".into(),
            max_timeout_seconds: 60,
            escrow: true,
        }
    }
}

/// Prices routes against one facilitator.
#[derive(Clone)]
pub struct Paywall {
    facilitator: Arc<Facilitator>,
    /// This server's public base URL (the resources' URLs start with it).
    public_base: String,
}

impl Paywall {
    /// A paywall settling through `facilitator`, for a server reached at `public_base`.
    pub fn new(facilitator: Facilitator, public_base: &str) -> Self {
        Self {
            facilitator: Arc::new(facilitator),
            public_base: public_base.trim_end_matches('/').to_string(),
        }
    }

    /// The state [`gate`] needs for one priced route.
    pub fn price(&self, price: Price) -> Priced {
        Priced {
            paywall: self.clone(),
            price: Arc::new(price),
        }
    }
}

/// One priced route's state for [`gate`].
#[derive(Clone)]
pub struct Priced {
    paywall: Paywall,
    price: Arc<Price>,
}

impl Priced {
    /// The ways to pay, preferred first: `kassa-escrow` when offered, then `exact`.
    async fn requirements(&self) -> Result<Vec<PaymentRequirements>, String> {
        let supported = self.paywall.facilitator.supported().await?;
        let network = match &self.price.network {
            Some(n) => n.clone(),
            None => supported
                .kinds
                .first()
                .map(|k| k.network.clone())
                .ok_or("the facilitator settles nothing")?,
        };
        let mut out = Vec::new();
        for scheme in [escrow::SCHEME, "exact"] {
            if scheme == escrow::SCHEME && !self.price.escrow {
                continue;
            }
            let Some(kind) = supported
                .kinds
                .iter()
                .find(|k| k.scheme == scheme && k.network == network)
            else {
                continue;
            };
            out.push(PaymentRequirements {
                scheme: scheme.into(),
                network: network.clone(),
                amount: self.price.amount.to_string(),
                asset: self.price.asset.to_string(),
                pay_to: self.price.pay_to.to_string(),
                max_timeout_seconds: self.price.max_timeout_seconds,
                extra: kind.extra.clone(),
            });
        }
        if out.is_empty() {
            return Err(format!("the facilitator settles nothing on {network}"));
        }
        Ok(out)
    }
}

fn header_value(s: String) -> HeaderValue {
    HeaderValue::from_str(&s).expect("base64 is a valid header value")
}

/// A `402` asking for `accepts`, saying `error`.
fn payment_required(
    resource: ResourceInfo,
    accepts: Vec<PaymentRequirements>,
    error: &str,
    settlement: Option<&SettleResponse>,
) -> Response {
    let required = PaymentRequired {
        x402_version: VERSION,
        error: Some(error.to_string()),
        resource,
        accepts,
        extensions: Map::new(),
    };
    let mut r = (
        StatusCode::PAYMENT_REQUIRED,
        axum::Json(json!({ "error": error })),
    )
        .into_response();
    let h = r.headers_mut();
    h.insert(PAYMENT_REQUIRED, header_value(encode_header(&required)));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(s) = settlement {
        h.insert(PAYMENT_RESPONSE, header_value(encode_header(s)));
    }
    r
}

/// The middleware of a priced route (state from [`Paywall::price`]).
pub async fn gate(State(p): State<Priced>, request: Request, next: Next) -> Response {
    let resource = ResourceInfo {
        url: format!(
            "{}{}",
            p.paywall.public_base,
            request
                .uri()
                .path_and_query()
                .map(|q| q.as_str())
                .unwrap_or("/")
        ),
        description: Some(p.price.description.clone()),
        mime_type: Some(p.price.mime_type.clone()),
    };
    let accepts = match p.requirements().await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("x402: {e}");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                "payments cannot be taken right now",
            )
                .into_response();
        }
    };
    let Some(header) = request.headers().get(PAYMENT_SIGNATURE) else {
        return payment_required(resource, accepts, "Payment required", None);
    };
    let payload: PaymentPayload = match header
        .to_str()
        .map_err(|e| e.to_string())
        .and_then(decode_header)
    {
        Ok(p) => p,
        Err(e) => {
            return payment_required(
                resource,
                accepts,
                &format!("invalid_payload: PAYMENT-SIGNATURE is {e}"),
                None,
            )
        }
    };
    let Some(requirements) = accepts
        .iter()
        .find(|r| r.accepted_by(&payload.accepted))
        .cloned()
    else {
        return payment_required(resource, accepts, "No matching payment requirements", None);
    };
    let call = FacilitatorRequest {
        x402_version: payload.x402_version,
        payment_payload: payload,
        payment_requirements: requirements,
        response: None,
    };
    if call.payment_requirements.scheme == escrow::SCHEME {
        return escrowed(p, resource, accepts, call, request, next).await;
    }
    match p.paywall.facilitator.verify(&call).await {
        Ok(v) if v.is_valid => {}
        Ok(v) => {
            let reason = v.invalid_reason.unwrap_or_else(|| "invalid_payload".into());
            return payment_required(resource, accepts, &reason, None);
        }
        Err(e) => {
            tracing::error!("x402 verify: {e}");
            return payment_required(resource, accepts, "unexpected_verify_error", None);
        }
    }
    let response = next.run(request).await;
    if !response.status().is_success() {
        // Not served: not charged. The payment is never sent.
        return response;
    }
    match p.paywall.facilitator.settle(&call).await {
        Ok(s) if s.success => {
            let (mut parts, body) = response.into_parts();
            parts
                .headers
                .insert(PAYMENT_RESPONSE, header_value(encode_header(&s)));
            parts
                .headers
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
            Response::from_parts(parts, body)
        }
        Ok(s) => {
            let reason = s
                .error_reason
                .clone()
                .unwrap_or_else(|| "unexpected_settle_error".into());
            payment_required(resource, accepts, &reason, Some(&s))
        }
        Err(e) => {
            tracing::error!("x402 settle: {e}");
            payment_required(resource, accepts, "unexpected_settle_error", None)
        }
    }
}

/// The `kassa-escrow` path of [`gate`].
async fn escrowed(
    p: Priced,
    resource: ResourceInfo,
    accepts: Vec<PaymentRequirements>,
    mut call: FacilitatorRequest,
    request: Request,
    next: Next,
) -> Response {
    let facilitator = p.paywall.facilitator.clone();
    let verified = match facilitator.verify(&call).await {
        Ok(v) => v,
        Err(e) => {
            tracing::error!("x402 verify: {e}");
            return payment_required(resource, accepts, "unexpected_verify_error", None);
        }
    };
    let id = call_id(&call);
    let network = call.payment_requirements.network.clone();
    let settlement = |status: &str, payer: Option<String>| {
        let mut extra = Map::new();
        extra.insert("settlementId".into(), json!(id));
        extra.insert("status".into(), json!(status));
        SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer,
            transaction: String::new(),
            network: network.clone(),
            extra,
        }
    };
    if !verified.is_valid {
        let reason = verified
            .invalid_reason
            .clone()
            .unwrap_or_else(|| "invalid_payload".into());
        if reason == "duplicate_settlement" {
            // The same call again: its kept answer, not a second charge.
            if let Some(stored) = verified
                .extra
                .get("replay")
                .and_then(|r| serde_json::from_value::<escrow::StoredResponse>(r.clone()).ok())
            {
                let status = verified
                    .extra
                    .get("status")
                    .and_then(|s| s.as_str())
                    .unwrap_or("delivered");
                let mut r = Response::new(Body::from(
                    STANDARD.decode(&stored.body).unwrap_or_default(),
                ));
                *r.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
                if let Some(t) = stored
                    .content_type
                    .as_deref()
                    .and_then(|t| HeaderValue::from_str(t).ok())
                {
                    r.headers_mut().insert(header::CONTENT_TYPE, t);
                }
                r.headers_mut().insert(
                    PAYMENT_RESPONSE,
                    header_value(encode_header(&settlement(status, None))),
                );
                return r;
            }
            return (
                StatusCode::CONFLICT,
                axum::Json(json!({ "error": "this call is already being served or was not delivered", "settlementId": id })),
            )
                .into_response();
        }
        return payment_required(resource, accepts, &reason, None);
    }
    let payer = verified.payer.clone();
    let limit = Duration::from_secs(call.payment_requirements.max_timeout_seconds.max(1));
    let served = tokio::time::timeout(limit, next.run(request)).await;
    let response = match served {
        Ok(r) if r.status().is_success() => r,
        other => {
            // Not served: not charged.
            if let Err(e) = facilitator.release(&id).await {
                tracing::error!(call = id, "x402 release: {e}");
            }
            return other.unwrap_or_else(|_| {
                (
                    StatusCode::GATEWAY_TIMEOUT,
                    "the handler did not answer in time; the call was not charged",
                )
                    .into_response()
            });
        }
    };
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            let _ = facilitator.release(&id).await;
            tracing::error!(call = id, "x402: the handler's body failed: {e}");
            return StatusCode::BAD_GATEWAY.into_response();
        }
    };
    call.response = Some(escrow::StoredResponse {
        status: parts.status.as_u16(),
        content_type: parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: STANDARD.encode(&bytes),
    });
    let delivered = settlement("delivered", payer);
    parts
        .headers
        .insert(PAYMENT_RESPONSE, header_value(encode_header(&delivered)));
    parts
        .headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("private"));
    let on_end = move |written: bool| {
        tokio::spawn(async move {
            if written {
                if let Err(e) = facilitator.settle(&call).await {
                    // Kept as delivered at the facilitator or not: recovery captures what it
                    // recorded; a call it never heard of stays reserved and is released.
                    tracing::error!(call = id, "x402 capture: {e}");
                }
            } else if let Err(e) = facilitator.release(&id).await {
                tracing::error!(call = id, "x402 release: {e}");
            }
        });
    };
    Response::from_parts(
        parts,
        Body::new(Delivery {
            data: Some(bytes),
            on_end: Some(Box::new(on_end)),
        }),
    )
}

fn call_id(call: &FacilitatorRequest) -> String {
    call.payment_payload
        .payload
        .get("call")
        .and_then(|c| c.as_str())
        .unwrap_or_default()
        .to_string()
}

/// A body that tells, once, whether it was handed to the connection whole (`true`) or dropped
/// before (`false`: the client went away).
struct Delivery {
    data: Option<Bytes>,
    on_end: Option<Box<dyn FnOnce(bool) + Send>>,
}

impl http_body::Body for Delivery {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        if let Some(d) = this.data.take() {
            if !d.is_empty() {
                return Poll::Ready(Some(Ok(Frame::data(d))));
            }
        }
        if let Some(end) = this.on_end.take() {
            end(true);
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        // Polled to the end, so that the end is seen.
        self.on_end.is_none()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        match &self.data {
            Some(d) => http_body::SizeHint::with_exact(d.len() as u64),
            None => http_body::SizeHint::with_exact(0),
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        // The server takes the last frame and, knowing the length, may drop the body without
        // asking for its end: handed over whole is written. Dropped before that, it was not
        // (the client went away first).
        if let Some(end) = self.on_end.take() {
            end(self.data.is_none());
        }
    }
}
