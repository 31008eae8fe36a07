//! Settlement (`kassa-settlement` does the work): operators read the trial balance, the payouts
//! and the exceptions, cut and send a day's payout batch, import a bank statement and run a
//! reconciliation; a merchant reads its own statement of account as CSV (operators any
//! merchant's).

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult, Json, Path, Query},
    wire::parse_key,
    AppState,
};
use axum::{
    body::Bytes,
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use kassa_sdk::api::types::Role;
use kassa_settlement::{book, mass, payout, reconcile, report, statement, SettlementError};
use serde::Deserialize;
use serde_json::{json, Value};
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};

impl From<SettlementError> for ApiError {
    fn from(e: SettlementError) -> Self {
        match e {
            SettlementError::NotFound(s) => ApiError::NotFound(s),
            SettlementError::Conflict(s) => ApiError::Conflict {
                kind: "settlement-conflict",
                detail: s,
            },
            SettlementError::Database(e) => e.into(),
            SettlementError::Corrupt(s) => ApiError::Internal(s),
            SettlementError::Cluster(s) => ApiError::Upstream(s),
            SettlementError::Statement(s) => ApiError::unprocessable("invalid-statement", s),
            other => ApiError::unprocessable("settlement-refused", other.to_string()),
        }
    }
}

fn operator(caller: &Caller, what: &str) -> ApiResult<()> {
    caller.require(&[Role::Operator], what)
}

