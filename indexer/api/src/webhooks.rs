//! Webhook endpoints and deliveries (`kassa-webhooks` does the work): merchants manage their
//! own endpoints (another merchant's is a 404), operators any endpoint and the alerts. Other
//! roles cannot manage webhooks.

use crate::{
    auth::Caller,
    error::{ApiError, ApiResult, Json, Path, Query},
    wire::parse_key,
    AppState,
};
use axum::{extract::State, http::StatusCode, Extension};
use kassa_sdk::api::types::{
    CreateWebhookEndpoint, NewWebhookEndpoint, NewWebhookSecret, Page, ReplayWebhooks, Replayed,
    Role, RotateWebhookSecret, UpdateWebhookEndpoint, WebhookAlert, WebhookDelivery,
    WebhookEndpoint,
};
use kassa_webhooks::{endpoints, Error, Webhooks};
use serde::Deserialize;
use solana_sdk::pubkey::Pubkey;
use utoipa::IntoParams;

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        match e {
            Error::NotFound(s) => ApiError::NotFound(s),
            Error::Invalid(s) => ApiError::unprocessable("invalid-webhook", s),
            Error::Db(e) => e.into(),
            Error::Key(s) => ApiError::Internal(s),
        }
    }
}

fn service(state: &AppState) -> ApiResult<&Webhooks> {
    state
        .webhooks
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable {
            detail: "webhooks are not configured on this server (webhooks.key)".into(),
            retry_after: 3600,
        })
}

/// The merchant a caller is confined to (`None`: an operator), or 403.
fn scope(caller: &Caller) -> ApiResult<Option<Pubkey>> {
    match caller.role {
        Role::Operator => Ok(None),
        Role::Merchant => Ok(caller.scope()),
        other => Err(ApiError::Forbidden(format!(
            "a {} key cannot manage webhooks",
            other.as_str()
        ))),
    }
}

fn delivery_id(s: &str) -> ApiResult<i64> {
    endpoints::parse_delivery_id(s)
        .ok_or_else(|| ApiError::NotFound(format!("no webhook delivery {s:?}")))
}

