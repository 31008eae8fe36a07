//! The facilitator's side of `kassa-escrow` (see `kassa_sdk::x402::escrow`): sessions opened,
//! authorized and closed for agents (public routes, rate-limited per client like Solana Pay),
//! calls reserved, released and captured for merchants' paywalls (through `/x402/verify`,
//! `/x402/settle` and `/x402/escrow/release`, with the merchant's key), and the recovery pass
//! that finishes what a crash interrupted.
//!
//! Kassa signs a session's invoice and each capture with the merchant's operator key, which it
//! holds only for merchants that opted in (`operator_keys`), and pays every fee with the x402
//! fee payer. A capture is recorded as `capturing` with its signature and blockhash before it
//! is sent; recovery looks a `capturing` call up on chain and sends a new capture only once the
//! old one's blockhash has expired unseen, so a delivered call is captured exactly once.

use super::exact::{reason, refuse, Refusal};
use crate::{error::ApiError, AppState};
use axum::{
    extract::{ConnectInfo, Path, State},
    routing::{get, post},
    Json, Router,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use kassa_payments::state::{Config, KybStatus, Merchant};
use kassa_sdk::{
    payments::{MintRef, OrderId, Payments, ReleaseRefs, SettlementRefs},
    x402::{
        escrow::{
            call_message, close_message, is_call_id, AuthorizeSession, CallPayload, CallStatus,
            CloseSession, OpenSession, Session, SessionOffer, StoredResponse, SCHEME,
        },
        FacilitatorRequest, SettleResponse, VerifyResponse,
    },
};
use serde_json::{json, Map};
use sha2::{Digest, Sha256};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    hash::Hash,
    pubkey::Pubkey,
    signature::{Keypair, Signature},
    signer::Signer,
    transaction::Transaction,
};
use sqlx::Row;
use std::{net::SocketAddr, str::FromStr, sync::Arc, time::Duration};

/// How long an offered session waits for the agent's signature (its invoice's expiry).
pub const OFFER_SECS: i64 = 120;
/// The largest answer kept for a retried call (larger ones are delivered, not kept).
pub const MAX_STORED_RESPONSE: usize = 1 << 20;
/// A reservation older than this was abandoned by its paywall: released.
pub const ABANDONED_SECS: i64 = 300;

/// The agents' routes (no API key).
pub(crate) fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/x402/escrow/sessions", post(open_session))
        .route("/x402/escrow/sessions/{session}", get(get_session))
        .route(
            "/x402/escrow/sessions/{session}/authorize",
            post(authorize_session),
        )
        .route("/x402/escrow/sessions/{session}/close", post(close_session))
        .route("/x402/escrow/calls/{call}", get(get_call))
}

fn limited(state: &AppState, client: &SocketAddr) -> Result<(), ApiError> {
    state
        .limits
        .clients
        .check_key(&client.ip())
        .map_err(|_| ApiError::RateLimited { retry_after: 1 })
}

fn key(field: &str, s: &str) -> Result<Pubkey, ApiError> {
    crate::wire::parse_key(field, s)
}

fn as_key(b: &[u8]) -> Pubkey {
    Pubkey::try_from(b).unwrap_or_default()
}

/// The merchant's account and the operator key Kassa holds for it.
async fn operator_for(
    state: &AppState,
    merchant: &Pubkey,
) -> Result<(Merchant, Arc<Keypair>), ApiError> {
    let m: Merchant = state
        .program_account(merchant)
        .await
        .map_err(|_| ApiError::NotFound(format!("no merchant {merchant}")))?;
    let key = state
        .config
        .operator_keys
        .as_ref()
        .and_then(|k| k.get(merchant, &m.operator))
        .ok_or_else(|| {
            ApiError::unprocessable(
                "escrow-not-offered",
                format!("merchant {merchant} takes no kassa-escrow payments (Kassa holds no operator key for it)"),
            )
        })?;
    Ok((m, key))
}

/// The cluster's latest blockhash, for a transaction the facilitator signs now.
async fn latest_blockhash(state: &AppState) -> Result<solana_sdk::hash::Hash, ApiError> {
    state
        .rpc
        .get_latest_blockhash()
        .await
        .map_err(|e| ApiError::Upstream(format!("getLatestBlockhash: {e}")))
}

/// Whether Kassa can run escrow sessions for `merchant` (it holds its operator key).
pub(crate) async fn offered_for(state: &AppState, merchant: &Pubkey) -> bool {
    operator_for(state, merchant).await.is_ok()
}

fn fee_payer(state: &AppState) -> Result<&Arc<Keypair>, ApiError> {
    state
        .config
        .x402
        .as_ref()
        .map(|c| &c.fee_payer)
        .ok_or_else(|| ApiError::Unavailable {
            detail: "this server runs no x402 facilitator".into(),
            retry_after: 60,
        })
}

const SESSION: &str = "SELECT payment, merchant, payer, mint, budget::text AS budget,
        reserved::text AS reserved, captured::text AS captured, status, authorize_signature,
        void_signature, network, message_hash, offer_expires_at < now() AS offer_expired
    FROM x402.escrow_session WHERE payment = $1";