fn csv(body: String, name: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/v1/settlement/trial-balance", tag = "settlement",
    responses((status = 200, description = "Every ledger account's posted and pending debits and credits, and per currency their sums (zero in a sound ledger)", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The trial balance (operators).
pub async fn trial_balance(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    operator(&caller, "read the ledger")?;
    let tb = report::trial_balance(&state.reads).await?;
    Ok(Json(
        json!({ "balanced": tb.balanced(), "accounts": tb.accounts, "totals": tb.totals }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayoutsQuery {
    /// Only this batch (`pb_<yyyymmdd>_<bank account>`).
    pub batch: Option<String>,
    /// `csv` for the payout report as CSV; JSON otherwise.
    pub format: Option<String>,
}

#[utoipa::path(get, path = "/v1/settlement/payouts", tag = "settlement",
    params(PayoutsQuery),
    responses((status = 200, description = "Payouts, newest batch first, with their states, end-to-end ids and conversions", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The payout report (operators): JSON, or CSV with `format=csv`.
pub async fn payouts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<PayoutsQuery>,
) -> ApiResult<Response> {
    operator(&caller, "read payouts")?;
    if q.format.as_deref() == Some("csv") {
        let body = report::payouts_csv(&state.reads, q.batch.as_deref()).await?;
        return Ok(csv(body, "payouts.csv"));
    }
    let list = payout::list(&state.reads, q.batch.as_deref()).await?;
    Ok(Json(json!({ "data": list })).into_response())
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CutBatch {
    /// Kassa's bank account the batch pays from.
    pub bank_account: String,
    /// The business day (YYYY-MM-DD): the conversion rates are this day's.
    pub date: String,
    /// When the bank executes it (YYYY-MM-DD); the business day when absent.
    pub execution_date: Option<String>,
}

fn day(field: &str, s: &str) -> ApiResult<Date> {
    Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).map_err(|_| {
        ApiError::bad(
            "invalid-date",
            format!("{field} {s:?} is not a date (YYYY-MM-DD)"),
        )
    })
}

#[utoipa::path(post, path = "/v1/settlement/batches", tag = "settlement",
    request_body = CutBatch,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "The batch, cut and sent: its payouts, total and pain.001.001.09 file", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Cuts the day's payout batch of a bank account (each fiat merchant's posted balance,
/// converted at the day's rate) and sends it: answers with its `pain.001.001.09` file
/// (operators). A sent batch answers with its file again.
pub async fn cut_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CutBatch>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    operator(&caller, "pay out")?;
    let business = day("date", &req.date)?;
    let execution = match &req.execution_date {
        Some(d) => day("execution_date", d)?,
        None => business,
    };
    let batch = payout::batch_id(&req.bank_account, business);
    let sent: Option<String> =
        sqlx::query_scalar("SELECT state FROM settlement.payout_batch WHERE id = $1")
            .bind(&batch)
            .fetch_optional(&state.pool)
            .await?;
    let cut = if sent.as_deref() == Some("sent") {
        None
    } else {
        let rates = state.config.rates.clone().ok_or_else(|| {
            ApiError::unprocessable(
                "no-rate-source",
                "no conversion rates are configured on this server (settlement.rates_file)",
            )
        })?;
        Some(payout::cut(&state.pool, rates.as_ref(), &req.bank_account, business).await?)
    };
    let s = payout::send(&state.pool, &batch, execution).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "batch": s.batch, "payouts": s.payouts, "total": s.total.to_string(),
            "currency": s.currency, "sha256": s.sha256, "pain001": s.file,
            "merchants_without_balance": cut.map_or(0, |c| c.empty),
        })),
    ))
}

#[utoipa::path(post, path = "/v1/settlement/statements", tag = "settlement",
    request_body(content = String, content_type = "application/xml", description = "A camt.053.001.08 file"),
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "What each line matched: payouts settled, returned, and the exceptions with their reasons", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Imports a bank statement (`camt.053.001.08`) and matches it to payouts (operators). A file
/// or statement imported before is refused (409), a malformed one too (422): nothing is booked
/// twice or half.
pub async fn import_statement(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<statement::Imported>)> {
    operator(&caller, "import bank statements")?;
    let imported =
        statement::import_with(&state.pool, &body, state.config.rates.as_deref()).await?;
    // On-ramp purchases are paid at once when this server holds the treasury key; otherwise
    // they wait for one that does.
    if let Some(treasury) = &state.config.treasury_key {
        for id in kassa_settlement::onramp::unsent(&state.pool).await? {
            if let Err(e) = mass::send(&state.pool, &state.rpc, treasury, &id).await {
                tracing::warn!(payout = %id, error = %e, "an on-ramp payout could not be sent");
            }
        }
    }
    Ok((StatusCode::CREATED, Json(imported)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterOnRamp {
    /// The customer's wallet (base58).
    pub wallet: String,
    /// The stablecoin it buys.
    pub mint: String,
    /// The customer's name, as its bank transfers carry it.
    pub holder: String,
    /// The spread kept on conversions, in basis points (at most 1,000).
    #[serde(default)]
    pub spread_bps: u32,
}

#[utoipa::path(post, path = "/v1/settlement/onramp-wallets", tag = "settlement",
    request_body = RegisterOnRamp,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "The reference the customer's bank transfers carry (ONR-…)", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Registers an on-ramp customer's wallet (operators, after the customer's KYC): bank
/// transfers to Kassa carrying the reference answered buy the stablecoin for that wallet.
pub async fn register_onramp(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<RegisterOnRamp>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    operator(&caller, "register on-ramp customers")?;
    let wallet = parse_key("wallet", &req.wallet)?;
    let mint = parse_key("mint", &req.mint)?;
    let reference = kassa_settlement::onramp::register(
        &state.pool,
        &wallet,
        &mint,
        &req.holder,
        req.spread_bps,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "reference": reference, "wallet": req.wallet, "mint": req.mint })),
    ))
}

