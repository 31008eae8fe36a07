//! Solana Pay transaction requests for Kassa invoices, per the specification: `GET` answers the
//! merchant's label and icon; `POST {"account"}` answers the `payment_pay` transaction for that
//! wallet to sign (fee payer: the wallet). No API key and no `Idempotency-Key`: the natural key
//! is the payment (paying twice is refused on chain), and the route is rate-limited per client.
//! Every payer is screened first (`kassa_compliance::screen`: lists, blocklist, exposure,
//! history) and refused with a `message` when the screening refuses it; when the merchant
//! requires KYT, the transaction comes back co-signed by the compliance key.

use crate::{
    error::ApiError,
    wire::{get, parse_key},
    AppState,
};
use axum::{
    extract::{rejection::PathRejection, ConnectInfo, Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use kassa_payments::state::{Merchant, PaymentStatus};
use kassa_sdk::{
    api::types::{PayAccount, PayError, PayLabel, PayTransaction},
    decode::decode_payment,
    payments::{MintRef, Payments},
    solana_pay::UiAmount,
};
use solana_sdk::{pubkey::Pubkey, signer::Signer};
use std::net::SocketAddr;

/// An answer in the specification's format: `{"message"}` for errors.
fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    let mut r = (
        status,
        axum::Json(PayError {
            message: message.into(),
        }),
    )
        .into_response();
    if status == StatusCode::TOO_MANY_REQUESTS || status == StatusCode::SERVICE_UNAVAILABLE {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(1));
    }
    r
}

fn from_api(e: ApiError) -> Response {
    let status = e.status();
    let message = match &e {
        ApiError::Internal(_) => {
            tracing::error!("solana pay: {e}");
            "the payment server failed; try again".to_string()
        }
        other => other.to_string(),
    };
    refuse(status, message)
}

fn limited(state: &AppState, client: &SocketAddr) -> Option<Response> {
    state.limits.clients.check_key(&client.ip()).err().map(|_| {
        refuse(
            StatusCode::TOO_MANY_REQUESTS,
            "too many requests; slow down",
        )
    })
}

/// What both Solana Pay routes check first: the client's rate, and the link's payment segment.
fn admit(
    state: &AppState,
    client: &SocketAddr,
    payment: Result<Path<String>, PathRejection>,
) -> Result<String, Box<Response>> {
    if let Some(r) = limited(state, client) {
        return Err(Box::new(r));
    }
    payment.map(|Path(p)| p).map_err(|_| {
        Box::new(refuse(
            StatusCode::BAD_REQUEST,
            "the link's payment is not an address",
        ))
    })
}

const ICON: &str = include_str!("../assets/icon.svg");

/// The icon wallets show beside the label.
pub async fn icon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        ICON,
    )
        .into_response()
}

/// The merchant's display name for payment `address`, if the payment exists.
async fn label(state: &AppState, payment: &Pubkey) -> Result<Option<String>, ApiError> {
    let row = sqlx::query(
        "SELECT a.name, p.merchant FROM chain.payment p LEFT JOIN api.account a ON a.merchant = p.merchant
         WHERE p.address = $1",
    )
    .bind(&payment.to_bytes()[..])
    .fetch_optional(&state.pool)
    .await?;
    let Some(row) = row else { return Ok(None) };
    let name: Option<String> = get(&row, "name")?;
    let merchant: Vec<u8> = get(&row, "merchant")?;
    Ok(Some(name.unwrap_or_else(|| {
        let m = crate::wire::base58(&merchant);
        format!("Kassa merchant {}…", &m[..6.min(m.len())])
    })))
}

#[utoipa::path(get, path = "/v1/pay/{payment}", tag = "solana-pay",
    params(("payment" = String, Path, description = "Payment PDA")),
    responses((status = 200, body = PayLabel), (status = "4XX", body = PayError)))]