fn session_of(row: &sqlx::postgres::PgRow) -> Result<Session, ApiError> {
    let sig = |name: &str| -> Result<Option<String>, ApiError> {
        let b: Option<Vec<u8>> = row.try_get(name)?;
        Ok(b.and_then(|b| Signature::try_from(b.as_slice()).ok())
            .map(|s| s.to_string()))
    };
    Ok(Session {
        session: as_key(&row.try_get::<Vec<u8>, _>("payment")?).to_string(),
        merchant: as_key(&row.try_get::<Vec<u8>, _>("merchant")?).to_string(),
        payer: as_key(&row.try_get::<Vec<u8>, _>("payer")?).to_string(),
        mint: as_key(&row.try_get::<Vec<u8>, _>("mint")?).to_string(),
        budget: row.try_get("budget")?,
        reserved: row.try_get("reserved")?,
        captured: row.try_get("captured")?,
        status: row.try_get("status")?,
        authorize_signature: sig("authorize_signature")?,
        void_signature: sig("void_signature")?,
    })
}

async fn load_session(
    state: &AppState,
    session: &Pubkey,
) -> Result<sqlx::postgres::PgRow, ApiError> {
    sqlx::query(SESSION)
        .bind(session.to_bytes().as_slice())
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no kassa-escrow session {session}")))
}

/// `POST /x402/escrow/sessions`: an invoice of the budget, opened with the merchant's operator
/// key and paid from the agent's token account, fee paid by Kassa, for the agent to sign.
async fn open_session(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Json(req): Json<OpenSession>,
) -> Result<Json<SessionOffer>, ApiError> {
    limited(&state, &client)?;
    let fee_payer = fee_payer(&state)?.clone();
    let networks = &state.config.x402.as_ref().expect("checked").networks;
    if !networks.contains(&req.network) {
        return Err(ApiError::unprocessable(
            "invalid-network",
            format!(
                "network {}; this facilitator settles on {}",
                req.network,
                networks.join(", ")
            ),
        ));
    }
    let merchant = key("merchant", &req.merchant)?;
    let payer = key("payer", &req.payer)?;
    let budget: u64 = req.budget.parse().ok().filter(|b| *b > 0).ok_or_else(|| {
        ApiError::bad(
            "invalid-amount",
            "budget must be a positive integer in the coin's smallest unit",
        )
    })?;
    let (m, operator) = operator_for(&state, &merchant).await?;
    if m.kyb_status != KybStatus::Approved {
        return Err(ApiError::unprocessable(
            "merchant-not-approved",
            "the merchant cannot take payments (KYB)",
        ));
    }
    if payer == fee_payer.pubkey() || payer == operator.pubkey() {
        return Err(ApiError::Forbidden("Kassa's own keys do not pay".into()));
    }
    let screening = kassa_compliance::screen::screen(
        &state.pool,
        &payer,
        Some(&merchant),
        "x402-escrow",
        &state.config.screening,
    )
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if screening.decision == kassa_compliance::screen::Decision::Refuse {
        return Err(ApiError::Forbidden(
            "this wallet cannot pay Kassa merchants".into(),
        ));
    }
    let info = state.mint(&m.settlement_mint).await?;
    let mint = MintRef::new(m.settlement_mint, info.token_program)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let order = OrderId::new(&format!("x402-{:024x}", rand::random::<u128>() >> 32))
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let now = state.chain_now().await?;
    let expires_at = now + OFFER_SECS;
    let p = Payments::default();
    let (open, session) = p
        .invoice_open(&operator.pubkey(), &merchant, &order, budget, expires_at)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let kyt = if m.policy.require_kyt {
        Some(state.config.compliance_key.clone().ok_or_else(|| {
            ApiError::unprocessable(
                "kyt-unavailable",
                "the merchant requires KYT and this server holds no compliance key",
            )
        })?)
    } else {
        None
    };
    let pay = p
        .payment_pay(
            &payer,
            &merchant,
            &session,
            &mint,
            kyt.as_ref().map(|k| k.pubkey()),
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let blockhash = latest_blockhash(&state).await?;
    let mut tx = Transaction::new_with_payer(&[open, pay], Some(&fee_payer.pubkey()));
    let mut signers: Vec<&Keypair> = vec![fee_payer.as_ref(), operator.as_ref()];
    if let Some(k) = &kyt {
        signers.push(k.as_ref());
    }
    tx.try_partial_sign(&signers, blockhash)
        .map_err(|e| ApiError::Internal(format!("signing the offer: {e}")))?;
    let message_hash: [u8; 32] = Sha256::digest(tx.message_data()).into();
    sqlx::query(
        "INSERT INTO x402.escrow_session (payment, merchant, payer, mint, network, budget, status,
             message_hash, offer_expires_at)
         VALUES ($1, $2, $3, $4, $5, $6::numeric, 'offered', $7, now() + make_interval(secs => $8))",
    )
    .bind(session.to_bytes().as_slice())
    .bind(merchant.to_bytes().as_slice())
    .bind(payer.to_bytes().as_slice())
    .bind(mint.mint.to_bytes().as_slice())
    .bind(&req.network)
    .bind(budget.to_string())
    .bind(message_hash.as_slice())
    .bind(OFFER_SECS as f64)
    .execute(&state.pool)
    .await?;
    Ok(Json(SessionOffer {
        session: session.to_string(),
        transaction: STANDARD
            .encode(bincode::serialize(&tx).map_err(|e| ApiError::Internal(e.to_string()))?),
        expires_at: crate::wire::rfc3339(expires_at),
    }))
}

