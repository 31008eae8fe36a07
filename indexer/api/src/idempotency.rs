//! `Idempotency-Key` on every POST of the keyed API. The first request with a key claims it
//! (one row, inserted or not, in one statement, so concurrent duplicates cannot both run);
//! its answer is stored unless it was a 5xx (then the claim is dropped and a retry runs
//! afresh). A retry with the same key and body gets the stored answer, byte for byte; the same
//! key with another body or route is a `422`; a duplicate that arrives while the first is
//! still running is a `409` with `Retry-After`.

use crate::{
    auth::Caller,
    error::{problem, ApiError, Decided, NoReplay},
    AppState,
};
use axum::{
    body::{to_bytes, Body},
    extract::{Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use sha2::{Digest, Sha256};

pub const HEADER: &str = "idempotency-key";

pub async fn idempotent(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    if request.method() != Method::POST {
        return Ok(next.run(request).await);
    }
    let caller = request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| ApiError::Internal("idempotency before authentication".into()))?;
    let key = request
        .headers()
        .get(HEADER)
        .ok_or_else(|| {
            ApiError::bad(
                "idempotency-key-required",
                "every POST needs an Idempotency-Key header (a unique string per intended effect, such as a UUID)",
            )
        })?
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .ok_or_else(|| {
            ApiError::bad(
                "invalid-idempotency-key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
        })?
        .to_string();
    let (parts, body) = request.into_parts();
    let limit = if crate::openapi::is_upload(&parts.method, parts.uri.path()) {
        state.config.upload_limit
    } else {
        state.config.body_limit
    };
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| ApiError::TooLarge("the body is larger than the API accepts".into()))?;
    let path = parts.uri.path().to_string();
    let mut h = Sha256::new();
    h.update(parts.method.as_str());
    h.update([0]);
    h.update(&path);
    h.update([0]);
    h.update(&bytes);
    let request_hash: [u8; 32] = h.finalize().into();

    // Keys are kept a day (the retention the docs promise); the sweep is cheap and rare.
    if rand::random::<u16>() < 64 {
        sqlx::query("DELETE FROM api.idempotency WHERE created_at < now() - interval '24 hours'")
            .execute(&state.pool)
            .await?;
    }
    // A claim whose process died before settling it is taken over after 15 minutes.
    let claimed: Option<i32> = sqlx::query_scalar(
        "INSERT INTO api.idempotency (account, key, method, path, request_hash)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (account, key) DO UPDATE SET created_at = now()
         WHERE api.idempotency.status IS NULL
           AND api.idempotency.created_at < now() - interval '15 minutes'
           AND api.idempotency.request_hash = EXCLUDED.request_hash
         RETURNING 1",
    )
    .bind(caller.account)
    .bind(&key)
    .bind(parts.method.as_str())
    .bind(&path)
    .bind(&request_hash[..])
    .fetch_optional(&state.pool)
    .await?;
    if claimed.is_none() {
        let (stored_hash, status, content_type, body): (
            Vec<u8>,
            Option<i16>,
            Option<String>,
            Option<Vec<u8>>,
        ) = sqlx::query_as(
            "SELECT request_hash, status, content_type, body FROM api.idempotency
             WHERE account = $1 AND key = $2",
        )
        .bind(caller.account)
        .bind(&key)
        .fetch_one(&state.pool)
        .await?;
        if stored_hash != request_hash {
            return Err(ApiError::unprocessable(
                "idempotency-key-reused",
                "this Idempotency-Key was used for a different request (another route or body); use a new key",
            ));
        }
        let (Some(status), Some(body)) = (status, body) else {
            let mut r = ApiError::Conflict {
                kind: "idempotency-in-progress",
                detail: "a request with this Idempotency-Key is still being handled; retry shortly"
                    .into(),
            }
            .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(1));
            return Ok(r);
        };
        let mut r = Response::new(Body::from(body));
        *r.status_mut() = StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK);
        if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
            r.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        r.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
        return Ok(r);
    }

    // Run and settle the claim in a task of its own: a client that goes away, the request
    // timeout or a shutdown drop only the waiting, never the settling.
    let request = Request::from_parts(parts, Body::from(bytes));
    let id = crate::error::request_id().unwrap_or_default();
    let pool = state.pool.clone();
    let account = caller.account;
    let task = tokio::spawn(crate::error::REQUEST_ID.scope(id, async move {
        let response = next.run(request).await;
        settle(&pool, account, &key, response).await
    }));
    task.await
        .map_err(|e| ApiError::Internal(format!("handler task: {e}")))?
}

/// Stores the answer under the claim (or releases the claim when nothing was decided).
async fn settle(
    pool: &sqlx::PgPool,
    account: i64,
    key: &str,
    response: Response,
) -> Result<Response, ApiError> {
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::Internal(format!("response body: {e}")))?;
    let decided = parts.extensions.get::<Decided>().is_some();
    if parts.status.is_server_error() && !decided {
        // Nothing was decided: let a retry run again.
        sqlx::query("DELETE FROM api.idempotency WHERE account = $1 AND key = $2")
            .bind(account)
            .bind(key)
            .execute(pool)
            .await?;
    } else {
        // A secret shown once is not kept for replay: a retry is told it was issued.
        let (status, content_type, stored) = match parts.extensions.get::<NoReplay>() {
            Some(NoReplay(detail)) => {
                let p = problem(
                    StatusCode::CONFLICT,
                    "already-issued",
                    detail.clone(),
                    None,
                    None,
                    None,
                );
                (
                    StatusCode::CONFLICT,
                    Some("application/problem+json".to_string()),
                    serde_json::to_vec(&p).unwrap_or_default(),
                )
            }
            None => (
                parts.status,
                parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string),
                bytes.to_vec(),
            ),
        };
        sqlx::query(
            "UPDATE api.idempotency SET status = $3, content_type = $4, body = $5
             WHERE account = $1 AND key = $2",
        )
        .bind(account)
        .bind(key)
        .bind(status.as_u16() as i16)
        .bind(content_type)
        .bind(stored)
        .execute(pool)
        .await?;
    }
    Ok(Response::from_parts(parts, Body::from(bytes)))
}