/// Solana Pay transaction request, `GET`: the merchant's label and icon.
pub async fn get_pay(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    payment: Result<Path<String>, PathRejection>,
) -> Response {
    let payment = match admit(&state, &client, payment) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let payment = match parse_key("payment", &payment) {
        Ok(p) => p,
        Err(e) => return from_api(e),
    };
    match label(&state, &payment).await {
        Ok(Some(label)) => axum::Json(PayLabel {
            label,
            icon: format!(
                "{}/v1/pay/icon.svg",
                state.config.public_url.trim_end_matches('/')
            ),
        })
        .into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "no such invoice"),
        Err(e) => from_api(e),
    }
}

/// The optional query of a transaction request.
#[derive(Debug, Default, serde::Deserialize)]
pub struct PayQuery {
    /// A checkout quote (`q_…`): pay in its stablecoin, spending at most its amount.
    quote: Option<String>,
}

#[utoipa::path(post, path = "/v1/pay/{payment}", tag = "solana-pay", request_body = PayAccount,
    params(("payment" = String, Path, description = "Payment PDA"),
           ("quote" = Option<String>, Query, description = "A checkout quote: pay in its stablecoin, at most its amount, while its price is locked")),
    responses((status = 200, body = PayTransaction), (status = "4XX", body = PayError)))]
/// Solana Pay transaction request, `POST`: the transaction for `account` to sign.
pub async fn post_pay(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    payment: Result<Path<String>, PathRejection>,
    query: Result<axum::extract::Query<PayQuery>, axum::extract::rejection::QueryRejection>,
    body: Result<axum::Json<PayAccount>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let payment = match admit(&state, &client, payment) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let Ok(axum::Json(body)) = body else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the body must be JSON: {\"account\": \"<base58 address>\"}",
        );
    };
    let Ok(axum::extract::Query(query)) = query else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the link's query is malformed (only quote=<id> is known)",
        );
    };
    match pay(&state, &payment, &body.account, query.quote.as_deref()).await {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => from_api(e),
    }
}