/// `POST /x402/escrow/sessions/{session}/authorize`: the offered transaction, signed by the
/// agent, sent and confirmed. Only the offered message is accepted.
async fn authorize_session(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(session): Path<String>,
    Json(req): Json<AuthorizeSession>,
) -> Result<Json<Session>, ApiError> {
    limited(&state, &client)?;
    let session = key("session", &session)?;
    let row = load_session(&state, &session).await?;
    let status: String = row.try_get("status")?;
    if status != "offered" {
        return Ok(Json(session_of(&row)?));
    }
    let tx: Transaction = STANDARD
        .decode(req.transaction.trim())
        .ok()
        .and_then(|b| bincode::deserialize(&b).ok())
        .ok_or_else(|| {
            ApiError::bad(
                "invalid-transaction",
                "transaction is not a base64 transaction",
            )
        })?;
    let hash: Vec<u8> = row.try_get("message_hash")?;
    if Sha256::digest(tx.message_data()).as_slice() != hash.as_slice() {
        return Err(ApiError::unprocessable(
            "not-the-offer",
            "the transaction is not the one offered for this session",
        ));
    }
    if row.try_get::<bool, _>("offer_expired")? {
        return Err(ApiError::unprocessable(
            "offer-expired",
            "the offer expired; ask for a new session",
        ));
    }
    if tx.verify().is_err() {
        return Err(ApiError::unprocessable(
            "invalid-signature",
            "the transaction is not signed by the session's payer",
        ));
    }
    let sig = state.send_signed(&tx).await?;
    let signature =
        Signature::from_str(&sig.signature).map_err(|e| ApiError::Internal(e.to_string()))?;
    sqlx::query(
        "UPDATE x402.escrow_session SET status = 'open', authorize_signature = $2
         WHERE payment = $1 AND status = 'offered'",
    )
    .bind(session.to_bytes().as_slice())
    .bind(signature.as_ref())
    .execute(&state.pool)
    .await?;
    Ok(Json(session_of(&load_session(&state, &session).await?)?))
}

/// `GET /x402/escrow/sessions/{session}`.
async fn get_session(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(session): Path<String>,
) -> Result<Json<Session>, ApiError> {
    limited(&state, &client)?;
    let session = key("session", &session)?;
    Ok(Json(session_of(&load_session(&state, &session).await?)?))
}

/// `POST /x402/escrow/sessions/{session}/close`: signed by the agent; once no call is in
/// flight, the rest of the escrow is voided back to it.
async fn close_session(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(session_id): Path<String>,
    Json(req): Json<CloseSession>,
) -> Result<Json<Session>, ApiError> {
    limited(&state, &client)?;
    let fee_payer = fee_payer(&state)?.clone();
    let session = key("session", &session_id)?;
    let row = load_session(&state, &session).await?;
    let s = session_of(&row)?;
    let payer = key("payer", &s.payer)?;
    let signed = Signature::from_str(&req.signature)
        .map(|sig| sig.verify(payer.as_ref(), &close_message(&s.session)))
        .unwrap_or(false);
    if !signed {
        return Err(ApiError::Forbidden(
            "the close is not signed by the session's payer".into(),
        ));
    }
    match s.status.as_str() {
        "open" => {}
        "offered" => {
            sqlx::query("UPDATE x402.escrow_session SET status = 'expired' WHERE payment = $1 AND status = 'offered'")
                .bind(session.to_bytes().as_slice())
                .execute(&state.pool)
                .await?;
            return Ok(Json(session_of(&load_session(&state, &session).await?)?));
        }
        _ => return Ok(Json(s)),
    }
    // Finish what was delivered first: the agent pays for what it got, and no more.
    recover_session(&state, &session).await?;
    let in_flight: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM x402.escrow_call
         WHERE session = $1 AND status IN ('reserved', 'delivered', 'capturing')",
    )
    .bind(session.to_bytes().as_slice())
    .fetch_one(&state.pool)
    .await?;
    if in_flight > 0 {
        return Err(ApiError::Conflict {
            kind: "calls-in-flight",
            detail: format!("{in_flight} calls are in flight; close again when they finish"),
        });
    }
    // Fully captured: the program already ended the payment; nothing is left to void.
    let on_chain: kassa_payments::state::Payment = state.program_account(&session).await?;
    if on_chain.escrowed().unwrap_or(0) == 0 {
        sqlx::query(
            "UPDATE x402.escrow_session SET status = 'closed', closed_at = now()
             WHERE payment = $1 AND status = 'open'",
        )
        .bind(session.to_bytes().as_slice())
        .execute(&state.pool)
        .await?;
        return Ok(Json(session_of(&load_session(&state, &session).await?)?));
    }
    let merchant = key("merchant", &s.merchant)?;
    let (_, operator) = operator_for(&state, &merchant).await?;
    let mint = key("mint", &s.mint)?;
    let info = state.mint(&mint).await?;
    let void = Payments::default()
        .payment_void(
            &operator.pubkey(),
            &merchant,
            &ReleaseRefs {
                payment: session,
                mint: MintRef::new(mint, info.token_program)
                    .map_err(|e| ApiError::Internal(e.to_string()))?,
                payer,
            },
        )
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let blockhash = latest_blockhash(&state).await?;
    let tx = Transaction::new_signed_with_payer(
        &[void],
        Some(&fee_payer.pubkey()),
        &[fee_payer.as_ref(), operator.as_ref()],
        blockhash,
    );
    let sent = state.send_signed(&tx).await?;
    let signature =
        Signature::from_str(&sent.signature).map_err(|e| ApiError::Internal(e.to_string()))?;
    sqlx::query(
        "UPDATE x402.escrow_session SET status = 'closed', void_signature = $2, closed_at = now()
         WHERE payment = $1 AND status = 'open'",
    )
    .bind(session.to_bytes().as_slice())
    .bind(signature.as_ref())
    .execute(&state.pool)
    .await?;
    Ok(Json(session_of(&load_session(&state, &session).await?)?))
}

