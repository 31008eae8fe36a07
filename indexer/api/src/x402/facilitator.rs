//! The facilitator's routes (`specs/x402-specification-v2.md` §7): `GET /x402/supported`,
//! `POST /x402/verify`, `POST /x402/settle`, for merchants' keys. A payment the facilitator
//! refuses is a `200` whose body says so (`isValid: false` or `success: false`, with the
//! specification's reason), as the reference facilitator answers; a malformed body is a `400`.

use super::exact::{self, reason, refuse, Refusal};
use crate::{auth::Caller, error::ApiError, wire::rfc3339, AppState};
use axum::{
    extract::{Path, State},
    routing::{get, post},
    Extension, Json, Router,
};
use kassa_sdk::{
    api::types::X402Settlement,
    x402::{
        exact::decode_payload, FacilitatorRequest, SettleResponse, Supported, SupportedKind,
        VerifyResponse, VERSION,
    },
};
use serde_json::{json, Map};
use sha2::{Digest, Sha256};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client_api::config::{RpcSendTransactionConfig, RpcSimulateTransactionConfig};
use solana_sdk::{
    pubkey::Pubkey, signature::Signature, signer::Signer, transaction::VersionedTransaction,
};
use sqlx::Row;
use std::{str::FromStr, time::Duration};

/// The facilitator's routes (behind the API-key check).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/x402/supported", get(supported))
        .route("/x402/verify", post(verify))
        .route("/x402/settle", post(settle))
        .route("/x402/escrow/release", post(release))
}

/// `POST /x402/escrow/release`'s body.
#[derive(serde::Deserialize)]
struct Release {
    call: String,
}

/// A `kassa-escrow` call the paywall did not serve (the handler failed or timed out): its
/// reservation goes back, nothing is captured.
async fn release(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<Release>,
) -> Result<Json<kassa_sdk::x402::escrow::CallStatus>, ApiError> {
    config(&state)?;
    let merchant = merchant_of(&caller)?;
    Ok(Json(
        super::escrow::release(&state, &merchant, &req.call).await?,
    ))
}

fn config(state: &AppState) -> Result<&super::X402Config, ApiError> {
    state
        .config
        .x402
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable {
            detail: "this server runs no x402 facilitator (x402.fee_payer is not set)".into(),
            retry_after: 60,
        })
}

/// The merchant a facilitator call acts for: only merchants' keys settle payments.
fn merchant_of(caller: &Caller) -> Result<Pubkey, ApiError> {
    caller.merchant.ok_or_else(|| {
        ApiError::Forbidden("x402 payments are settled for a merchant: use a merchant's key".into())
    })
}