async fn pay(
    state: &AppState,
    payment: &str,
    account: &str,
    quote: Option<&str>,
) -> Result<PayTransaction, ApiError> {
    let pda = parse_key("payment", payment)?;
    let payer = parse_key("account", account)?;
    let Some(label) = label(state, &pda).await? else {
        return Err(ApiError::NotFound("no such invoice".into()));
    };
    let data = state
        .rpc
        .get_account(&pda)
        .await
        .map_err(|_| ApiError::NotFound("no such invoice".into()))?;
    let p = decode_payment(&data.data).map_err(|_| ApiError::NotFound("no such invoice".into()))?;
    let now = state.chain_now().await?;
    if p.status != PaymentStatus::Open {
        return Err(ApiError::unprocessable(
            "not-payable",
            "this invoice is already paid or no longer open",
        ));
    }
    if now >= p.expires_at {
        return Err(ApiError::unprocessable(
            "not-payable",
            "this invoice has expired",
        ));
    }
    let merchant: Merchant = {
        let a = state
            .rpc
            .get_account(&p.merchant)
            .await
            .map_err(ApiError::cluster)?;
        anchor_lang::AccountDeserialize::try_deserialize(&mut a.data.as_slice())
            .map_err(|e| ApiError::Internal(format!("merchant {}: {e}", p.merchant)))?
    };
    // Screening (KYT): the lists in force, the on-chain blocklist, exposure to flagged wallets
    // and the payer's history, recorded with its decision. A refusal does not say why: a
    // sanctioned party is not told it was found.
    let screening = kassa_compliance::screen::screen(
        &state.pool,
        &payer,
        Some(&p.merchant),
        "solana-pay",
        &state.config.screening,
    )
    .await?;
    if screening.decision == kassa_compliance::screen::Decision::Refuse {
        return Err(ApiError::Forbidden(
            "this wallet cannot pay Kassa merchants; contact the merchant".into(),
        ));
    }
    // Kassa's own keys never pay: a transaction for them would come back fully signed.
    let own = state
        .config
        .compliance_key
        .as_ref()
        .is_some_and(|k| k.pubkey() == payer)
        || state
            .config
            .operator_keys
            .as_ref()
            .is_some_and(|k| k.holds(&payer));
    if own {
        return Err(ApiError::Forbidden(
            "this wallet cannot pay Kassa merchants; contact the merchant".into(),
        ));
    }
    let cosigner = if merchant.policy.require_kyt {
        let key = state
            .config
            .compliance_key
            .clone()
            .ok_or_else(|| ApiError::Unavailable {
                detail: "this merchant requires KYT screening, which is not available right now"
                    .into(),
                retry_after: 30,
            })?;
        Some(key)
    } else {
        None
    };
    let info = state.mint(&p.mint).await?;
    let mint =
        MintRef::new(p.mint, info.token_program).map_err(|e| ApiError::Internal(e.to_string()))?;
    let (ix, message) = match quote {
        None => {
            let ix = Payments::default()
                .payment_pay(
                    &payer,
                    &p.merchant,
                    &pda,
                    &mint,
                    cosigner.as_ref().map(|k| k.pubkey()),
                )
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let amount = UiAmount::from_base_units(p.amount, info.decimals);
            (ix, format!("Pay {} to {label}", amount.as_str()))
        }
        Some(id) => {
            // A locked price from the checkout page: its stablecoin, at most its amount, and
            // only while the lock holds (after it, the page asks for a fresh quote).
            let q = crate::web::checkout_quote(state, &pda, id)
                .await?
                .ok_or_else(|| ApiError::NotFound("no such quote for this invoice".into()))?;
            if q.seconds_left <= 0 {
                return Err(ApiError::unprocessable(
                    "quote-expired",
                    "this price quote expired; get a fresh quote on the checkout page",
                ));
            }
            let input_info = state.mint(&q.input_mint).await?;
            let input = MintRef::new(q.input_mint, input_info.token_program)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let convert = kassa_sdk::convert::Convert::default();
            let pool = convert.pool(mint, input);
            if pool.address != q.pool {
                return Err(ApiError::Internal(format!(
                    "quote {id} names pool {}, the mints give {}",
                    q.pool, pool.address
                )));
            }
            let escrow = kassa_sdk::pda::vault(&kassa_payments::ID, &p.mint).0;
            let hook = convert
                .hook_accounts(&pool, &payer, &q.input_mint, &escrow)
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let ix = Payments::default()
                .payment_pay_with_conversion(
                    &payer,
                    &p.merchant,
                    &pda,
                    &mint,
                    &input,
                    convert.program_id,
                    hook,
                    cosigner.as_ref().map(|k| k.pubkey()),
                    q.amount_in,
                )
                .map_err(|e| ApiError::Internal(e.to_string()))?;
            let amount = UiAmount::from_base_units(q.amount_in, input_info.decimals);
            let code = crate::web::code_of(state, &q.input_mint).await?;
            (ix, format!("Pay {} {code} to {label}", amount.as_str()))
        }
    };
    let (mut tx, _) = state.unsigned(&[ix], &payer, &pda, None).await?;
    if let Some(key) = &cosigner {
        let blockhash = tx.message.recent_blockhash;
        tx.try_partial_sign(&[key.as_ref()], blockhash)
            .map_err(|e| ApiError::Internal(format!("co-signing: {e}")))?;
    }
    // What goes out still needs the wallet's own signature, whatever else signed it.
    if tx.is_signed() || tx.message.account_keys.first() != Some(&payer) {
        return Err(ApiError::Internal(
            "a Solana Pay transaction would leave without the payer's signature".into(),
        ));
    }
    Ok(PayTransaction {
        transaction: crate::write::encode_tx(&tx)?,
        message: Some(message),
    })
}
