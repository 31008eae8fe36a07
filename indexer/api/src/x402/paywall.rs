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
//! A request without a payment gets `402` with the requirements in `PAYMENT-REQUIRED`. A paid
//! one is verified by the facilitator, then served; only a `2xx` answer is settled, and it is
//! sent with the settlement in `PAYMENT-RESPONSE`. A handler that fails costs the client
//! nothing: its answer goes back as it is and the payment is never sent. A payment that does
//! not settle withholds the answer (`402`, with the reason).

use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use kassa_sdk::x402::{
    decode_header, encode_header, FacilitatorRequest, PaymentPayload, PaymentRequired,
    PaymentRequirements, ResourceInfo, SettleResponse, Supported, VerifyResponse, PAYMENT_REQUIRED,
    PAYMENT_RESPONSE, PAYMENT_SIGNATURE, VERSION,
};
use serde_json::{json, Map};
use solana_sdk::pubkey::Pubkey;
use std::sync::Arc;
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
    /// The longest the payment may take to settle.
    pub max_timeout_seconds: u64,
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
    async fn requirements(&self) -> Result<PaymentRequirements, String> {
        let supported = self.paywall.facilitator.supported().await?;
        let kind = supported
            .kinds
            .iter()
            .find(|k| {
                k.scheme == "exact" && self.price.network.as_ref().is_none_or(|n| *n == k.network)
            })
            .ok_or("the facilitator settles no exact payments on the network asked for")?;
        let fee_payer = kind
            .extra
            .get("feePayer")
            .cloned()
            .ok_or("the facilitator names no fee payer")?;
        let mut extra = Map::new();
        extra.insert("feePayer".into(), fee_payer);
        Ok(PaymentRequirements {
            scheme: "exact".into(),
            network: kind.network.clone(),
            amount: self.price.amount.to_string(),
            asset: self.price.asset.to_string(),
            pay_to: self.price.pay_to.to_string(),
            max_timeout_seconds: self.price.max_timeout_seconds,
            extra,
        })
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
    let requirements = match p.requirements().await {
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
    let accepts = vec![requirements.clone()];
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
    if !requirements.accepted_by(&payload.accepted) {
        return payment_required(resource, accepts, "No matching payment requirements", None);
    }
    let call = FacilitatorRequest {
        x402_version: payload.x402_version,
        payment_payload: payload,
        payment_requirements: requirements,
    };
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