const CALL: &str =
    "SELECT x402_call_id, session, amount::text AS amount, status, capture_signature,
        response_status, response_type, response_body
    FROM x402.escrow_call WHERE x402_call_id = $1";

fn call_of(row: &sqlx::postgres::PgRow) -> Result<CallStatus, ApiError> {
    let sig: Option<Vec<u8>> = row.try_get("capture_signature")?;
    Ok(CallStatus {
        call: row.try_get("x402_call_id")?,
        session: as_key(&row.try_get::<Vec<u8>, _>("session")?).to_string(),
        amount: row.try_get("amount")?,
        status: row.try_get("status")?,
        capture_signature: sig
            .and_then(|b| Signature::try_from(b.as_slice()).ok())
            .map(|s| s.to_string()),
    })
}

fn stored_of(row: &sqlx::postgres::PgRow) -> Result<Option<StoredResponse>, ApiError> {
    let status: Option<i16> = row.try_get("response_status")?;
    let body: Option<Vec<u8>> = row.try_get("response_body")?;
    Ok(match (status, body) {
        (Some(status), Some(body)) => Some(StoredResponse {
            status: status as u16,
            content_type: row.try_get("response_type")?,
            body: STANDARD.encode(body),
        }),
        _ => None,
    })
}

/// `GET /x402/escrow/calls/{call}`: whether a call was captured (for an agent whose answer
/// was lost).
async fn get_call(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path(call): Path<String>,
) -> Result<Json<CallStatus>, ApiError> {
    limited(&state, &client)?;
    if !is_call_id(&call) {
        return Err(ApiError::bad(
            "invalid-call",
            "a call id is xc_ and 32 lowercase hex digits",
        ));
    }
    let row = sqlx::query(CALL)
        .bind(&call)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no call {call}")))?;
    Ok(Json(call_of(&row)?))
}

/// The call a `kassa-escrow` payment carries, checked against its session and signature.
struct Call {
    payload: CallPayload,
    session: Pubkey,
    amount: u64,
}

async fn checked_call(
    state: &AppState,
    merchant: &Pubkey,
    req: &FacilitatorRequest,
) -> Result<Call, Refusal> {
    let ours = &req.payment_requirements;
    if req.payment_payload.accepted.scheme != SCHEME || ours.scheme != SCHEME {
        return Err(refuse(
            reason::UNSUPPORTED_SCHEME,
            "not a kassa-escrow payment",
        ));
    }
    if !ours.accepted_by(&req.payment_payload.accepted) {
        return Err(refuse(
            reason::INVALID_REQUIREMENTS,
            "the payment accepted other requirements than the resource server's",
        ));
    }
    let payload: CallPayload = serde_json::from_value(req.payment_payload.payload.clone())
        .map_err(|e| {
            refuse(
                reason::INVALID_PAYLOAD,
                format!("not a kassa-escrow call: {e}"),
            )
        })?;
    if !is_call_id(&payload.call) {
        return Err(refuse(
            reason::INVALID_PAYLOAD,
            "the call id is not xc_ and 32 hex digits",
        ));
    }
    let amount = ours.amount_u64().ok_or_else(|| {
        refuse(
            reason::INVALID_REQUIREMENTS,
            "the amount is not a positive integer",
        )
    })?;
    if payload.amount != ours.amount {
        return Err(refuse(
            reason::AMOUNT_MISMATCH,
            format!(
                "the call pays {}, the price is {}",
                payload.amount, ours.amount
            ),
        ));
    }
    let session = Pubkey::from_str(&payload.session)
        .map_err(|_| refuse(reason::INVALID_PAYLOAD, "the session is not an address"))?;
    let row = sqlx::query(SESSION)
        .bind(session.to_bytes().as_slice())
        .fetch_optional(&state.pool)
        .await
        .map_err(|e| refuse(reason::UNEXPECTED_VERIFY, e.to_string()))?
        .ok_or_else(|| refuse(reason::SESSION_UNKNOWN, "no such session"))?;
    let s = session_of(&row).map_err(|e| refuse(reason::UNEXPECTED_VERIFY, e.to_string()))?;
    if s.merchant != merchant.to_string() {
        return Err(refuse(
            reason::SESSION_UNKNOWN,
            "the session is another merchant's",
        ));
    }
    if s.mint != ours.asset
        || row.try_get::<String, _>("network").ok().as_deref() != Some(ours.network.as_str())
    {
        return Err(refuse(
            reason::MINT_MISMATCH,
            "the session pays in another coin or network",
        ));
    }
    let payer = Pubkey::from_str(&s.payer).unwrap_or_default();
    let signed = Signature::from_str(&payload.signature)
        .map(|sig| {
            sig.verify(
                payer.as_ref(),
                &call_message(
                    &payload.session,
                    &payload.call,
                    &payload.amount,
                    &payload.resource,
                ),
            )
        })
        .unwrap_or(false);
    if !signed {
        return Err(refuse(
            reason::SIGNATURE_INVALID,
            "the call is not signed by the session's payer",
        ));
    }
    if s.status != "open" {
        return Err(refuse(
            reason::SESSION_CLOSED,
            format!("the session is {}", s.status),
        ));
    }
    Ok(Call {
        payload,
        session,
        amount,
    })
}

