//! The read resources: merchants, payments (with filters, cursor pages, timelines), balances,
//! conversion pools, credit pools, lines and advances, transactions, and the settlement status
//! lookup. A merchant key sees its own merchant only: anything else is a 404, exactly as if
//! it did not exist.

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult, Json, Path, Query},
    wire::{self, amount, get, key, opt_amount, opt_key, opt_time, parse_key, time},
    AppState,
};
use axum::{extract::State, Extension};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use kassa_sdk::{
    api::types::{
        Advance, Balance, Commitment, ConversionPool, CreditLine, CreditPool, Kyb, Merchant, Page,
        Payment, Policy, SettlementState, SettlementStatus, TimelineEvent, Transaction,
        TransactionInstruction,
    },
    payments::OrderId,
};
use serde::Deserialize;
use solana_sdk::pubkey::Pubkey;
use sqlx::{postgres::PgRow, QueryBuilder, Row};
use utoipa::IntoParams;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

pub(crate) fn limit(l: Option<i64>) -> ApiResult<i64> {
    match l {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT).contains(&l) => Ok(l),
        Some(l) => Err(ApiError::bad(
            "invalid-limit",
            format!("limit {l} must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

/// A page position: the sort key of the last row shown.
fn encode_cursor(sort: i64, address: &[u8]) -> String {
    let mut b = sort.to_be_bytes().to_vec();
    b.extend_from_slice(address);
    URL_SAFE_NO_PAD.encode(b)
}

fn decode_cursor(cursor: &str) -> ApiResult<(i64, Vec<u8>)> {
    let bad = || {
        ApiError::bad(
            "invalid-cursor",
            "cursor is not one this API returned (pass next_cursor unchanged)",
        )
    };
    let b = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    if b.len() != 40 {
        return Err(bad());
    }
    let sort = i64::from_be_bytes(b[..8].try_into().map_err(|_| bad())?);
    Ok((sort, b[8..].to_vec()))
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::NotFound(format!("no {what} {id}"))
}

// ---------------------------------------------------------------------------------------------
// Merchants

async fn merchant_of(state: &AppState, row: &PgRow) -> ApiResult<Merchant> {
    let _ = state;
    Ok(Merchant {
        address: key(row, "address")?,
        name: get(row, "account_name")?,
        authority: key(row, "authority")?,
        operator: opt_key(row, "operator")?,
        merchant_id: key(row, "merchant_id")?,
        settlement_mint: key(row, "settlement_mint")?,
        settlement_wallet: key(row, "settlement_wallet")?,
        kyb: Kyb {
            status: get(row, "kyb_status")?,
            case_hash: get(row, "kyb_case_hash")?,
        },
        policy: Policy {
            authorization_window_secs: get(row, "authorization_window")?,
            auto_capture_delay_secs: get(row, "auto_capture_delay")?,
            refund_window_secs: get(row, "refund_window")?,
            dispute_window_secs: get(row, "dispute_window")?,
            require_kyt: get(row, "require_kyt")?,
            fee_bps: get(row, "fee_bps")?,
        },
        registered_at: time(row, "registered_at")?,
        updated_at: time(row, "updated_at")?,
    })
}

const MERCHANT_SELECT: &str = "SELECT m.*, a.name AS account_name FROM chain.merchant m
     LEFT JOIN api.account a ON a.merchant = m.address";
const MERCHANT_BY_ADDRESS: &str = "SELECT m.*, a.name AS account_name FROM chain.merchant m
     LEFT JOIN api.account a ON a.merchant = m.address WHERE m.address = $1";

/// Query of a list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Rows per page (1 to 200, default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/merchants", tag = "merchants", params(ListQuery),
    responses((status = 200, body = Page<Merchant>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Merchants, by address (a merchant key sees itself only).
pub async fn list_merchants(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<Merchant>>> {
    let limit = limit(q.limit)?;
    let mut b = QueryBuilder::new(MERCHANT_SELECT);
    b.push(" WHERE true");
    if let Some(m) = caller.scope() {
        b.push(" AND m.address = ").push_bind(m.to_bytes().to_vec());
    }
    if let Some(c) = &q.cursor {
        let (_, address) = decode_cursor(c)?;
        b.push(" AND m.address > ").push_bind(address);
    }
    b.push(" ORDER BY m.address LIMIT ").push_bind(limit + 1);
    let rows = b.build().fetch_all(&state.reads).await?;
    let more = rows.len() as i64 > limit;
    let mut data = Vec::new();
    for row in rows.iter().take(limit as usize) {
        data.push(merchant_of(&state, row).await?);
    }
    let next_cursor = match (more, rows.get(limit as usize - 1)) {
        (true, Some(last)) => Some(encode_cursor(0, &get::<Vec<u8>>(last, "address")?)),
        _ => None,
    };
    Ok(Json(Page { data, next_cursor }))
}

#[utoipa::path(get, path = "/v1/merchants/{address}", tag = "merchants",
    params(("address" = String, Path, description = "Merchant PDA")),
    responses((status = 200, body = Merchant), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A merchant: profile, KYB status and payment policy.
pub async fn get_merchant(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
) -> ApiResult<Json<Merchant>> {
    let m = parse_key("address", &address)?;
    if !caller.sees(&m) {
        return Err(not_found("merchant", &address));
    }
    let row = sqlx::query(MERCHANT_BY_ADDRESS)
        .bind(&m.to_bytes()[..])
        .fetch_optional(&state.reads)
        .await?
        .ok_or_else(|| not_found("merchant", &address))?;
    Ok(Json(merchant_of(&state, &row).await?))
}

#[utoipa::path(get, path = "/v1/merchants/{address}/balances", tag = "merchants",
    params(("address" = String, Path, description = "Merchant PDA")),
    responses((status = 200, body = Vec<Balance>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A merchant's totals per mint: escrowed, settled, refunded, fees, net.
pub async fn merchant_balances(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
) -> ApiResult<Json<Vec<Balance>>> {
    let m = parse_key("address", &address)?;
    if !caller.sees(&m) {
        return Err(not_found("merchant", &address));
    }
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM chain.merchant WHERE address = $1")
        .bind(&m.to_bytes()[..])
        .fetch_optional(&state.reads)
        .await?;
    if exists.is_none() {
        return Err(not_found("merchant", &address));
    }
    let rows =
        sqlx::query("SELECT * FROM chain.merchant_balance WHERE merchant = $1 ORDER BY mint")
            .bind(&m.to_bytes()[..])
            .fetch_all(&state.reads)
            .await?;
    let mut out = Vec::new();
    for row in &rows {
        out.push(Balance {
            merchant: key(row, "merchant")?,
            mint: key(row, "mint")?,
            decimals: state.decimals_of(&get::<Vec<u8>>(row, "mint")?).await?,
            payments: get(row, "payments")?,
            escrowed: amount(row, "escrowed")?,
            settled: amount(row, "settled")?,
            refunded: amount(row, "refunded")?,
            fees: amount(row, "fees")?,
            net: amount(row, "net")?,
        });
    }
    Ok(Json(out))
}

// ---------------------------------------------------------------------------------------------
// Payments

pub(crate) fn order_text(hex_id: &str) -> String {
    let bytes: Vec<u8> = (0..hex_id.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex_id.get(2 * i..2 * i + 2)?, 16).ok())
        .collect();
    let mut seed = [0u8; 32];
    if bytes.len() == 32 {
        seed.copy_from_slice(&bytes);
    }
    OrderId::from(seed).to_text()
}

pub(crate) async fn payment_of(state: &AppState, row: &PgRow) -> ApiResult<Payment> {
    let input_mint: Option<Vec<u8>> = get(row, "input_mint")?;
    if let Some(m) = &input_mint {
        // Known, so that a client can read `input_amount` with the mint's decimals.
        state.decimals_of(m).await?;
    }
    Ok(Payment {
        address: key(row, "address")?,
        merchant: key(row, "merchant")?,
        order_id: order_text(&get::<String>(row, "order_id")?),
        mint: key(row, "mint")?,
        decimals: state.decimals_of(&get::<Vec<u8>>(row, "mint")?).await?,
        amount: amount(row, "amount")?,
        status: get(row, "status")?,
        payer: opt_key(row, "payer")?,
        authorized: amount(row, "authorized")?,
        captured: amount(row, "captured")?,
        released: amount(row, "released")?,
        refunded: amount(row, "refunded")?,
        fees: amount(row, "fees")?,
        to_merchant: amount(row, "to_merchant")?,
        to_assignee: amount(row, "to_assignee")?,
        assignee: opt_key(row, "assignee")?,
        assigned: amount(row, "assigned")?,
        input_mint: input_mint.map(|m| wire::base58(&m)),
        input_amount: opt_amount(row, "input_amount")?,
        kyt_cosigned: get(row, "kyt_cosigned")?,
        expires_at: time(row, "expires_at")?,
        authorization_expires_at: opt_time(row, "authorization_expires_at")?,
        refund_deadline: opt_time(row, "refund_deadline")?,
        dispute_deadline: opt_time(row, "dispute_deadline")?,
        auto_capture_at: opt_time(row, "auto_capture_at")?,
        opened_at: time(row, "opened_at")?,
        status_at: time(row, "status_at")?,
        closed: get(row, "closed")?,
    })
}

pub(crate) const STATUSES: [&str; 12] = [
    "open",
    "authorized",
    "captured",
    "refunded",
    "voided",
    "reclaimed",
    "cancelled",
    "expired",
    "disputed",
    "resolved",
    "held",
    "rejected",
];

/// Filters of the payment list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PaymentQuery {
    /// Only this merchant's (a merchant key always sees only its own).
    pub(crate) merchant: Option<String>,
    /// Only payments in this status.
    pub(crate) status: Option<String>,
    /// Only payments in this mint.
    pub(crate) mint: Option<String>,
    /// Opened at or after (RFC 3339).
    pub(crate) from: Option<String>,
    /// Opened before (RFC 3339).
    pub(crate) to: Option<String>,
    /// Rows per page (1 to 200, default 50).
    pub(crate) limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/payments", tag = "payments", params(PaymentQuery),
    responses((status = 200, body = Page<Payment>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Payments, newest first, filtered by merchant, status, mint and time.
pub async fn list_payments(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<PaymentQuery>,
) -> ApiResult<Json<Page<Payment>>> {
    let limit = limit(q.limit)?;
    let merchant = q
        .merchant
        .as_deref()
        .map(|m| parse_key("merchant", m))
        .transpose()?;
    if let (Some(scope), Some(m)) = (caller.scope(), merchant) {
        if scope != m {
            // Another merchant's payments: as if there were none.
            return Ok(Json(Page {
                data: vec![],
                next_cursor: None,
            }));
        }
    }
    let merchant = caller.scope().or(merchant);
    if let Some(s) = &q.status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ApiError::bad(
                "invalid-status",
                format!("status {s:?} is not one of {}", STATUSES.join(", ")),
            ));
        }
    }
    let mint = q
        .mint
        .as_deref()
        .map(|m| parse_key("mint", m))
        .transpose()?;
    let from = q
        .from
        .as_deref()
        .map(|t| wire::parse_time("from", t))
        .transpose()?;
    let to =
        q.to.as_deref()
            .map(|t| wire::parse_time("to", t))
            .transpose()?;
    let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;

    let mut b = QueryBuilder::new("SELECT * FROM chain.payment WHERE true");
    if let Some(m) = merchant {
        b.push(" AND merchant = ").push_bind(m.to_bytes().to_vec());
    }
    if let Some(s) = &q.status {
        b.push(" AND status = ").push_bind(s.clone());
    }
    if let Some(m) = mint {
        b.push(" AND mint = ").push_bind(m.to_bytes().to_vec());
    }
    if let Some(f) = from {
        b.push(" AND opened_at >= ").push_bind(f);
    }
    if let Some(t) = to {
        b.push(" AND opened_at < ").push_bind(t);
    }
    if let Some((opened, address)) = cursor {
        b.push(" AND (opened_at, address) < (")
            .push_bind(opened)
            .push(", ")
            .push_bind(address)
            .push("::bytea)");
    }
    b.push(" ORDER BY opened_at DESC, address DESC LIMIT ")
        .push_bind(limit + 1);
    let rows = b.build().fetch_all(&state.reads).await?;
    let more = rows.len() as i64 > limit;
    let mut data = Vec::with_capacity(rows.len());
    for row in rows.iter().take(limit as usize) {
        data.push(payment_of(&state, row).await?);
    }
    let next_cursor = match (more, rows.get(limit as usize - 1)) {
        (true, Some(last)) => Some(encode_cursor(
            get(last, "opened_at")?,
            &get::<Vec<u8>>(last, "address")?,
        )),
        _ => None,
    };
    Ok(Json(Page { data, next_cursor }))
}

/// The payment row at `address` if the caller may see it.
pub(crate) async fn payment_row(
    state: &AppState,
    caller: &Caller,
    address: &str,
) -> ApiResult<std::sync::Arc<PgRow>> {
    let p = parse_key("address", address)?;
    let row = state
        .payments
        .load(p.to_bytes())
        .await?
        .ok_or_else(|| not_found("payment", address))?;
    let merchant = Pubkey::try_from(get::<Vec<u8>>(&row, "merchant")?.as_slice())
        .map_err(|_| ApiError::Internal("merchant is not 32 bytes".into()))?;
    if !caller.sees(&merchant) {
        return Err(not_found("payment", address));
    }
    Ok(row)
}

#[utoipa::path(get, path = "/v1/payments/{address}", tag = "payments",
    params(("address" = String, Path, description = "Payment PDA (its Solana Pay reference)")),
    responses((status = 200, body = Payment), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A payment by address.
pub async fn get_payment(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
) -> ApiResult<Json<Payment>> {
    let row = payment_row(&state, &caller, &address).await?;
    Ok(Json(payment_of(&state, &row).await?))
}

/// The payment PDA of a merchant's order id.
fn order_payment(merchant: &Pubkey, order_id: &str) -> ApiResult<Pubkey> {
    let order =
        OrderId::new(order_id).map_err(|e| ApiError::bad("invalid-order-id", e.to_string()))?;
    Ok(kassa_sdk::pda::payment(&kassa_payments::ID, merchant, order.as_bytes()).0)
}

#[utoipa::path(get, path = "/v1/merchants/{address}/orders/{order_id}", tag = "payments",
    params(("address" = String, Path, description = "Merchant PDA"),
           ("order_id" = String, Path, description = "The merchant's order id")),
    responses((status = 200, body = Payment), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A payment by its merchant's order id.
pub async fn get_payment_by_order(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((address, order_id)): Path<(String, String)>,
) -> ApiResult<Json<Payment>> {
    let m = parse_key("address", &address)?;
    let p = order_payment(&m, &order_id)?;
    let row = payment_row(&state, &caller, &p.to_string())
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => not_found("payment for order", &order_id),
            e => e,
        })?;
    Ok(Json(payment_of(&state, &row).await?))
}

fn commitment(s: &str, reverted: bool) -> ApiResult<Commitment> {
    Ok(match (s, reverted) {
        (_, true) | ("reverted", _) => Commitment::Reverted,
        ("confirmed", _) => Commitment::Confirmed,
        ("finalized", _) => Commitment::Finalized,
        (other, _) => return Err(ApiError::Internal(format!("commitment {other}"))),
    })
}

fn event_of(row: &PgRow) -> ApiResult<TimelineEvent> {
    Ok(TimelineEvent {
        seq: get(row, "seq")?,
        name: get(row, "name")?,
        at: time(row, "ts")?,
        actor: key(row, "actor")?,
        signature: key(row, "signature")?,
        slot: get(row, "slot")?,
        commitment: commitment(&get::<String>(row, "commitment")?, get(row, "reverted")?)?,
        data: get(row, "data")?,
    })
}

/// The slots an entity's stored events (live and rolled back) lie within, from the keys kept
/// beside the partitions (`chain.entity_seq`, `chain.reverted_key`); `None` when it has none.
/// A read of the entity's events that names this range as parameters is pruned to the
/// partitions inside it before Postgres starts the statement: one or two of them, however many
/// the history holds (every partition a statement may touch is locked and started otherwise).
async fn entity_slots(state: &AppState, entity: &[u8]) -> ApiResult<Option<(i64, i64)>> {
    let (lower, upper): (Option<i64>, Option<i64>) = sqlx::query_as(
        "SELECT min(slot), max(slot)
         FROM (SELECT slot FROM chain.entity_seq WHERE entity = $1
               UNION ALL SELECT slot FROM chain.reverted_key WHERE entity = $1) s",
    )
    .bind(entity)
    .fetch_one(&state.reads)
    .await?;
    Ok(lower.zip(upper))
}

/// An entity's events, live and reverted, in order of the entity's sequence (a rolled-back
/// event before the live one that took its number), within the slots `entity_slots` found
/// ($2, $3): each half through its own index in those partitions only.
const TIMELINE: &str =
    "SELECT e.seq, e.name, e.ts, e.actor, e.signature, e.slot, e.data, e.reverted,
            t.commitment, e.ix_index, e.inner_index
     FROM chain.event e JOIN chain.transaction t ON (t.signature, t.slot) = (e.signature, e.slot)
     WHERE e.entity = $1 AND NOT e.reverted
       AND e.slot BETWEEN $2 AND $3 AND t.slot BETWEEN $2 AND $3
     UNION ALL
     SELECT e.seq, e.name, e.ts, e.actor, e.signature, e.slot, e.data, e.reverted,
            t.commitment, e.ix_index, e.inner_index
     FROM chain.event e JOIN chain.transaction t ON (t.signature, t.slot) = (e.signature, e.slot)
     WHERE e.entity = $1 AND e.reverted
       AND e.slot BETWEEN $2 AND $3 AND t.slot BETWEEN $2 AND $3
     ORDER BY seq, reverted DESC, slot, ix_index, inner_index";

#[utoipa::path(get, path = "/v1/payments/{address}/timeline", tag = "payments",
    params(("address" = String, Path, description = "Payment PDA")),
    responses((status = 200, body = Vec<TimelineEvent>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A payment's events in order, each with its transaction's commitment (rolled-back events
/// are listed as `reverted`).
pub async fn payment_timeline(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
) -> ApiResult<Json<Vec<TimelineEvent>>> {
    let row = payment_row(&state, &caller, &address).await?;
    let p: Vec<u8> = get(&row, "address")?;
    let Some((lower, upper)) = entity_slots(&state, &p).await? else {
        return Ok(Json(Vec::new()));
    };
    let rows = sqlx::query(TIMELINE)
        .bind(&p)
        .bind(lower)
        .bind(upper)
        .fetch_all(&state.reads)
        .await?;
    Ok(Json(rows.iter().map(event_of).collect::<ApiResult<_>>()?))
}

// ---------------------------------------------------------------------------------------------
// Transactions and the settlement status lookup

#[utoipa::path(get, path = "/v1/transactions/{signature}", tag = "transactions",
    params(("signature" = String, Path, description = "Transaction signature")),
    responses((status = 200, body = Transaction), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A stored transaction with its Kassa instructions and events.
pub async fn get_transaction(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(signature): Path<String>,
) -> ApiResult<Json<Transaction>> {
    let sig = wire::parse_signature("signature", &signature)?;
    let sig_bytes = sig.as_ref().to_vec();
    // A signature that landed twice (once on an abandoned fork) is shown where it counts.
    let row = sqlx::query(
        "SELECT * FROM chain.transaction WHERE signature = $1
         ORDER BY commitment = 'reverted', slot DESC LIMIT 1",
    )
    .bind(&sig_bytes)
    .fetch_optional(&state.reads)
    .await?
    .ok_or_else(|| not_found("transaction", &signature))?;
    let slot: i64 = get(&row, "slot")?;
    if let Some(m) = caller.scope() {
        // Its own, and nobody else's: a transaction that also touched another merchant's
        // merchant or payments (a wallet paying two invoices at once) is not shown to either.
        let visible: bool = sqlx::query_scalar(
            "SELECT coalesce(bool_or(e.entity = $2 OR p.merchant = $2), false)
                    AND NOT coalesce(bool_or(p.merchant <> $2 OR (m.address IS NOT NULL AND m.address <> $2)), false)
             FROM chain.event e
             LEFT JOIN chain.payment p ON p.address = e.entity
             LEFT JOIN chain.merchant m ON m.address = e.entity
             WHERE e.signature = $1 AND e.slot = $3",
        )
        .bind(&sig_bytes)
        .bind(&m.to_bytes()[..])
        .bind(slot)
        .fetch_one(&state.reads)
        .await?;
        if !visible {
            return Err(not_found("transaction", &signature));
        }
    }
    let commitment_text: String = get(&row, "commitment")?;
    let instructions = sqlx::query(
        "SELECT ix_index, inner_index, program, name, args, accounts FROM chain.instruction
         WHERE signature = $1 AND slot = $2 ORDER BY ix_index, inner_index",
    )
    .bind(&sig_bytes)
    .bind(slot)
    .fetch_all(&state.reads)
    .await?
    .iter()
    .map(|r| {
        let inner: i32 = get(r, "inner_index")?;
        let accounts: Vec<u8> = get(r, "accounts")?;
        Ok(TransactionInstruction {
            index: get(r, "ix_index")?,
            inner_index: (inner >= 0).then_some(inner),
            program: key(r, "program")?,
            name: get(r, "name")?,
            args: get(r, "args")?,
            accounts: accounts.chunks(32).map(wire::base58).collect(),
        })
    })
    .collect::<ApiResult<Vec<_>>>()?;
    let events = sqlx::query(
        "SELECT e.seq, e.name, e.ts, e.actor, e.signature, e.slot, e.data, e.reverted, t.commitment
         FROM chain.event e JOIN chain.transaction t USING (signature, slot)
         WHERE e.signature = $1 AND e.slot = $2 ORDER BY e.ix_index, e.inner_index",
    )
    .bind(&sig_bytes)
    .bind(slot)
    .fetch_all(&state.reads)
    .await?
    .iter()
    .map(event_of)
    .collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(Transaction {
        signature: key(&row, "signature")?,
        slot,
        block_time: get::<Option<i64>>(&row, "block_time")?.map(wire::rfc3339),
        failed: get(&row, "failed")?,
        fee: amount(&row, "fee")?,
        commitment: commitment(&commitment_text, false)?,
        instructions,
        events,
    }))
}

/// One of: `reference`, `signature`, or `order_id` with `merchant`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatusQuery {
    /// The Solana Pay reference (for Kassa invoices, the payment address).
    reference: Option<String>,
    /// A transaction signature.
    signature: Option<String>,
    /// The merchant's order id (with `merchant`, or a merchant key).
    order_id: Option<String>,
    /// The merchant of `order_id`.
    merchant: Option<String>,
}

/// Where the payment at `address` stands, if the caller may see it.
async fn payment_state(
    state: &AppState,
    caller: &Caller,
    address: &Pubkey,
) -> ApiResult<SettlementStatus> {
    let row = match payment_row(state, caller, &address.to_string()).await {
        Ok(r) => r,
        Err(ApiError::NotFound(_)) => return Ok(unknown()),
        Err(e) => return Err(e),
    };
    let status: String = get(&row, "status")?;
    // The payment's authorization (live first, else the latest rolled-back one), each half
    // through its own index, in the partitions of the payment's slots only (as the timeline).
    let entity = address.to_bytes();
    let paid = match entity_slots(state, &entity).await? {
        None => None,
        Some((lower, upper)) => {
            sqlx::query(
                "SELECT e.signature, e.slot, e.reverted, t.commitment
                 FROM chain.event e
                 JOIN chain.transaction t ON (t.signature, t.slot) = (e.signature, e.slot)
                 WHERE e.entity = $1 AND NOT e.reverted AND e.name = 'PaymentAuthorized'
                   AND e.slot BETWEEN $2 AND $3 AND t.slot BETWEEN $2 AND $3
                 UNION ALL
                 SELECT e.signature, e.slot, e.reverted, t.commitment
                 FROM chain.event e
                 JOIN chain.transaction t ON (t.signature, t.slot) = (e.signature, e.slot)
                 WHERE e.entity = $1 AND e.reverted AND e.name = 'PaymentAuthorized'
                   AND e.slot BETWEEN $2 AND $3 AND t.slot BETWEEN $2 AND $3
                 ORDER BY reverted, slot DESC LIMIT 1",
            )
            .bind(&entity[..])
            .bind(lower)
            .bind(upper)
            .fetch_optional(&state.reads)
            .await?
        }
    };
    let (state_, signature, slot) = match &paid {
        // Paid, with its authorization archived (`kassa archive` takes only finalized history).
        None if get::<Option<Vec<u8>>>(&row, "payer")?.is_some() => {
            (SettlementState::Finalized, None, None)
        }
        None => (SettlementState::Pending, None, None),
        Some(r) => {
            let c = commitment(&get::<String>(r, "commitment")?, get(r, "reverted")?)?;
            let s = match c {
                Commitment::Confirmed => SettlementState::Confirmed,
                Commitment::Finalized => SettlementState::Finalized,
                Commitment::Reverted => SettlementState::Reverted,
            };
            (s, Some(key(r, "signature")?), Some(get(r, "slot")?))
        }
    };
    Ok(SettlementStatus {
        state: state_,
        payment: Some(address.to_string()),
        payment_status: Some(status),
        signature,
        slot,
    })
}

fn unknown() -> SettlementStatus {
    SettlementStatus {
        state: SettlementState::Unknown,
        payment: None,
        payment_status: None,
        signature: None,
        slot: None,
    }
}

#[utoipa::path(get, path = "/v1/status", tag = "payments", params(StatusQuery),
    responses((status = 200, body = SettlementStatus), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Where a payment stands, by Solana Pay reference, signature or order id: for a client whose
/// answer was lost, to find out without paying twice.
pub async fn settlement_status(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<StatusQuery>,
) -> ApiResult<Json<SettlementStatus>> {
    let given = [
        q.reference.is_some(),
        q.signature.is_some(),
        q.order_id.is_some(),
    ]
    .iter()
    .filter(|g| **g)
    .count();
    if given != 1 {
        return Err(ApiError::bad(
            "invalid-query",
            "give exactly one of reference, signature, or order_id (with merchant)",
        ));
    }
    if let Some(r) = &q.reference {
        let p = parse_key("reference", r)?;
        return Ok(Json(payment_state(&state, &caller, &p).await?));
    }
    if let Some(order_id) = &q.order_id {
        let merchant = match (&q.merchant, caller.scope()) {
            (Some(m), _) => parse_key("merchant", m)?,
            (None, Some(m)) => m,
            (None, None) => {
                return Err(ApiError::bad(
                    "invalid-query",
                    "order_id needs merchant (the merchant PDA)",
                ))
            }
        };
        let p = order_payment(&merchant, order_id)?;
        return Ok(Json(payment_state(&state, &caller, &p).await?));
    }
    let s = q.signature.as_deref().unwrap_or_default();
    let sig = wire::parse_signature("signature", s)?;
    // The payment this transaction authorized, if it did.
    let row = sqlx::query(
        // From the transaction's key to its events' (slot, signature).
        "SELECT e.entity FROM chain.transaction t JOIN chain.event e USING (signature, slot)
         WHERE t.signature = $1 AND e.name = 'PaymentAuthorized' LIMIT 1",
    )
    .bind(sig.as_ref())
    .fetch_optional(&state.reads)
    .await?;
    if let Some(row) = row {
        let p = Pubkey::try_from(get::<Vec<u8>>(&row, "entity")?.as_slice())
            .map_err(|_| ApiError::Internal("entity is not 32 bytes".into()))?;
        let mut st = payment_state(&state, &caller, &p).await?;
        if st.state != SettlementState::Unknown && st.signature.as_deref() != Some(s) {
            // Another transaction paid it; this one was rolled back.
            st.state = SettlementState::Reverted;
            st.signature = Some(s.to_string());
        }
        return Ok(Json(st));
    }
    // Not a payment the indexer stored: has the cluster seen it?
    let statuses = state
        .rpc
        .get_signature_statuses(&[sig])
        .await
        .map_err(ApiError::cluster)?;
    let seen = statuses.value.first().is_some_and(|v| v.is_some());
    Ok(Json(SettlementStatus {
        state: if seen {
            SettlementState::Pending
        } else {
            SettlementState::Unknown
        },
        payment: None,
        payment_status: None,
        signature: Some(s.to_string()),
        slot: None,
    }))
}

// ---------------------------------------------------------------------------------------------
// Conversion pools

async fn conversion_pool_of(state: &AppState, row: &PgRow) -> ApiResult<ConversionPool> {
    Ok(ConversionPool {
        address: key(row, "address")?,
        mint_a: key(row, "mint_a")?,
        decimals_a: state.decimals_of(&get::<Vec<u8>>(row, "mint_a")?).await?,
        mint_b: key(row, "mint_b")?,
        decimals_b: state.decimals_of(&get::<Vec<u8>>(row, "mint_b")?).await?,
        lp_mint: key(row, "lp_mint")?,
        reserve_a: amount(row, "reserve_a")?,
        reserve_b: amount(row, "reserve_b")?,
        lp_supply: amount(row, "lp_supply")?,
        initial_amp: get(row, "initial_amp")?,
        target_amp: get(row, "target_amp")?,
        trade_fee_bps: get(row, "trade_fee_bps")?,
        paused: get(row, "paused")?,
        swaps: get(row, "swaps")?,
        volume_a: amount(row, "volume_a")?,
        volume_b: amount(row, "volume_b")?,
    })
}

#[utoipa::path(get, path = "/v1/conversion-pools", tag = "pools",
    responses((status = 200, body = Vec<ConversionPool>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The StableSwap conversion pools.
pub async fn list_conversion_pools(
    State(state): State<AppState>,
) -> ApiResult<Json<Vec<ConversionPool>>> {
    let rows = sqlx::query("SELECT * FROM chain.conversion_pool ORDER BY address")
        .fetch_all(&state.reads)
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(conversion_pool_of(&state, r).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/v1/conversion-pools/{address}", tag = "pools",
    params(("address" = String, Path, description = "Pool PDA")),
    responses((status = 200, body = ConversionPool), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A conversion pool.
pub async fn get_conversion_pool(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<ConversionPool>> {
    let a = parse_key("address", &address)?;
    let row = sqlx::query("SELECT * FROM chain.conversion_pool WHERE address = $1")
        .bind(&a.to_bytes()[..])
        .fetch_optional(&state.reads)
        .await?
        .ok_or_else(|| not_found("conversion pool", &address))?;
    Ok(Json(conversion_pool_of(&state, &row).await?))
}

// ---------------------------------------------------------------------------------------------
// Credit

async fn credit_pool_of(state: &AppState, row: &PgRow) -> ApiResult<CreditPool> {
    Ok(CreditPool {
        address: key(row, "address")?,
        mint: key(row, "mint")?,
        decimals: state.decimals_of(&get::<Vec<u8>>(row, "mint")?).await?,
        senior_mint: key(row, "senior_mint")?,
        junior_mint: key(row, "junior_mint")?,
        admin: key(row, "admin")?,
        underwriter: key(row, "underwriter")?,
        senior_apr_bps: get(row, "senior_apr_bps")?,
        cash: amount(row, "cash")?,
        principal: amount(row, "principal")?,
        receivable: amount(row, "receivable")?,
        senior_value: amount(row, "senior_value")?,
        junior_value: amount(row, "junior_value")?,
        losses: amount(row, "losses")?,
        deposits_total: amount(row, "deposits_total")?,
        income_total: amount(row, "income_total")?,
        paused: get(row, "paused")?,
    })
}

#[utoipa::path(get, path = "/v1/credit-pools", tag = "credit",
    responses((status = 200, body = Vec<CreditPool>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The PayFi credit pools.
pub async fn list_credit_pools(State(state): State<AppState>) -> ApiResult<Json<Vec<CreditPool>>> {
    let rows = sqlx::query("SELECT * FROM chain.credit_pool ORDER BY address")
        .fetch_all(&state.reads)
        .await?;
    let mut out = Vec::new();
    for r in &rows {
        out.push(credit_pool_of(&state, r).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(get, path = "/v1/credit-pools/{address}", tag = "credit",
    params(("address" = String, Path, description = "Credit pool PDA")),
    responses((status = 200, body = CreditPool), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A credit pool.
pub async fn get_credit_pool(
    State(state): State<AppState>,
    Path(address): Path<String>,
) -> ApiResult<Json<CreditPool>> {
    let a = parse_key("address", &address)?;
    let row = sqlx::query("SELECT * FROM chain.credit_pool WHERE address = $1")
        .bind(&a.to_bytes()[..])
        .fetch_optional(&state.reads)
        .await?
        .ok_or_else(|| not_found("credit pool", &address))?;
    Ok(Json(credit_pool_of(&state, &row).await?))
}

fn line_of(row: &PgRow) -> ApiResult<CreditLine> {
    Ok(CreditLine {
        address: key(row, "address")?,
        pool: key(row, "pool")?,
        borrower: key(row, "borrower")?,
        merchant: opt_key(row, "merchant")?,
        kind: get(row, "kind")?,
        status: get(row, "status")?,
        credit_limit: amount(row, "credit_limit")?,
        apr_bps: get(row, "apr_bps")?,
        advance_rate_bps: get(row, "advance_rate_bps")?,
        maturity: time(row, "maturity")?,
        principal: amount(row, "principal")?,
        drawn_total: amount(row, "drawn_total")?,
        principal_repaid: amount(row, "principal_repaid")?,
        interest_paid: amount(row, "interest_paid")?,
    })
}

/// Filter of the credit line list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LineQuery {
    /// Only lines of this pool.
    pool: Option<String>,
}

#[utoipa::path(get, path = "/v1/credit-lines", tag = "credit", params(LineQuery),
    responses((status = 200, body = Vec<CreditLine>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Credit lines (a merchant key sees its own receivable lines).
pub async fn list_credit_lines(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<LineQuery>,
) -> ApiResult<Json<Vec<CreditLine>>> {
    let mut b = QueryBuilder::new("SELECT * FROM chain.credit_line WHERE true");
    if let Some(p) = &q.pool {
        b.push(" AND pool = ")
            .push_bind(parse_key("pool", p)?.to_bytes().to_vec());
    }
    if let Some(m) = caller.scope() {
        b.push(" AND merchant = ").push_bind(m.to_bytes().to_vec());
    }
    b.push(" ORDER BY address LIMIT 1000");
    let rows = b.build().fetch_all(&state.reads).await?;
    Ok(Json(rows.iter().map(line_of).collect::<ApiResult<_>>()?))
}

#[utoipa::path(get, path = "/v1/credit-lines/{address}", tag = "credit",
    params(("address" = String, Path, description = "Credit line PDA")),
    responses((status = 200, body = CreditLine), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A credit line.
pub async fn get_credit_line(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
) -> ApiResult<Json<CreditLine>> {
    let a = parse_key("address", &address)?;
    let row = sqlx::query("SELECT * FROM chain.credit_line WHERE address = $1")
        .bind(&a.to_bytes()[..])
        .fetch_optional(&state.reads)
        .await?
        .ok_or_else(|| not_found("credit line", &address))?;
    let merchant: Option<Vec<u8>> = get(&row, "merchant")?;
    if let Some(scope) = caller.scope() {
        if merchant.as_deref() != Some(&scope.to_bytes()[..]) {
            return Err(not_found("credit line", &address));
        }
    }
    Ok(Json(line_of(&row)?))
}

fn advance_of(row: &PgRow) -> ApiResult<Advance> {
    Ok(Advance {
        address: key(row, "address")?,
        line: key(row, "line")?,
        payment: key(row, "payment")?,
        amount: amount(row, "amount")?,
        arrived: amount(row, "arrived")?,
        settled: get(row, "settled")?,
        shortfall: amount(row, "shortfall")?,
        closed: get(row, "closed")?,
    })
}

/// Filter of the advance list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdvanceQuery {
    /// Only advances on this line.
    line: Option<String>,
}

#[utoipa::path(get, path = "/v1/advances", tag = "credit", params(AdvanceQuery),
    responses((status = 200, body = Vec<Advance>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Advances on payments (a merchant key sees advances on its own lines).
pub async fn list_advances(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AdvanceQuery>,
) -> ApiResult<Json<Vec<Advance>>> {
    let mut b = QueryBuilder::new(
        "SELECT a.* FROM chain.advance a JOIN chain.credit_line l ON l.address = a.line WHERE true",
    );
    if let Some(l) = &q.line {
        b.push(" AND a.line = ")
            .push_bind(parse_key("line", l)?.to_bytes().to_vec());
    }
    if let Some(m) = caller.scope() {
        b.push(" AND l.merchant = ")
            .push_bind(m.to_bytes().to_vec());
    }
    b.push(" ORDER BY a.address LIMIT 1000");
    let rows = b.build().fetch_all(&state.reads).await?;
    Ok(Json(rows.iter().map(advance_of).collect::<ApiResult<_>>()?))
}

#[utoipa::path(get, path = "/v1/advances/{address}", tag = "credit",
    params(("address" = String, Path, description = "Advance PDA")),
    responses((status = 200, body = Advance), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// An advance.
pub async fn get_advance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
) -> ApiResult<Json<Advance>> {
    let a = parse_key("address", &address)?;
    let row = sqlx::query(
        "SELECT a.*, l.merchant AS line_merchant FROM chain.advance a
         JOIN chain.credit_line l ON l.address = a.line WHERE a.address = $1",
    )
    .bind(&a.to_bytes()[..])
    .fetch_optional(&state.reads)
    .await?
    .ok_or_else(|| not_found("advance", &address))?;
    if let Some(scope) = caller.scope() {
        let m: Option<Vec<u8>> = row.try_get("line_merchant").ok().flatten();
        if m.as_deref() != Some(&scope.to_bytes()[..]) {
            return Err(not_found("advance", &address));
        }
    }
    Ok(Json(advance_of(&row)?))
}