#[utoipa::path(get, path = "/v1/webhook-event-types", tag = "webhooks",
    responses((status = 200, body = Vec<String>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Every event type an endpoint can subscribe to (each chain event type also arrives as
/// `<type>.finalized` and `<type>.reverted`).
pub async fn event_types() -> Json<Vec<&'static str>> {
    Json(endpoints::event_types())
}

#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhooks",
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    request_body = CreateWebhookEndpoint,
    responses((status = 201, body = NewWebhookEndpoint), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Registers an endpoint; its signing secret is in this answer only.
pub async fn create_endpoint(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CreateWebhookEndpoint>,
) -> ApiResult<(
    StatusCode,
    Extension<crate::error::NoReplay>,
    Json<NewWebhookEndpoint>,
)> {
    let w = service(&state)?;
    let merchant = match (scope(&caller)?, &req.merchant) {
        (Some(own), None) => own,
        (Some(own), Some(m)) if parse_key("merchant", m)? == own => own,
        (Some(_), Some(m)) => return Err(ApiError::NotFound(format!("no merchant {m}"))),
        (None, Some(m)) => parse_key("merchant", m)?,
        (None, None) => {
            return Err(ApiError::unprocessable(
                "missing-merchant",
                "an operator names the merchant the endpoint is for (merchant)",
            ))
        }
    };
    let created = endpoints::create(w, &merchant, &req).await?;
    let once = crate::error::NoReplay(format!(
        "this request registered webhook endpoint {}; its secret was shown once. Rotate it if it was lost",
        created.endpoint.id
    ));
    Ok((StatusCode::CREATED, Extension(once), Json(created)))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhooks",
    responses((status = 200, body = Vec<WebhookEndpoint>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The caller's endpoints (operators: every endpoint).
pub async fn list_endpoints(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<WebhookEndpoint>>> {
    let scope = scope(&caller)?;
    Ok(Json(
        endpoints::list(service(&state)?, scope.as_ref()).await?,
    ))
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (we_…)")),
    responses((status = 200, body = WebhookEndpoint), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// One endpoint.
pub async fn get_endpoint(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookEndpoint>> {
    let scope = scope(&caller)?;
    Ok(Json(
        endpoints::get(service(&state)?, scope.as_ref(), &id).await?,
    ))
}

#[utoipa::path(patch, path = "/v1/webhook-endpoints/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (we_…)")),
    request_body = UpdateWebhookEndpoint,
    responses((status = 200, body = WebhookEndpoint), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Changes an endpoint's URL, types or phases, or disables or enables it (its pending
/// deliveries wait while it is disabled and resume when it is enabled).
pub async fn update_endpoint(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(req): Json<UpdateWebhookEndpoint>,
) -> ApiResult<Json<WebhookEndpoint>> {
    let scope = scope(&caller)?;
    Ok(Json(
        endpoints::update(service(&state)?, scope.as_ref(), &id, &req).await?,
    ))
}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/rotate-secret", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (we_…)"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    request_body = RotateWebhookSecret,
    responses((status = 201, body = NewWebhookSecret), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// A new signing secret, shown once; the current one keeps signing beside it for the overlap.
pub async fn rotate_secret(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(req): Json<RotateWebhookSecret>,
) -> ApiResult<(
    StatusCode,
    Extension<crate::error::NoReplay>,
    Json<NewWebhookSecret>,
)> {
    let scope = scope(&caller)?;
    let rotated =
        endpoints::rotate(service(&state)?, scope.as_ref(), &id, req.overlap_secs).await?;
    let once = crate::error::NoReplay(format!(
        "this request made secret version {} of {id}; it was shown once. Rotate again if it was lost",
        rotated.version
    ));
    Ok((StatusCode::CREATED, Extension(once), Json(rotated)))
}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/test", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (we_…)"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 202, body = WebhookDelivery), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Sends a `webhook.test` event to this endpoint.
pub async fn send_test(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<WebhookDelivery>)> {
    let scope = scope(&caller)?;
    let d = endpoints::send_test(service(&state)?, scope.as_ref(), &id).await?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}

#[utoipa::path(post, path = "/v1/webhook-endpoints/{id}/replay", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (we_…)"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    request_body = ReplayWebhooks,
    responses((status = 202, body = Replayed), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Sends again, in order, every message this endpoint would receive since a time or after a
/// message (after an outage, or when it was disabled).
pub async fn replay(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(req): Json<ReplayWebhooks>,
) -> ApiResult<(StatusCode, Json<Replayed>)> {
    let scope = scope(&caller)?;
    let since = match &req.since {
        Some(s) => Some(
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| {
                    ApiError::bad(
                        "invalid-time",
                        format!("since {s:?} is not an RFC 3339 time"),
                    )
                })?,
        ),
        None => None,
    };
    let n = endpoints::replay(
        service(&state)?,
        scope.as_ref(),
        &id,
        since,
        req.after_message.as_deref(),
    )
    .await?;
    Ok((StatusCode::ACCEPTED, Json(Replayed { deliveries: n })))
}

/// A page of deliveries.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeliveryQuery {
    /// Rows per page (1 to 200, default 50).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{id}/deliveries", tag = "webhooks",
    params(("id" = String, Path, description = "Endpoint id (we_…)"), DeliveryQuery),
    responses((status = 200, body = Page<WebhookDelivery>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// An endpoint's deliveries, newest first.
pub async fn list_deliveries(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(q): Query<DeliveryQuery>,
) -> ApiResult<Json<Page<WebhookDelivery>>> {
    let scope = scope(&caller)?;
    let limit = crate::read::limit(q.limit)?;
    let before = match &q.cursor {
        Some(c) => Some(endpoints::parse_delivery_id(c).ok_or_else(|| {
            ApiError::bad(
                "invalid-cursor",
                "cursor is not one this API returned (pass next_cursor unchanged)",
            )
        })?),
        None => None,
    };
    let (data, next) =
        endpoints::deliveries(service(&state)?, scope.as_ref(), &id, before, limit).await?;
    Ok(Json(Page {
        data,
        next_cursor: next.map(|n| format!("dlv_{n}")),
    }))
}

#[utoipa::path(get, path = "/v1/webhook-deliveries/{id}", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id (dlv_…)")),
    responses((status = 200, body = WebhookDelivery), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// One delivery with every attempt: when, how long, the status and the start of the answer.
pub async fn get_delivery(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<WebhookDelivery>> {
    let scope = scope(&caller)?;
    Ok(Json(
        endpoints::delivery_view(service(&state)?, scope.as_ref(), delivery_id(&id)?).await?,
    ))
}

#[utoipa::path(post, path = "/v1/webhook-deliveries/{id}/redeliver", tag = "webhooks",
    params(("id" = String, Path, description = "Delivery id (dlv_…)"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 202, body = WebhookDelivery), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Sends a delivery's message again (the same `webhook-id`), as a new delivery.
pub async fn redeliver(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<WebhookDelivery>)> {
    let scope = scope(&caller)?;
    let d = endpoints::redeliver(service(&state)?, scope.as_ref(), delivery_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(d)))
}

#[utoipa::path(get, path = "/v1/webhook-alerts", tag = "webhooks",
    responses((status = 200, body = Vec<WebhookAlert>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Endpoints Kassa disabled after days of failures (operators).
pub async fn alerts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<WebhookAlert>>> {
    if caller.role != Role::Operator {
        return Err(ApiError::Forbidden(
            "only operators see webhook alerts".into(),
        ));
    }
    Ok(Json(endpoints::alerts(service(&state)?).await?))
}