fn invalid(r: Refusal, payer: Option<String>) -> VerifyResponse {
    VerifyResponse {
        is_valid: false,
        invalid_reason: Some(r.reason.into()),
        invalid_message: Some(r.message),
        payer,
        extra: Map::new(),
    }
}

/// `/x402/verify` of a `kassa-escrow` payment: reserves the price against the session. A call
/// seen before answers `duplicate_settlement` with its stored answer when it was delivered.
pub(crate) async fn reserve(
    state: &AppState,
    merchant: &Pubkey,
    req: &FacilitatorRequest,
) -> Result<VerifyResponse, ApiError> {
    let call = match checked_call(state, merchant, req).await {
        Ok(c) => c,
        Err(r) => return Ok(invalid(r, None)),
    };
    let mut db = state.pool.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO x402.escrow_call (x402_call_id, session, amount, resource, status)
         VALUES ($1, $2, $3::numeric, $4, 'reserved') ON CONFLICT DO NOTHING",
    )
    .bind(&call.payload.call)
    .bind(call.session.to_bytes().as_slice())
    .bind(call.amount.to_string())
    .bind(&call.payload.resource)
    .execute(&mut *db)
    .await?
    .rows_affected();
    if inserted == 0 {
        drop(db);
        let row = sqlx::query(CALL)
            .bind(&call.payload.call)
            .fetch_one(&state.pool)
            .await?;
        let status = call_of(&row)?;
        let mut extra = Map::new();
        extra.insert("settlementId".into(), json!(status.call));
        extra.insert("status".into(), json!(status.status));
        if let Some(stored) = stored_of(&row)? {
            extra.insert("replay".into(), json!(stored));
        }
        return Ok(VerifyResponse {
            is_valid: false,
            invalid_reason: Some(reason::DUPLICATE.into()),
            invalid_message: Some(format!(
                "call {} was {} already",
                status.call, status.status
            )),
            payer: None,
            extra,
        });
    }
    let room = sqlx::query(
        "UPDATE x402.escrow_session SET reserved = reserved + $2::numeric
         WHERE payment = $1 AND status = 'open' AND reserved + captured + $2::numeric <= budget
         RETURNING payer",
    )
    .bind(call.session.to_bytes().as_slice())
    .bind(call.amount.to_string())
    .fetch_optional(&mut *db)
    .await?;
    let Some(room) = room else {
        return Ok(invalid(
            refuse(reason::INSUFFICIENT_FUNDS, "the session's budget is spent"),
            None,
        ));
    };
    db.commit().await?;
    let payer = as_key(&room.try_get::<Vec<u8>, _>(0)?).to_string();
    let mut extra = Map::new();
    extra.insert("settlementId".into(), json!(call.payload.call));
    Ok(VerifyResponse {
        is_valid: true,
        invalid_reason: None,
        invalid_message: None,
        payer: Some(payer),
        extra,
    })
}

/// `POST /x402/escrow/release`: the call was not served; its reservation goes back.
pub(crate) async fn release(
    state: &AppState,
    merchant: &Pubkey,
    call: &str,
) -> Result<CallStatus, ApiError> {
    let mut db = state.pool.begin().await?;
    let released = sqlx::query(
        "UPDATE x402.escrow_call c SET status = 'released', finished_at = now()
         FROM x402.escrow_session s
         WHERE c.x402_call_id = $1 AND c.status = 'reserved' AND s.payment = c.session AND s.merchant = $2
         RETURNING c.session, c.amount::text",
    )
    .bind(call)
    .bind(merchant.to_bytes().as_slice())
    .fetch_optional(&mut *db)
    .await?;
    if let Some(r) = released {
        let session: Vec<u8> = r.try_get(0)?;
        let amount: String = r.try_get(1)?;
        sqlx::query(
            "UPDATE x402.escrow_session SET reserved = reserved - $2::numeric WHERE payment = $1",
        )
        .bind(session)
        .bind(amount)
        .execute(&mut *db)
        .await?;
    }
    db.commit().await?;
    let row = sqlx::query(CALL)
        .bind(call)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no call {call}")))?;
    call_of(&row)
}

