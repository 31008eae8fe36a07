//! Compliance (`kassa-compliance` does the work): officers (compliance keys, each a named
//! person's account) and operators screen wallets, import and edit lists, set the monitoring
//! rules, work the review queue and take on-chain actions signed by the compliance key. Every
//! other role is refused: a merchant key sees nothing of compliance.

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult, Json, Path, Query},
    wire::parse_key,
    AppState,
};
use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, Extension};
use base64::Engine;
use kassa_compliance::{actions, audit, cases, kyb, lists, rules, screen, ComplianceError};
use kassa_sdk::api::types::Role;
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::{IntoParams, ToSchema};

impl From<ComplianceError> for ApiError {
    fn from(e: ComplianceError) -> Self {
        match e {
            ComplianceError::NotFound(s) => ApiError::NotFound(s),
            ComplianceError::Conflict(s) => ApiError::Conflict {
                kind: "compliance-conflict",
                detail: s,
            },
            ComplianceError::Refused(s) => ApiError::unprocessable("compliance-refused", s),
            ComplianceError::List { .. } => ApiError::unprocessable("invalid-list", e.to_string()),
            ComplianceError::Invalid(s) => ApiError::unprocessable("invalid-compliance-request", s),
            ComplianceError::Database(e) => e.into(),
            ComplianceError::Corrupt(s) => ApiError::Internal(s),
            ComplianceError::Cluster(s) => ApiError::Upstream(s),
        }
    }
}

/// The officer behind a request, or 403 for every other role.
fn officer(caller: &Caller, what: &str) -> ApiResult<lists::Actor> {
    caller.require(&[Role::Compliance, Role::Operator], what)?;
    Ok(lists::Actor::Officer(caller.account))
}

fn limit(l: Option<i64>) -> i64 {
    l.unwrap_or(50).clamp(1, 500)
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ScreenRequest {
    /// The payer wallet (base58).
    pub wallet: String,
    /// The merchant it would pay, when known.
    pub merchant: Option<String>,
}

#[utoipa::path(post, path = "/v1/compliance/screenings", tag = "compliance",
    request_body = ScreenRequest,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "The decision (allow, review, refuse), the risk and its reasons; recorded", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Screens a wallet before it pays: the lists in force, the on-chain blocklist, exposure to
/// flagged wallets and its history (compliance officers and operators).
pub async fn screen_wallet(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<ScreenRequest>,
) -> ApiResult<(StatusCode, Json<screen::Screening>)> {
    officer(&caller, "screen wallets")?;
    let wallet = parse_key("wallet", &req.wallet)?;
    let merchant = req
        .merchant
        .as_deref()
        .map(|m| parse_key("merchant", m))
        .transpose()?;
    let s = screen::screen(
        &state.pool,
        &wallet,
        merchant.as_ref(),
        "api",
        &state.config.screening,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(s)))
}