/// What the facilitator settles: `exact` on each network, and `kassa-escrow` when Kassa holds
/// the calling merchant's operator key.
async fn supported(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Supported>, ApiError> {
    let c = config(&state)?;
    let escrow = match caller.merchant {
        Some(m) if super::escrow::offered_for(&state, &m).await => Some(m),
        _ => None,
    };
    let exact = match caller.merchant {
        Some(m) => !custodial(&state, &m).await?,
        None => true,
    };
    let fee_payer = c.fee_payer.pubkey().to_string();
    let mut extra = Map::new();
    extra.insert("feePayer".into(), json!(fee_payer));
    let mut signers = Map::new();
    signers.insert("solana:*".into(), json!([fee_payer]));
    let mut kinds = Vec::new();
    for n in &c.networks {
        if let Some(m) = escrow {
            let mut e = extra.clone();
            e.insert("merchant".into(), json!(m.to_string()));
            e.insert(
                "facilitator".into(),
                json!(format!(
                    "{}/x402",
                    state.config.public_url.trim_end_matches('/')
                )),
            );
            kinds.push(SupportedKind {
                x402_version: VERSION,
                scheme: kassa_sdk::x402::escrow::SCHEME.into(),
                network: n.clone(),
                extra: e,
            });
        }
        if exact {
            kinds.push(SupportedKind {
                x402_version: VERSION,
                scheme: "exact".into(),
                network: n.clone(),
                extra: extra.clone(),
            });
        }
    }
    Ok(Json(Supported {
        kinds,
        extensions: vec![],
        signers,
    }))
}

/// Whether Kassa holds `merchant`'s proceeds (a fiat merchant, paid into the treasury).
async fn custodial(state: &AppState, merchant: &Pubkey) -> Result<bool, ApiError> {
    Ok(sqlx::query_scalar::<_, Option<bool>>(
        "SELECT coalesce(s.mode = 'fiat', false)
                OR m.settlement_wallet = (SELECT wallet FROM settlement.treasury)
         FROM chain.merchant m LEFT JOIN settlement.merchant s ON s.merchant = m.address
         WHERE m.address = $1",
    )
    .bind(merchant.to_bytes().as_slice())
    .fetch_optional(&state.pool)
    .await?
    .flatten()
    .unwrap_or(false))
}

/// A payment that passed every check, ready to co-sign.
struct Checked {
    tx: VersionedTransaction,
    transfer: exact::Transfer,
    message_hash: [u8; 32],
    network: String,
    resource: String,
}

/// A payment already taken: its id, status and merchant.
struct Taken {
    id: String,
    status: String,
    merchant: Vec<u8>,
}

/// Every check short of co-signing, in the specification's order, then Kassa's: the merchant,
/// the payer's screening, a replay, a simulation.
async fn check(
    state: &AppState,
    merchant: &Pubkey,
    req: &FacilitatorRequest,
) -> Result<Result<Checked, Taken>, Refusal> {
    let c = state
        .config
        .x402
        .as_ref()
        .ok_or_else(|| refuse(reason::UNEXPECTED_VERIFY, "no facilitator here"))?;
    let payload = &req.payment_payload;
    let ours = &req.payment_requirements;
    if req.x402_version != VERSION || payload.x402_version != VERSION {
        return Err(refuse(
            reason::INVALID_VERSION,
            format!(
                "x402 version {}; this facilitator speaks {VERSION}",
                payload.x402_version
            ),
        ));
    }
    if payload.accepted.scheme != "exact" || ours.scheme != "exact" {
        return Err(refuse(
            reason::UNSUPPORTED_SCHEME,
            format!(
                "scheme {}; this facilitator settles exact",
                payload.accepted.scheme
            ),
        ));
    }
    if payload.accepted.network != ours.network || !c.networks.contains(&ours.network) {
        return Err(refuse(
            reason::NETWORK_MISMATCH,
            format!(
                "network {}; this facilitator settles on {}",
                payload.accepted.network,
                c.networks.join(", ")
            ),
        ));
    }
    let fee_payer = c.fee_payer.pubkey();
    match ours.extra_str("feePayer") {
        None => {
            return Err(refuse(
                reason::MISSING_FEE_PAYER,
                "extra.feePayer is missing",
            ))
        }
        Some(f) if f != fee_payer.to_string() => {
            return Err(refuse(
                reason::FEE_PAYER_NOT_MANAGED,
                format!("fee payer {f} is not this facilitator's {fee_payer}"),
            ))
        }
        Some(_) => {}
    }
    if !ours.accepted_by(&payload.accepted) {
        return Err(refuse(
            reason::INVALID_REQUIREMENTS,
            "the payment accepted other requirements than the resource server's",
        ));
    }
    // The merchant is paid in its own coin, in its own settlement wallet, once KYB-approved.
    // A merchant Kassa settles in fiat is paid into the treasury's wallet, where the ledger
    // must book every token: its payments go through the escrow program (`kassa-escrow`),
    // whose events the ledger books. A plain transfer would bypass the books.
    let row = sqlx::query(
        "SELECT settlement_wallet, settlement_mint, kyb_status FROM chain.merchant WHERE address = $1",
    )
    .bind(merchant.to_bytes().as_slice())
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| refuse(reason::UNEXPECTED_VERIFY, e.to_string()))?
    .ok_or_else(|| refuse(reason::INVALID_REQUIREMENTS, "the merchant is not on chain"))?;
    let wallet: Vec<u8> = row.get(0);
    let mint: Vec<u8> = row.get(1);
    let kyb: String = row.get(2);
    let as_key = |b: &[u8]| Pubkey::try_from(b).unwrap_or_default();
    if custodial(state, merchant)
        .await
        .map_err(|e| refuse(reason::UNEXPECTED_VERIFY, e.to_string()))?
    {
        return Err(refuse(
            reason::INVALID_REQUIREMENTS,
            "Kassa settles this merchant in fiat: it is paid through kassa-escrow, which the books follow",
        ));
    }
    if kyb != "approved" {
        return Err(refuse(
            reason::INVALID_REQUIREMENTS,
            format!("the merchant's KYB is {kyb}"),
        ));
    }
    if ours.pay_to != as_key(&wallet).to_string() {
        return Err(refuse(
            reason::INVALID_REQUIREMENTS,
            format!(
                "payTo must be the merchant's settlement wallet {}",
                as_key(&wallet)
            ),
        ));
    }
    if ours.asset != as_key(&mint).to_string() {
        return Err(refuse(
            reason::INVALID_REQUIREMENTS,
            format!(
                "the asset must be the merchant's settlement mint {}",
                as_key(&mint)
            ),
        ));
    }
    let tx = decode_payload(&payload.payload).map_err(|e| refuse(reason::UNDECODABLE, e))?;
    let transfer = exact::check(&tx, ours, &fee_payer)?;
    let message_hash: [u8; 32] = Sha256::digest(tx.message.serialize()).into();
    let taken = sqlx::query(
        "SELECT x402_settlement_id, status, merchant FROM x402.settlement WHERE message_hash = $1",
    )
    .bind(message_hash.as_slice())
    .fetch_optional(&state.pool)
    .await
    .map_err(|e| refuse(reason::UNEXPECTED_VERIFY, e.to_string()))?;
    if let Some(t) = taken {
        return Ok(Err(Taken {
            id: t.get(0),
            status: t.get(1),
            merchant: t.get(2),
        }));
    }
    // Screened as every Kassa payer is; a refusal does not say why.
    let screening = kassa_compliance::screen::screen(
        &state.pool,
        &transfer.payer,
        Some(merchant),
        "x402",
        &state.config.screening,
    )
    .await
    .map_err(|e| refuse(reason::UNEXPECTED_VERIFY, e.to_string()))?;
    if screening.decision == kassa_compliance::screen::Decision::Refuse {
        return Err(refuse(
            reason::PAYER_REFUSED,
            "this wallet cannot pay Kassa merchants",
        ));
    }
    let sim = state
        .rpc
        .simulate_transaction_with_config(
            &tx,
            RpcSimulateTransactionConfig {
                sig_verify: false,
                replace_recent_blockhash: false,
                commitment: Some(CommitmentConfig::confirmed()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| refuse(reason::UNEXPECTED_VERIFY, format!("simulation: {e}")))?;
    if let Some(err) = sim.value.err {
        return Err(refuse(
            reason::SIMULATION_FAILED,
            format!("Simulation failed: {err}"),
        ));
    }
    let resource = payload
        .resource
        .as_ref()
        .map(|r| r.url.clone())
        .filter(|u| !u.is_empty() && u.len() <= 2048)
        .unwrap_or_else(|| "unknown".into());
    Ok(Ok(Checked {
        tx,
        transfer,
        message_hash,
        network: ours.network.clone(),
        resource,
    }))
}

/// Whether the payment would settle, without co-signing or sending anything.
async fn verify(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<FacilitatorRequest>,
) -> Result<Json<VerifyResponse>, ApiError> {
    config(&state)?;
    let merchant = merchant_of(&caller)?;
    if req.payment_payload.accepted.scheme == kassa_sdk::x402::escrow::SCHEME {
        return Ok(Json(super::escrow::reserve(&state, &merchant, &req).await?));
    }
    let payer = payer_of(&req);
    Ok(Json(match check(&state, &merchant, &req).await {
        Ok(Ok(c)) => VerifyResponse {
            is_valid: true,
            payer: Some(c.transfer.payer.to_string()),
            ..Default::default()
        },
        Ok(Err(t)) => VerifyResponse {
            is_valid: false,
            invalid_reason: Some(reason::DUPLICATE.into()),
            invalid_message: Some(format!("this payment was taken already as {}", t.id)),
            payer,
            ..Default::default()
        },
        Err(r) => VerifyResponse {
            is_valid: false,
            invalid_reason: Some(r.reason.into()),
            invalid_message: Some(r.message),
            payer,
            ..Default::default()
        },
    }))
}

/// The payer a payload names, best effort (for answers about refused payments).
fn payer_of(req: &FacilitatorRequest) -> Option<String> {
    let tx = decode_payload(&req.payment_payload.payload).ok()?;
    tx.message
        .static_account_keys()
        .get(1)
        .map(|k| k.to_string())
}

fn failed(network: &str, payer: Option<String>, r: Refusal, transaction: String) -> SettleResponse {
    SettleResponse {
        success: false,
        error_reason: Some(r.reason.into()),
        error_message: Some(r.message),
        payer,
        transaction,
        network: network.into(),
        extra: Map::new(),
    }
}

/// Checks the payment again, co-signs it as fee payer, sends it and waits for it to confirm.
async fn settle(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<FacilitatorRequest>,
) -> Result<Json<SettleResponse>, ApiError> {
    let c = config(&state)?;
    let merchant = merchant_of(&caller)?;
    if req.payment_payload.accepted.scheme == kassa_sdk::x402::escrow::SCHEME {
        return Ok(Json(super::escrow::deliver(&state, &merchant, &req).await?));
    }
    let network = req.payment_requirements.network.clone();
    let payer = payer_of(&req);
    let checked = match check(&state, &merchant, &req).await {
        Ok(Ok(checked)) => checked,
        Ok(Err(taken)) => {
            // The same payment again: a pending one (its sender crashed, or its answer was
            // lost) is looked up on chain, never sent twice; anything else is a replay.
            if taken.status == "pending" && taken.merchant == merchant.to_bytes() {
                let sig = Signature::from_str(&taken.id)
                    .map_err(|_| ApiError::Internal("a stored signature does not parse".into()))?;
                return Ok(Json(finish(&state, &sig, &network, payer).await?));
            }
            return Ok(Json(failed(
                &network,
                payer,
                refuse(
                    reason::DUPLICATE,
                    format!("this payment was {} already as {}", taken.status, taken.id),
                ),
                String::new(),
            )));
        }
        Err(r) => return Ok(Json(failed(&network, payer, r, String::new()))),
    };
    let mut tx = checked.tx;
    tx.signatures[0] = c.fee_payer.sign_message(&tx.message.serialize());
    let sig = tx.signatures[0];
    let t = &checked.transfer;
    let inserted = sqlx::query(
        "INSERT INTO x402.settlement (x402_settlement_id, merchant, scheme, network, message_hash,
             signature, payer, pay_to, mint, amount, resource, status, blockhash)
         SELECT $1, $2, 'exact', $3, $4, $5, $6, $7, $8, $9::numeric, $10, 'pending', $11
         ON CONFLICT DO NOTHING",
    )
    .bind(sig.to_string())
    .bind(merchant.to_bytes().as_slice())
    .bind(&checked.network)
    .bind(checked.message_hash.as_slice())
    .bind(sig.as_ref())
    .bind(t.payer.to_bytes().as_slice())
    .bind(
        Pubkey::from_str(&req.payment_requirements.pay_to)
            .unwrap_or_default()
            .to_bytes()
            .as_slice(),
    )
    .bind(t.mint.to_bytes().as_slice())
    .bind(t.amount.to_string())
    .bind(&checked.resource)
    .bind(tx.message.recent_blockhash().as_ref())
    .execute(&state.pool)
    .await?
    .rows_affected();
    if inserted == 0 {
        // Another settle of the same payment got here first.
        return Ok(Json(failed(
            &network,
            payer,
            refuse(reason::DUPLICATE, "this payment is being settled already"),
            String::new(),
        )));
    }
    let sent = state
        .rpc
        .send_transaction_with_config(
            &tx,
            RpcSendTransactionConfig {
                skip_preflight: true,
                ..Default::default()
            },
        )
        .await;
    if let Err(e) = sent {
        // Refused before it landed (a node that says so has not taken it): nothing moved.
        let r = refuse(
            reason::TRANSACTION_FAILED,
            format!("the cluster refused it: {e}"),
        );
        mark_failed(&state, &sig, &r.message).await?;
        return Ok(Json(failed(&network, payer, r, sig.to_string())));
    }
    Ok(Json(finish(&state, &sig, &network, payer).await?))
}

/// Where a sent settlement stands on chain; a pending one is recorded as settled or failed
/// once the cluster has decided (failed also when its blockhash expired unseen).
async fn decide(state: &AppState, sig: &Signature) -> Result<Option<X402Settlement>, ApiError> {
    match super::signature_status(state, sig).await? {
        Some(s) if s.err.is_some() => {
            let err = s.err.map(|e| e.to_string()).unwrap_or_default();
            Ok(Some(
                mark_failed(state, sig, &format!("the transaction failed: {err}")).await?,
            ))
        }
        Some(s) if s.satisfies_commitment(CommitmentConfig::confirmed()) => {
            Ok(Some(mark_settled(state, sig).await?))
        }
        Some(_) => Ok(None),
        None => {
            let hash: Vec<u8> = sqlx::query_scalar(
                "SELECT blockhash FROM x402.settlement WHERE x402_settlement_id = $1",
            )
            .bind(sig.to_string())
            .fetch_one(&state.pool)
            .await?;
            let hash =
                solana_sdk::hash::Hash::new_from_array(hash.try_into().map_err(|_| {
                    ApiError::Internal("a stored blockhash is not 32 bytes".into())
                })?);
            if super::never_lands(state, sig, &hash).await? {
                return Ok(Some(
                    mark_failed(
                        state,
                        sig,
                        "its blockhash expired before it landed; nothing moved",
                    )
                    .await?,
                ));
            }
            Ok(None)
        }
    }
}

/// Waits (up to 30 s) for `sig` to be decided and answers what it did.
async fn finish(
    state: &AppState,
    sig: &Signature,
    network: &str,
    payer: Option<String>,
) -> Result<SettleResponse, ApiError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(row) = decide(state, sig).await? {
            if row.status == "failed" {
                let r = refuse(reason::TRANSACTION_FAILED, row.error.unwrap_or_default());
                return Ok(failed(network, payer, r, sig.to_string()));
            }
            let mut extra = Map::new();
            extra.insert("settlementId".into(), json!(row.id));
            extra.insert("amount".into(), json!(row.amount));
            return Ok(SettleResponse {
                success: true,
                error_reason: None,
                error_message: None,
                payer: Some(row.payer),
                transaction: sig.to_string(),
                network: network.into(),
                extra,
            });
        }
        if tokio::time::Instant::now() >= deadline {
            return Ok(failed(
                network,
                payer,
                refuse(
                    reason::PENDING,
                    "sent, not confirmed yet; settle again to look it up",
                ),
                sig.to_string(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn mark_failed(
    state: &AppState,
    sig: &Signature,
    error: &str,
) -> Result<X402Settlement, ApiError> {
    sqlx::query(
        "UPDATE x402.settlement SET status = 'failed', error = $2, finished_at = now()
         WHERE x402_settlement_id = $1 AND status = 'pending'",
    )
    .bind(sig.to_string())
    .bind(error)
    .execute(&state.pool)
    .await?;
    let row = sqlx::query(SELECT)
        .bind(sig.to_string())
        .fetch_one(&state.pool)
        .await?;
    settlement(&row)
}

/// Marks the settlement settled and, in the same transaction, tells the merchant's webhooks and
/// hands the payment to the KYT monitor (`compliance.inbox`), as the indexer does with a Kassa
/// payment's authorization.
async fn mark_settled(state: &AppState, sig: &Signature) -> Result<X402Settlement, ApiError> {
    let mut db = state.pool.begin().await?;
    // Only the call that moves it from pending tells the merchant: exactly one notification.
    let moved = sqlx::query(
        "UPDATE x402.settlement SET status = 'settled', finished_at = now()
         WHERE x402_settlement_id = $1 AND status = 'pending'",
    )
    .bind(sig.to_string())
    .execute(&mut *db)
    .await?
    .rows_affected();
    let row = sqlx::query(SELECT)
        .bind(sig.to_string())
        .fetch_one(&mut *db)
        .await?;
    let s = settlement(&row)?;
    if moved == 1 {
        let merchant: Vec<u8> = row.get("merchant");
        sqlx::query("INSERT INTO webhooks.outbox (type, merchant, data) VALUES ($1, $2, $3)")
            .bind(kassa_webhooks::events::X402_SETTLED)
            .bind(merchant.as_slice())
            .bind(serde_json::to_value(&s).map_err(|e| ApiError::Internal(e.to_string()))?)
            .execute(&mut *db)
            .await?;
        sqlx::query(
            "INSERT INTO compliance.inbox (x402_settlement, phase) VALUES ($1, 'confirmed')",
        )
        .bind(sig.to_string())
        .execute(&mut *db)
        .await?;
    }
    db.commit().await?;
    Ok(s)
}

const SELECT: &str = "SELECT x402_settlement_id, merchant, scheme, network, payer, pay_to, mint,
        amount::text AS amount, resource, status, error,
        extract(epoch FROM created_at)::bigint AS created,
        extract(epoch FROM finished_at)::bigint AS finished
    FROM x402.settlement WHERE x402_settlement_id = $1";

fn settlement(row: &sqlx::postgres::PgRow) -> Result<X402Settlement, ApiError> {
    let key = |name: &str| -> Result<String, ApiError> {
        let b: Vec<u8> = row.try_get(name)?;
        Pubkey::try_from(b.as_slice())
            .map(|k| k.to_string())
            .map_err(|_| ApiError::Internal(format!("{name} is not 32 bytes")))
    };
    Ok(X402Settlement {
        id: row.try_get("x402_settlement_id")?,
        merchant: key("merchant")?,
        scheme: row.try_get("scheme")?,
        network: row.try_get("network")?,
        payer: key("payer")?,
        pay_to: key("pay_to")?,
        mint: key("mint")?,
        amount: row.try_get("amount")?,
        resource: row.try_get("resource")?,
        status: row.try_get("status")?,
        error: row.try_get("error")?,
        created_at: rfc3339(row.try_get("created")?),
        finished_at: row.try_get::<Option<i64>, _>("finished")?.map(rfc3339),
    })
}

#[utoipa::path(get, path = "/v1/x402/settlements/{id}", tag = "payments",
    params(("id" = String, Path, description = "The settlement id: the transaction signature in the x402 settlement answer")),
    responses((status = 200, body = X402Settlement), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// An x402 payment the facilitator took for this merchant: whether it settled. A pending one
/// is looked up on chain first, so a client whose answer was lost learns what happened.
pub async fn get_settlement(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<X402Settlement>, ApiError> {
    let not_found = || ApiError::NotFound(format!("no x402 settlement {id}"));
    let sig = Signature::from_str(&id).map_err(|_| not_found())?;
    let row = sqlx::query(SELECT)
        .bind(&id)
        .fetch_optional(&state.pool)
        .await?
        .ok_or_else(not_found)?;
    let s = settlement(&row)?;
    if !caller.sees(&Pubkey::from_str(&s.merchant).unwrap_or_default()) {
        return Err(not_found());
    }
    if s.status != "pending" {
        return Ok(Json(s));
    }
    Ok(Json(decide(&state, &sig).await?.unwrap_or(s)))
}