/// `/x402/settle` of a `kassa-escrow` payment: the call was delivered (its answer is kept for
/// a retry); the price is captured.
pub(crate) async fn deliver(
    state: &AppState,
    merchant: &Pubkey,
    req: &FacilitatorRequest,
) -> Result<SettleResponse, ApiError> {
    let network = req.payment_requirements.network.clone();
    let call = match checked_call(state, merchant, req).await {
        Ok(c) => c,
        Err(r) => return Ok(failed(&network, r, String::new())),
    };
    let stored = req.response.as_ref().and_then(|r| {
        let body = STANDARD.decode(&r.body).ok()?;
        (body.len() <= MAX_STORED_RESPONSE).then_some((r, body))
    });
    sqlx::query(
        "UPDATE x402.escrow_call SET status = 'delivered', delivered_at = now(),
             response_status = $2, response_type = $3, response_body = $4
         WHERE x402_call_id = $1 AND status = 'reserved'",
    )
    .bind(&call.payload.call)
    .bind(stored.as_ref().map(|(r, _)| r.status as i16))
    .bind(stored.as_ref().and_then(|(r, _)| r.content_type.clone()))
    .bind(stored.as_ref().map(|(_, b)| b.clone()))
    .execute(&state.pool)
    .await?;
    let status = capture(state, &call.payload.call).await?;
    let mut extra = Map::new();
    extra.insert("settlementId".into(), json!(status.call));
    extra.insert("session".into(), json!(status.session));
    extra.insert("status".into(), json!(status.status));
    Ok(match status.status.as_str() {
        "captured" => SettleResponse {
            success: true,
            error_reason: None,
            error_message: None,
            payer: None,
            transaction: status.capture_signature.unwrap_or_default(),
            network,
            extra,
        },
        "failed" | "released" => {
            let mut r = failed(
                &network,
                refuse(
                    reason::TRANSACTION_FAILED,
                    format!("the call was {}; nothing was captured", status.status),
                ),
                String::new(),
            );
            r.extra = extra;
            r
        }
        _ => {
            let mut r = failed(
                &network,
                refuse(reason::PENDING, "delivered; the capture is on its way"),
                status.capture_signature.unwrap_or_default(),
            );
            r.extra = extra;
            r
        }
    })
}

fn failed(network: &str, r: Refusal, transaction: String) -> SettleResponse {
    SettleResponse {
        success: false,
        error_reason: Some(r.reason.into()),
        error_message: Some(r.message),
        payer: None,
        transaction,
        network: network.into(),
        extra: Map::new(),
    }
}

/// Captures a delivered call (or finds out what its capture did), exactly once.
pub async fn capture(state: &AppState, call: &str) -> Result<CallStatus, ApiError> {
    for _ in 0..3 {
        let row = sqlx::query(
            "SELECT c.status, c.amount::text AS amount, c.capture_signature, c.capture_blockhash,
                    s.payment, s.merchant, s.payer, s.mint
             FROM x402.escrow_call c JOIN x402.escrow_session s ON s.payment = c.session
             WHERE c.x402_call_id = $1",
        )
        .bind(call)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no call {call}")))?;
        let status: String = row.try_get("status")?;
        match status.as_str() {
            "delivered" => {
                let amount: u64 = row
                    .try_get::<String, _>("amount")?
                    .parse()
                    .map_err(|_| ApiError::Internal("an amount over u64".into()))?;
                let session = as_key(&row.try_get::<Vec<u8>, _>("payment")?);
                let merchant = as_key(&row.try_get::<Vec<u8>, _>("merchant")?);
                let mint = as_key(&row.try_get::<Vec<u8>, _>("mint")?);
                send_capture(state, call, &session, &merchant, &mint, amount).await?;
            }
            "capturing" => {
                let sig: Vec<u8> = row.try_get("capture_signature")?;
                let hash: Vec<u8> = row.try_get("capture_blockhash")?;
                let sig = Signature::try_from(sig.as_slice())
                    .map_err(|_| ApiError::Internal("a stored signature".into()))?;
                let hash = Hash::new_from_array(
                    hash.try_into()
                        .map_err(|_| ApiError::Internal("a stored blockhash".into()))?,
                );
                if !settle_capture(state, call, &sig, &hash).await? {
                    break;
                }
            }
            _ => break,
        }
    }
    let row = sqlx::query(CALL).bind(call).fetch_one(&state.pool).await?;
    call_of(&row)
}