#[utoipa::path(get, path = "/v1/compliance/lists", tag = "compliance",
    responses((status = 200, description = "Every list with its version in force", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The sanctions and internal lists.
pub async fn get_lists(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read lists")?;
    Ok(Json(json!({ "data": lists::all(&state.reads).await? })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewList {
    /// 2 to 40 of a-z, 0-9, - and _.
    pub id: String,
    pub name: String,
    /// ofac-advanced, ofac-csv, eu-fsf or internal.
    pub format: String,
    /// What an address on the list does to a payer: refuse or review.
    pub action: String,
}

#[utoipa::path(post, path = "/v1/compliance/lists", tag = "compliance",
    request_body = NewList,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "The list (empty until its first import)", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Creates a list.
pub async fn create_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<NewList>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    officer(&caller, "create lists")?;
    let format = lists::Format::parse(&req.format).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid-list",
            format!(
                "format {:?}: ofac-advanced, ofac-csv, eu-fsf or internal",
                req.format
            ),
        )
    })?;
    lists::create(&state.pool, &req.id, &req.name, format, &req.action).await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": req.id }))))
}

#[utoipa::path(post, path = "/v1/compliance/lists/{id}/versions", tag = "compliance",
    params(("id" = String, Path, description = "The list"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    request_body(content = String, description = "The list file as published (SDN_ADVANCED.XML, xmlFullSanctionsList_1_1, an internal CSV), or for ofac-csv a JSON object {\"files\": {\"sdn.csv\": …, \"add.csv\": …, \"alt.csv\": …, \"sdn_comments.csv\": …}} with each file's text (or base64 under the same names in \"base64\")"),
    responses((status = 201, description = "The new version in force and what changed (or the version this very file already is)", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Imports a list file as a new version. A malformed file is refused with the problem named
/// and the version in force stays.
pub async fn import_list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<lists::Imported>)> {
    let by = officer(&caller, "import lists")?;
    let json = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let imported = if json {
        let v: Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad("invalid-json", format!("the body is not JSON: {e}")))?;
        let file = |name: &str| -> ApiResult<Option<Vec<u8>>> {
            if let Some(t) = v["files"][name].as_str() {
                return Ok(Some(t.as_bytes().to_vec()));
            }
            match v["base64"][name].as_str() {
                Some(b) => base64::engine::general_purpose::STANDARD
                    .decode(b)
                    .map(Some)
                    .map_err(|_| {
                        ApiError::bad("invalid-base64", format!("base64.{name} is not base64"))
                    }),
                None => Ok(None),
            }
        };
        let main = file("sdn.csv")?.ok_or_else(|| {
            ApiError::bad(
                "invalid-list",
                "a JSON import carries the OFAC CSV family: files.\"sdn.csv\" at least",
            )
        })?;
        let (add, alt, comments) = (
            file("add.csv")?,
            file("alt.csv")?,
            file("sdn_comments.csv")?,
        );
        lists::import(
            &state.pool,
            &id,
            &lists::Files {
                main: &main,
                addresses: add.as_deref(),
                aliases: alt.as_deref(),
                comments: comments.as_deref(),
            },
            &by,
        )
        .await?
    } else {
        lists::import(&state.pool, &id, &lists::Files::one(&body), &by).await?
    };
    Ok((StatusCode::CREATED, Json(imported)))
}

#[utoipa::path(get, path = "/v1/compliance/lists/{id}/versions/{version}/changes", tag = "compliance",
    params(("id" = String, Path, description = "The list"),
           ("version" = i32, Path, description = "The version")),
    responses((status = 200, description = "Each entry added, removed or changed against the version before, with both sides", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// What a list version changed.
pub async fn list_changes(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, version)): Path<(String, i32)>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read lists")?;
    Ok(Json(
        json!({ "data": lists::changes(&state.reads, &id, version).await? }),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ListEntry {
    /// A Solana wallet (base58).
    pub address: String,
    #[serde(default)]
    pub name: String,
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/compliance/lists/{id}/entries", tag = "compliance",
    params(("id" = String, Path, description = "An internal list"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    request_body = ListEntry,
    responses((status = 201, description = "The new version of the list", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Adds a wallet to an internal list (a new version).
pub async fn add_list_entry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(req): Json<ListEntry>,
) -> ApiResult<(StatusCode, Json<lists::Imported>)> {
    let by = officer(&caller, "edit lists")?;
    let v = lists::edit_internal(
        &state.pool,
        &id,
        &req.address,
        &req.name,
        &req.reason,
        false,
        &by,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(v)))
}

#[utoipa::path(delete, path = "/v1/compliance/lists/{id}/entries/{address}", tag = "compliance",
    params(("id" = String, Path, description = "An internal list"),
           ("address" = String, Path, description = "The wallet")),
    responses((status = 200, description = "The new version of the list", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Takes a wallet off an internal list (a new version).
pub async fn remove_list_entry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, address)): Path<(String, String)>,
) -> ApiResult<Json<lists::Imported>> {
    let by = officer(&caller, "edit lists")?;
    Ok(Json(
        lists::edit_internal(&state.pool, &id, &address, "", "", true, &by).await?,
    ))
}

#[utoipa::path(get, path = "/v1/compliance/rules", tag = "compliance",
    responses((status = 200, description = "The rule set in force and its version", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The monitoring rules in force.
pub async fn get_rules(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read rules")?;
    let (version, set) = rules::current(&state.pool).await?;
    Ok(Json(json!({ "version": version, "rules": set.rules })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewRules {
    /// The whole rule set.
    #[schema(value_type = Object)]
    pub rules: Value,
    #[serde(default)]
    pub note: String,
}

#[utoipa::path(post, path = "/v1/compliance/rules", tag = "compliance",
    request_body = NewRules,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "The new version, in force at once", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Stores a new version of the monitoring rules (checked first; the previous stays on error).
pub async fn set_rules(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<NewRules>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let by = officer(&caller, "set rules")?;
    let rules = json!({ "rules": req.rules });
    let version = rules::store(&state.pool, &rules, &req.note, &by).await?;
    Ok((StatusCode::CREATED, Json(json!({ "version": version }))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertQuery {
    /// Only this wallet's alerts.
    pub wallet: Option<String>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/compliance/alerts", tag = "compliance",
    params(AlertQuery),
    responses((status = 200, description = "Alerts, newest first, each with its rule version and evidence", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Alerts raised by monitoring and screening.
pub async fn get_alerts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AlertQuery>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read alerts")?;
    let wallet = q
        .wallet
        .as_deref()
        .map(|w| parse_key("wallet", w))
        .transpose()?;
    let data = cases::alerts(&state.reads, None, wallet.as_ref(), limit(q.limit)).await?;
    Ok(Json(json!({ "data": data })))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseQuery {
    /// open, escalated or closed (open and escalated when absent).
    pub state: Option<String>,
    /// Only cases assigned to this account.
    pub assignee: Option<i64>,
    /// Cases with a smaller id (the next page).
    pub before: Option<i64>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/compliance/cases", tag = "compliance",
    params(CaseQuery),
    responses((status = 200, description = "The review queue, newest first", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The review queue.
pub async fn get_cases(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<CaseQuery>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read cases")?;
    let data = cases::list(
        &state.reads,
        q.state.as_deref(),
        q.assignee,
        q.before,
        limit(q.limit),
    )
    .await?;
    Ok(Json(json!({ "data": data })))
}

#[utoipa::path(get, path = "/v1/compliance/cases/{id}", tag = "compliance",
    params(("id" = i64, Path, description = "The case")),
    responses((status = 200, description = "The case with its alerts, comments and actions", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// One case, everything an officer reviews.
pub async fn get_case(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Json<cases::CaseFile>> {
    officer(&caller, "read cases")?;
    Ok(Json(cases::get(&state.pool, id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CaseStep {
    /// assign, comment, escalate or close.
    pub step: String,
    /// For assign: the officer's account id.
    pub assignee: Option<i64>,
    /// For comment: the text; for escalate and close: the reason.
    pub text: Option<String>,
    /// For close: false_positive, true_positive or reported.
    pub disposition: Option<String>,
}

#[utoipa::path(post, path = "/v1/compliance/cases/{id}/steps", tag = "compliance",
    params(("id" = i64, Path, description = "The case"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    request_body = CaseStep,
    responses((status = 201, description = "The case after the step", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Works a case: assign it, comment, escalate, or close it with a disposition.
pub async fn case_step(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<CaseStep>,
) -> ApiResult<(StatusCode, Json<cases::CaseFile>)> {
    let by = officer(&caller, "work cases")?;
    let text = req.text.as_deref().unwrap_or("");
    match req.step.as_str() {
        "assign" => {
            let to = req.assignee.ok_or_else(|| {
                ApiError::bad("invalid-case-step", "assign needs assignee (an account id)")
            })?;
            cases::assign(&state.pool, id, to, &by).await?;
        }
        "comment" => {
            cases::comment(&state.pool, id, text, &by).await?;
        }
        "escalate" => cases::escalate(&state.pool, id, text, &by).await?,
        "close" => {
            let d = req.disposition.as_deref().ok_or_else(|| {
                ApiError::bad(
                    "invalid-case-step",
                    "close needs a disposition: false_positive, true_positive or reported",
                )
            })?;
            cases::close(&state.pool, id, d, text, &by).await?;
        }
        other => {
            return Err(ApiError::bad(
                "invalid-case-step",
                format!("step {other:?}: assign, comment, escalate or close"),
            ))
        }
    }
    Ok((
        StatusCode::CREATED,
        Json(cases::get(&state.pool, id).await?),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct NewAction {
    /// hold, release, reject, blocklist_add or blocklist_remove.
    pub kind: String,
    /// The payment (hold, release, reject) or wallet (blocklist) it acts on.
    pub target: String,
    /// The case it belongs to.
    pub case: Option<i64>,
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/compliance/actions", tag = "compliance",
    request_body = NewAction,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "The action, sent with the compliance key and confirmed (state sent, with its signature) or refused by the chain (state failed, with the reason)", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Takes an on-chain compliance action signed by the compliance key: a hold on an authorized
/// payment, its release or rejection (the escrow back to the payer), a blocklist change.
pub async fn take_action(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<NewAction>,
) -> ApiResult<(StatusCode, Json<actions::Action>)> {
    let by = officer(&caller, "take compliance actions")?;
    let kind = actions::Kind::parse(&req.kind)
        .filter(|k| !matches!(k, actions::Kind::KybAttest | actions::Kind::KybSuspend))
        .ok_or_else(|| {
            ApiError::bad(
                "invalid-action",
                format!(
                    "kind {:?}: hold, release, reject, blocklist_add or blocklist_remove (KYB attestations come from KYB cases)",
                    req.kind
                ),
            )
        })?;
    let target = parse_key("target", &req.target)?;
    let key = compliance_key(&state)?;
    let id = actions::request(
        &state.pool,
        &by,
        actions::Ask {
            kind,
            target,
            case: req.case,
            reason: &req.reason,
            hash: None,
        },
        Some(&state.rpc),
    )
    .await?;
    let done = actions::perform(&state.pool, &state.rpc, &key, id).await?;
    Ok((StatusCode::CREATED, Json(done)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActionQuery {
    /// Only this case's actions.
    pub case: Option<i64>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/compliance/actions", tag = "compliance",
    params(ActionQuery),
    responses((status = 200, description = "On-chain actions, newest first", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// On-chain compliance actions and their transactions.
pub async fn get_actions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<ActionQuery>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read actions")?;
    Ok(Json(
        json!({ "data": actions::list(&state.reads, q.case, limit(q.limit)).await? }),
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only records of this object (`case:12`, `list:ofac-sdn@3`, …).
    pub object: Option<String>,
    /// Records after this id (the next page).
    pub after: Option<i64>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/compliance/audit", tag = "compliance",
    params(AuditQuery),
    responses((status = 200, description = "The audit log, oldest first: ids, hashes and signatures", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The append-only compliance audit log.
pub async fn get_audit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read the audit log")?;
    let data = audit::list(
        &state.reads,
        q.object.as_deref(),
        q.after.unwrap_or(0),
        limit(q.limit),
    )
    .await?;
    Ok(Json(json!({ "data": data })))
}

fn compliance_key(state: &AppState) -> ApiResult<std::sync::Arc<solana_sdk::signature::Keypair>> {
    state
        .config
        .compliance_key
        .clone()
        .ok_or_else(|| ApiError::Unavailable {
            detail: "this server does not hold the compliance key (keys.compliance)".into(),
            retry_after: 3600,
        })
}

#[utoipa::path(post, path = "/v1/compliance/kyb/cases", tag = "compliance",
    request_body(content = Object, description = "The application: merchant (base58), legal_name, registration_number, jurisdiction (ISO 3166 alpha-2), address, category, parties [{role: director|ubo, name, birth_date?, nationality?, ownership_percent (UBOs, adding up to 100)}]"),
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "The case, with its automatic checks and risk rating", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Opens a merchant's KYB case and runs its automatic checks.
pub async fn create_kyb_case(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(app): Json<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let by = officer(&caller, "open KYB cases")?;
    let app: kyb::Application = serde_json::from_value(app).map_err(|e| {
        ApiError::unprocessable("invalid-compliance-request", format!("application: {e}"))
    })?;
    let id = kyb::submit(&state.pool, &app, &by).await?;
    Ok((StatusCode::CREATED, Json(kyb::get(&state.pool, id).await?)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KybQuery {
    /// review, information_requested, approved, rejected or suspended.
    pub state: Option<String>,
    /// Approved cases whose periodic review is due by this date (YYYY-MM-DD).
    pub review_due_by: Option<String>,
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/compliance/kyb/cases", tag = "compliance",
    params(KybQuery),
    responses((status = 200, description = "KYB cases, newest first", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// KYB cases, by state or by review date.
pub async fn list_kyb_cases(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(q): Query<KybQuery>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read KYB cases")?;
    let due =
        q.review_due_by
            .as_deref()
            .map(|d| {
                time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                    .map_err(|_| {
                        ApiError::bad(
                            "invalid-date",
                            format!("review_due_by {d:?} is not YYYY-MM-DD"),
                        )
                    })
            })
            .transpose()?;
    let data = kyb::list(&state.reads, q.state.as_deref(), due, limit(q.limit)).await?;
    Ok(Json(json!({ "data": data })))
}

#[utoipa::path(get, path = "/v1/compliance/kyb/cases/{id}", tag = "compliance",
    params(("id" = i64, Path, description = "The KYB case")),
    responses((status = 200, description = "The case: profile, parties, documents, checks, risk, decisions", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// One KYB case.
pub async fn get_kyb_case(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read KYB cases")?;
    Ok(Json(kyb::get(&state.pool, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DocumentQuery {
    /// certificate_of_incorporation, proof_of_address, ubo_declaration, director_id, licence
    /// or other.
    pub kind: String,
}

#[utoipa::path(post, path = "/v1/compliance/kyb/cases/{id}/documents", tag = "compliance",
    params(("id" = i64, Path, description = "The KYB case"), DocumentQuery,
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    request_body(content = String, content_type = "application/octet-stream", description = "The document's file"),
    responses((status = 201, description = "The document's SHA-256; the file is kept in the document store, the case's checks run again", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Adds a document to a KYB case.
pub async fn add_kyb_document(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Query(q): Query<DocumentQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let by = officer(&caller, "add KYB documents")?;
    let store = kyb::DocumentStore::new(&state.config.document_dir);
    let sha = kyb::add_document(&state.pool, &store, id, &q.kind, &body, &by).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "sha256": sha, "case": kyb::get(&state.pool, id).await? })),
    ))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct KybDecision {
    /// approve, reject, request_information or suspend.
    pub decision: String,
    pub note: String,
}

#[utoipa::path(post, path = "/v1/compliance/kyb/cases/{id}/decisions", tag = "compliance",
    params(("id" = i64, Path, description = "The KYB case"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    request_body = KybDecision,
    responses((status = 201, description = "The case's state after the decision, approvals still needed, and the on-chain attestation or suspension", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// An officer's KYB decision. Approval attests the case's hash on chain (a high-risk case
/// needs two different officers); suspension suspends the merchant on chain.
pub async fn decide_kyb_case(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<KybDecision>,
) -> ApiResult<(StatusCode, Json<kyb::Decided>)> {
    let by = officer(&caller, "decide KYB cases")?;
    let key = compliance_key(&state)?;
    let d = kyb::decide(
        &state.pool,
        &state.rpc,
        &key,
        id,
        &req.decision,
        &req.note,
        &by,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(d)))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct Erasure {
    /// The request this answers.
    pub reason: String,
}

#[utoipa::path(post, path = "/v1/compliance/kyb/cases/{id}/erasure", tag = "compliance",
    params(("id" = i64, Path, description = "The KYB case"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    request_body = Erasure,
    responses((status = 201, description = "The case with its personal data erased (the audit log keeps ids and hashes)", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Erases a KYB case's personal data on request.
pub async fn erase_kyb_case(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
    Json(req): Json<Erasure>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let by = officer(&caller, "erase personal data")?;
    let store = kyb::DocumentStore::new(&state.config.document_dir);
    kyb::erase(&state.pool, &store, id, &req.reason, &by).await?;
    Ok((StatusCode::CREATED, Json(kyb::get(&state.pool, id).await?)))
}

#[utoipa::path(get, path = "/v1/compliance/jurisdictions", tag = "compliance",
    responses((status = 200, description = "Jurisdictions that are not standard risk (sanctioned or high), with notes; and the business categories with their levels", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The risk tables KYB checks read: jurisdictions and business categories.
pub async fn get_risk_tables(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Value>> {
    officer(&caller, "read the risk tables")?;
    let j: Vec<Value> = kyb::jurisdictions(&state.reads)
        .await?
        .into_iter()
        .map(|(code, level, note)| json!({ "code": code, "level": level, "note": note }))
        .collect();
    let c: Vec<Value> = kyb::categories(&state.reads)
        .await?
        .into_iter()
        .map(|(code, level, d)| json!({ "code": code, "level": level, "description": d }))
        .collect();
    Ok(Json(json!({ "jurisdictions": j, "categories": c })))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RiskTableEntry {
    /// `jurisdiction` or `category`.
    pub table: String,
    /// An ISO 3166 alpha-2 code, or a category code.
    pub code: String,
    /// Jurisdictions: sanctioned, high or standard (taken off the table). Categories:
    /// prohibited, high or standard.
    pub level: String,
    /// A jurisdiction's note or a category's description.
    #[serde(default)]
    pub note: String,
}

#[utoipa::path(post, path = "/v1/compliance/jurisdictions", tag = "compliance",
    request_body = RiskTableEntry,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, description = "The risk tables after the change", body = Object),
              (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Sets a jurisdiction's or a category's level (cases checked from now on read it).
pub async fn set_risk_table(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<RiskTableEntry>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let by = officer(&caller, "change the risk tables")?;
    match req.table.as_str() {
        "jurisdiction" => {
            kyb::set_jurisdiction(&state.pool, &req.code, &req.level, &req.note, &by).await?
        }
        "category" => kyb::set_category(&state.pool, &req.code, &req.level, &req.note, &by).await?,
        other => {
            return Err(ApiError::bad(
                "invalid-compliance-request",
                format!("table {other:?}: jurisdiction or category"),
            ))
        }
    }
    let Json(tables) = get_risk_tables(State(state), Extension(caller)).await?;
    Ok((StatusCode::CREATED, Json(tables)))
}
