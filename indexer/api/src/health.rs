//! `/healthz` (the process answers), `/readyz` (the database answers and the indexer is within
//! its lag bound) and Prometheus `/metrics` (requests and latency by route and status, plus the
//! indexer's when it runs in this process).

use crate::AppState;
use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
};
use kassa_sdk::{api::types::Readiness, programs::KassaProgram};
use std::time::Duration;

#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The process is up", body = String)))]
/// Liveness.
pub async fn healthz() -> &'static str {
    "ok"
}

#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
/// Readiness: the database answers and the indexer is within its lag bound.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let slowest = tokio::time::timeout(
        Duration::from_secs(2),
        // The least synced program stream; a stream never synced counts as nothing synced.
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT CASE WHEN count(*) = $1 THEN min(slot) END FROM chain.stream_sync
             WHERE stream = ANY($2)",
        )
        .bind(KassaProgram::ALL.len() as i64)
        .bind(
            KassaProgram::ALL
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>(),
        )
        // Read where the read routes read: a replica's replay lag counts as indexer lag.
        .fetch_one(&state.reads),
    )
    .await;
    let (database, cursor) = match slowest {
        Ok(Ok(c)) => (true, c),
        _ => (false, None),
    };
    let tip = tokio::time::timeout(Duration::from_secs(2), state.rpc.get_slot())
        .await
        .ok()
        .and_then(Result::ok);
    let lag = match (cursor, tip) {
        (Some(c), Some(t)) => Some(t.saturating_sub(u64::try_from(c).unwrap_or(0))),
        _ => None,
    };
    let ready = database && lag.is_some_and(|l| l <= state.config.max_lag_slots);
    let body = Readiness {
        ready,
        database,
        indexer_lag_slots: lag,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut r = (status, axum::Json(body)).into_response();
    if !ready {
        r.headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(2));
    }
    r
}

#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text format", body = String)))]
/// Prometheus metrics.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let encoder = prometheus::TextEncoder::new();
    let mut text = encoder
        .encode_to_string(&state.metrics.registry.gather())
        .unwrap_or_default();
    if let Some(m) = &state.indexer_metrics {
        text.push_str(&m.render());
    }
    if let Some(w) = &state.webhooks {
        match kassa_webhooks::endpoints::metrics(w).await {
            Ok(m) => text.push_str(&m),
            Err(e) => tracing::warn!(error = %e, "webhook metrics unavailable"),
        }
    }
    match kassa_compliance::monitor::metrics(&state.pool).await {
        Ok(m) => text.push_str(&m),
        Err(e) => tracing::warn!(error = %e, "compliance metrics unavailable"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