#[utoipa::path(get, path = "/v1/settlement/exceptions", tag = "settlement",
    responses((status = 200, description = "Chain events the ledger could not book and statement lines that matched nothing, each with its reason", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The exceptions queue (operators).
pub async fn exceptions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    operator(&caller, "read settlement exceptions")?;
    let booking: Vec<Value> = book::open_exceptions(&state.pool)
        .await?
        .into_iter()
        .map(|(sig, ix, inner, phase, reason)| {
            json!({ "signature": sig.to_string(), "instruction": ix, "inner": inner,
                    "phase": phase, "reason": reason })
        })
        .collect();
    let statements = statement::open_exceptions(&state.pool).await?;
    Ok(Json(
        json!({ "booking": booking, "statements": statements }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ResolveException {
    pub bank_account: String,
    /// The bank's statement id.
    pub statement: String,
    pub line: i32,
    /// What was done, 1 to 500 characters.
    pub note: String,
    /// A ledger account in the statement's currency to book the line's money against
    /// (`suspense:eur` for money not explained yet); none: nothing is booked.
    pub account: Option<String>,
}

#[utoipa::path(post, path = "/v1/settlement/exceptions/resolve", tag = "settlement",
    request_body = ResolveException,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "The line is resolved, its money booked when an account was given", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Resolves a statement line that matched nothing (operators), with a note of what was done.
pub async fn resolve_exception(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<ResolveException>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    operator(&caller, "resolve settlement exceptions")?;
    statement::resolve_exception(
        &state.pool,
        &req.bank_account,
        &req.statement,
        req.line,
        &req.note,
        &caller.key_id,
        req.account.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "resolved": true }))))
}

#[utoipa::path(post, path = "/v1/settlement/exceptions/rebook", tag = "settlement",
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "How many chain events went back to the booking inbox", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Books the open booking exceptions again once their cause is fixed (operators); those that
/// fail again are exceptions again.
pub async fn rebook(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    operator(&caller, "rebook chain events")?;
    let n = book::rebook(&state.pool).await?;
    Ok((StatusCode::CREATED, Json(json!({ "queued": n }))))
}

#[utoipa::path(post, path = "/v1/settlement/reconciliations", tag = "settlement",
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "Each ledger account against the chain or the bank, with its difference, and the findings", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Runs a reconciliation (operators): the treasury and escrow accounts against the chain at
/// finalized, each bank account against its latest statement, and every fiat merchant's
/// settlement wallet against the treasury.
pub async fn reconcile(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    operator(&caller, "reconcile")?;
    let r = reconcile::run(&state.pool, &state.rpc).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "clean": r.clean(), "lines": r.lines, "findings": r.findings })),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// From (RFC 3339, inclusive); the beginning when absent.
    pub from: Option<String>,
    /// Until (RFC 3339, exclusive); now when absent.
    pub to: Option<String>,
}