/// Signs a capture of `amount`, records it as `capturing`, then sends it and waits.
async fn send_capture(
    state: &AppState,
    call: &str,
    session: &Pubkey,
    merchant: &Pubkey,
    mint: &Pubkey,
    amount: u64,
) -> Result<(), ApiError> {
    let fee_payer = fee_payer(state)?.clone();
    let (m, operator) = operator_for(state, merchant).await?;
    let config: Config = state
        .program_account(&kassa_sdk::pda::config(&kassa_payments::ID).0)
        .await?;
    let info = state.mint(mint).await?;
    let refs = SettlementRefs {
        merchant: *merchant,
        payment: *session,
        mint: MintRef::new(*mint, info.token_program)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        fee_receiver: config.fee_receiver,
        settlement_wallet: m.settlement_wallet,
        assignee: None,
    };
    let ix = Payments::default()
        .payment_capture(&operator.pubkey(), &refs, amount)
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let blockhash = latest_blockhash(state).await?;
    // The call's id as a memo: two calls of one price on one session in one slot would
    // otherwise be the same transaction, which the chain runs once.
    let memo = solana_sdk::instruction::Instruction::new_with_bytes(
        kassa_sdk::x402::exact::MEMO_PROGRAM,
        call.as_bytes(),
        vec![],
    );
    let tx = Transaction::new_signed_with_payer(
        &[ix, memo],
        Some(&fee_payer.pubkey()),
        &[fee_payer.as_ref(), operator.as_ref()],
        blockhash,
    );
    let sig = tx.signatures[0];
    // Recorded before it is sent: after a crash the signature is looked up, never re-sent
    // blindly. Only one worker moves a call from delivered to capturing.
    let took = sqlx::query(
        "UPDATE x402.escrow_call SET status = 'capturing', capture_signature = $2, capture_blockhash = $3
         WHERE x402_call_id = $1 AND status = 'delivered'",
    )
    .bind(call)
    .bind(sig.as_ref())
    .bind(blockhash.as_ref())
    .execute(&state.pool)
    .await?
    .rows_affected();
    if took == 0 {
        return Ok(());
    }
    if let Err(e) = state
        .rpc
        .send_transaction_with_config(
            &tx,
            solana_rpc_client_api::config::RpcSendTransactionConfig {
                skip_preflight: true,
                ..Default::default()
            },
        )
        .await
    {
        tracing::warn!(call, "sending a capture: {e}; recovery looks it up");
    }
    settle_capture(state, call, &sig, &blockhash).await?;
    Ok(())
}

/// Waits (up to 30 s) for a sent capture; records what the chain did. Answers whether the
/// call went back to `delivered` (its capture expired unseen: send a new one).
async fn settle_capture(
    state: &AppState,
    call: &str,
    sig: &Signature,
    blockhash: &Hash,
) -> Result<bool, ApiError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match super::signature_status(state, sig).await? {
            Some(s) if s.err.is_some() => {
                let err = s.err.map(|e| e.to_string()).unwrap_or_default();
                finish_call(
                    state,
                    call,
                    "failed",
                    Some(&format!("the capture failed: {err}")),
                )
                .await?;
                return Ok(false);
            }
            Some(s) if s.satisfies_commitment(CommitmentConfig::confirmed()) => {
                finish_call(state, call, "captured", None).await?;
                return Ok(false);
            }
            Some(_) => {}
            None => {
                if super::never_lands(state, sig, blockhash).await? {
                    // It can never land now: capture it anew.
                    sqlx::query(
                        "UPDATE x402.escrow_call SET status = 'delivered', capture_signature = NULL,
                             capture_blockhash = NULL
                         WHERE x402_call_id = $1 AND status = 'capturing' AND capture_signature = $2",
                    )
                    .bind(call)
                    .bind(sig.as_ref())
                    .execute(&state.pool)
                    .await?;
                    return Ok(true);
                }
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A capturing call's end: captured (the session's captured grows) or failed (its reservation
/// goes back).
async fn finish_call(
    state: &AppState,
    call: &str,
    to: &str,
    error: Option<&str>,
) -> Result<(), ApiError> {
    let mut db = state.pool.begin().await?;
    let moved = sqlx::query(
        "UPDATE x402.escrow_call SET status = $2, error = $3, finished_at = now()
         WHERE x402_call_id = $1 AND status = 'capturing'
         RETURNING session, amount::text",
    )
    .bind(call)
    .bind(to)
    .bind(error)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(r) = moved {
        let session: Vec<u8> = r.try_get(0)?;
        let amount: String = r.try_get(1)?;
        let captured = if to == "captured" {
            amount.clone()
        } else {
            "0".into()
        };
        sqlx::query(
            "UPDATE x402.escrow_session SET reserved = reserved - $2::numeric,
                 captured = captured + $3::numeric
             WHERE payment = $1",
        )
        .bind(session)
        .bind(amount)
        .bind(captured)
        .execute(&mut *db)
        .await?;
    }
    db.commit().await?;
    Ok(())
}

/// What a recovery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Recovered {
    /// Delivered or capturing calls driven to their end.
    pub captured: u64,
    /// Reservations abandoned by their paywall, released.
    pub released: u64,
    /// Offers never authorized, expired.
    pub expired: u64,
    /// Closed sessions' payment accounts closed, their rent sent back to the operator key.
    pub rent_reclaimed: u64,
}

/// How long a close sent for a session's rent is given to land before it is sent again.
const RENT_RETRY_SECS: u64 = 90;

/// Closes the payment accounts of closed sessions once nothing in them can be asked back
/// (nothing escrowed, and nothing refundable or the refund window over, as the mirror shows
/// them): `payment_close` is permissionless, the facilitator's fee payer sends it, and the
/// program returns the rent to the key that opened the invoice, the merchant's operator key.
/// Answers how many closes landed.
async fn reclaim_rent(state: &AppState) -> Result<u64, ApiError> {
    let Ok(fee_payer) = fee_payer(state).cloned() else {
        return Ok(0);
    };
    let due: Vec<(Vec<u8>, Vec<u8>)> = sqlx::query_as(
        "SELECT s.payment, s.merchant FROM x402.escrow_session s
         JOIN chain.payment p ON p.address = s.payment
         WHERE s.status = 'closed' AND NOT p.closed
           AND p.authorized - p.captured - p.released = 0
           AND (p.captured - p.refunded = 0 OR p.refund_deadline < extract(epoch FROM now()))
           AND (s.rent_attempted_at IS NULL
                OR s.rent_attempted_at < now() - make_interval(secs => $1))
         ORDER BY s.closed_at LIMIT 50",
    )
    .bind(RENT_RETRY_SECS as f64)
    .fetch_all(&state.pool)
    .await?;
    let mut closed = 0;
    for (session, merchant) in due {
        let (session, merchant) = (as_key(&session), as_key(&merchant));
        // Only one process sends it: the one that moves the attempt time.
        let mine = sqlx::query(
            "UPDATE x402.escrow_session SET rent_attempted_at = now()
             WHERE payment = $1 AND status = 'closed'
               AND (rent_attempted_at IS NULL
                    OR rent_attempted_at < now() - make_interval(secs => $2))",
        )
        .bind(session.to_bytes().as_slice())
        .bind(RENT_RETRY_SECS as f64)
        .execute(&state.pool)
        .await?
        .rows_affected();
        if mine == 0 {
            continue;
        }
        // One session that cannot be read now (closed already, the mirror behind) does not
        // hold up the others; it is tried again after the retry delay.
        let accounts = async {
            let payment: kassa_payments::state::Payment = state.program_account(&session).await?;
            let m: Merchant = state.program_account(&merchant).await?;
            Ok::<_, ApiError>((payment, m))
        };
        let (payment, m) = match accounts.await {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(%session, "x402 session rent not reclaimed yet: {e}");
                continue;
            }
        };
        let close = Payments::default()
            .payment_close(
                &fee_payer.pubkey(),
                &merchant,
                &session,
                &m.rent_receiver(payment.opened_by_operator),
            )
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let blockhash = latest_blockhash(state).await?;
        let tx = Transaction::new_signed_with_payer(
            &[close],
            Some(&fee_payer.pubkey()),
            &[fee_payer.as_ref()],
            blockhash,
        );
        sqlx::query("UPDATE x402.escrow_session SET rent_signature = $2 WHERE payment = $1")
            .bind(session.to_bytes().as_slice())
            .bind(tx.signatures[0].as_ref())
            .execute(&state.pool)
            .await?;
        match state.send_signed(&tx).await {
            Ok(_) => closed += 1,
            Err(e) => tracing::warn!(%session, "x402 session rent not reclaimed yet: {e}"),
        }
    }
    Ok(closed)
}