#[utoipa::path(get, path = "/v1/merchants/{address}/statement.csv", tag = "settlement",
    params(("address" = String, Path, description = "Merchant PDA"), StatementQuery),
    responses((status = 200, description = "Every posting on the merchant's ledger accounts, with running posted balances", content_type = "text/csv", body = String),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A merchant's statement of account as CSV (the merchant itself, or operators).
pub async fn merchant_statement(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
    Query(q): Query<StatementQuery>,
) -> ApiResult<Response> {
    let merchant = parse_key("address", &address)?;
    match caller.role {
        Role::Operator => {}
        Role::Merchant if caller.sees(&merchant) => {}
        Role::Merchant => return Err(ApiError::NotFound(format!("no merchant {address}"))),
        other => {
            return Err(ApiError::Forbidden(format!(
                "a {} key may not read statements of account",
                other.as_str()
            )))
        }
    }
    let at = |field: &str, v: &Option<String>, default: OffsetDateTime| -> ApiResult<_> {
        match v {
            None => Ok(default),
            Some(s) => OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    ApiError::bad("invalid-time", format!("{field} {s:?} is not RFC 3339"))
                }),
        }
    };
    let from = at("from", &q.from, OffsetDateTime::UNIX_EPOCH)?;
    let to = at("to", &q.to, OffsetDateTime::now_utc())?;
    let body = report::merchant_statement_csv(&state.reads, &merchant, from, to).await?;
    Ok(csv(body, &format!("statement-{address}.csv")))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateMassPayout {
    /// The merchant whose balance pays (a merchant key: its own).
    pub merchant: String,
    /// The stablecoin's mint.
    pub mint: String,
    /// Up to 10,000 recipients.
    pub items: Vec<MassPayoutItem>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MassPayoutItem {
    pub wallet: String,
    /// Base units, as an integer string.
    pub amount: String,
    #[serde(default)]
    pub reference: String,
}

fn merchant_scope(
    caller: &Caller,
    merchant: &solana_sdk::pubkey::Pubkey,
    what: &str,
) -> ApiResult<()> {
    match caller.role {
        Role::Operator => Ok(()),
        Role::Merchant if caller.sees(merchant) => Ok(()),
        Role::Merchant => Err(ApiError::NotFound(format!("no merchant {merchant}"))),
        other => Err(ApiError::Forbidden(format!(
            "a {} key may not {what}",
            other.as_str()
        ))),
    }
}

#[utoipa::path(post, path = "/v1/settlement/mass-payouts", tag = "settlement",
    request_body = CreateMassPayout,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect; also the payout's own key")),
    responses((status = 201, description = "The payout reserved against the merchant's posted balance and sent from the treasury: its transactions and items", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Pays many wallets in a stablecoin from what Kassa holds for a merchant, out of the treasury
/// wallet, packed into as few transactions as fit (the merchant itself, or operators). Refused
/// whole when the merchant's posted balance does not cover it.
pub async fn create_mass_payout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: axum::http::HeaderMap,
    Json(req): Json<CreateMassPayout>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let merchant = parse_key("merchant", &req.merchant)?;
    merchant_scope(&caller, &merchant, "pay out")?;
    let mint = parse_key("mint", &req.mint)?;
    let treasury = state
        .config
        .treasury_key
        .clone()
        .ok_or_else(|| ApiError::Unavailable {
            detail: "the treasury key is not configured on this server (keys.treasury)".into(),
            retry_after: 3600,
        })?;
    let mut items = Vec::with_capacity(req.items.len());
    for (i, it) in req.items.iter().enumerate() {
        items.push(mass::Item {
            wallet: parse_key(&format!("items[{i}].wallet"), &it.wallet)?,
            amount: it.amount.parse().map_err(|_| {
                ApiError::bad(
                    "invalid-amount",
                    format!(
                        "items[{i}].amount {:?} is not an integer of base units",
                        it.amount
                    ),
                )
            })?,
            reference: it.reference.clone(),
        });
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let id = mass::create(&state.pool, &merchant, &mint, &key, &items).await?;
    let sent = mass::send(&state.pool, &state.rpc, &treasury, &id).await?;
    let items = mass::items(&state.pool, &id).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "id": id,
            "transactions": sent.transactions.iter().map(|(s, _)| s.to_string()).collect::<Vec<_>>(),
            "items": items,
        })),
    ))
}

#[utoipa::path(get, path = "/v1/settlement/mass-payouts/{id}", tag = "settlement",
    params(("id" = String, Path, description = "Mass payout id (mp_…)")),
    responses((status = 200, description = "Each item's state and signature; booked once every transaction is final", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A mass payout as it stands: its transactions are looked up at finalized, and once none is
/// open, what was paid is booked and what failed stays the merchant's.
pub async fn get_mass_payout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let owner: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT merchant FROM settlement.mass_payout WHERE id = $1")
            .bind(&id)
            .fetch_optional(&state.pool)
            .await?;
    let merchant = owner
        .and_then(|m| solana_sdk::pubkey::Pubkey::try_from(m.as_slice()).ok())
        .ok_or_else(|| ApiError::NotFound(format!("no mass payout {id:?}")))?;
    merchant_scope(&caller, &merchant, "read mass payouts")
        .map_err(|_| ApiError::NotFound(format!("no mass payout {id:?}")))?;
    let settled = mass::settle(&state.pool, &state.rpc, &id).await?;
    let items = mass::items(&state.pool, &id).await?;
    Ok(Json(json!({ "id": id, "status": settled, "items": items })))
}