async fn recover_session(state: &AppState, session: &Pubkey) -> Result<(), ApiError> {
    let calls: Vec<String> = sqlx::query_scalar(
        "SELECT x402_call_id FROM x402.escrow_call
         WHERE session = $1 AND status IN ('delivered', 'capturing') ORDER BY created_at",
    )
    .bind(session.to_bytes().as_slice())
    .fetch_all(&state.pool)
    .await?;
    for c in calls {
        capture(state, &c).await?;
    }
    Ok(())
}

/// Finishes what a crash interrupted: delivered calls are captured, capturing calls looked up
/// (and captured anew only when their capture can no longer land), reservations abandoned for
/// [`ABANDONED_SECS`] released, offers past their expiry expired; and closed sessions' rent is
/// reclaimed once they can no longer be refunded. Safe to run from several processes at once.
pub async fn recover(state: &AppState) -> Result<Recovered, ApiError> {
    let mut done = Recovered::default();
    let calls: Vec<String> = sqlx::query_scalar(
        "SELECT x402_call_id FROM x402.escrow_call
         WHERE status IN ('delivered', 'capturing') ORDER BY created_at LIMIT 100",
    )
    .fetch_all(&state.pool)
    .await?;
    for c in calls {
        if capture(state, &c).await?.status == "captured" {
            done.captured += 1;
        }
    }
    let abandoned: Vec<(String, Vec<u8>)> = sqlx::query_as(
        "SELECT c.x402_call_id, s.merchant FROM x402.escrow_call c
         JOIN x402.escrow_session s ON s.payment = c.session
         WHERE c.status = 'reserved' AND c.created_at < now() - make_interval(secs => $1)",
    )
    .bind(ABANDONED_SECS as f64)
    .fetch_all(&state.pool)
    .await?;
    for (c, merchant) in abandoned {
        if release(state, &as_key(&merchant), &c).await?.status == "released" {
            done.released += 1;
        }
    }
    done.expired = sqlx::query(
        "UPDATE x402.escrow_session SET status = 'expired'
         WHERE status = 'offered' AND offer_expires_at < now() - interval '1 minute'",
    )
    .execute(&state.pool)
    .await?
    .rows_affected();
    done.rent_reclaimed = reclaim_rent(state).await?;
    Ok(done)
}

/// Runs [`recover`] every `every` until `stop` says so.
pub fn spawn_recovery(
    state: AppState,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = recover(&state).await {
                tracing::warn!("x402 recovery: {e}");
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    })
}
