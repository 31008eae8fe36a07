//! Every error the API answers is an RFC 9457 problem (`application/problem+json`) with a
//! stable `type`, the request id, and nothing internal: database and RPC failures are logged
//! with the request id and answered in general terms.

use axum::{
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use kassa_sdk::api::types::Problem;

tokio::task_local! {
    /// The id of the request being handled (set by the request middleware).
    pub static REQUEST_ID: String;
}

/// The current request's id, when inside a request.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(|id| id.clone()).ok()
}

/// Marks a `5xx` answer given after an effect may have happened: the idempotency layer stores
/// it instead of releasing the key.
#[derive(Clone, Copy, Debug)]
pub struct Decided;

/// Marks an answer whose body must not be stored for replay (it shows a secret once); a retry
/// with the same `Idempotency-Key` gets this problem detail instead.
#[derive(Clone, Debug)]
pub struct NoReplay(pub String);

/// Where the problem types are documented.
pub const PROBLEM_BASE: &str = "https://docs.kassa.dev/problems/";

/// An error, as the caller sees it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed; `kind` is the stable problem name.
    #[error("{detail}")]
    BadRequest { kind: &'static str, detail: String },
    /// 401: no key, or a key that is unknown, revoked or expired.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: the key's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: nothing there, or nothing this caller may see.
    #[error("{0}")]
    NotFound(String),
    /// 409: the request conflicts with the state (a concurrent idempotent duplicate).
    #[error("{detail}")]
    Conflict { kind: &'static str, detail: String },
    /// 413: the body is too large.
    #[error("{0}")]
    TooLarge(String),
    /// 422: well-formed but not acceptable.
    #[error("{detail}")]
    Unprocessable { kind: &'static str, detail: String },
    /// 422: a Kassa program refused (or would refuse) the transaction.
    #[error("{detail}")]
    Program {
        program: String,
        name: String,
        code: u32,
        detail: String,
    },
    /// 429: over the key's rate; retry after the given seconds.
    #[error("rate limit exceeded")]
    RateLimited { retry_after: u64 },
    /// 503: the database or the cluster cannot be reached; retry after the given seconds.
    #[error("{detail}")]
    Unavailable { detail: String, retry_after: u64 },
    /// 502: the cluster answered with an error.
    #[error("{0}")]
    Upstream(String),
    /// 503 after a transaction was sent: its outcome is unknown, not undecided. Stored under
    /// the request's `Idempotency-Key` like a success, so a retry cannot send it again.
    #[error("transaction {signature} was sent but its outcome is not known yet; look it up with GET /v1/status?signature={signature}")]
    Sent { signature: String },
    /// 500: a bug; logged with the request id, never shown.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            kind,
            detail: detail.into(),
        }
    }

    /// The cluster failed: logged with the request id, answered in general terms (an RPC
    /// provider's URL, which may carry its API key, never reaches a caller).
    pub fn cluster(e: impl std::fmt::Display) -> Self {
        tracing::warn!(request_id = ?request_id(), "cluster: {e}");
        Self::Unavailable {
            detail: "the Solana cluster cannot be reached right now; retry shortly".into(),
            retry_after: 2,
        }
    }

    pub fn unprocessable(kind: &'static str, detail: impl Into<String>) -> Self {
        Self::Unprocessable {
            kind,
            detail: detail.into(),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unprocessable { .. } | Self::Program { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } | Self::Sent { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable problem name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest { kind, .. }
            | Self::Conflict { kind, .. }
            | Self::Unprocessable { kind, .. } => kind,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::TooLarge(_) => "body-too-large",
            Self::Program { .. } => "program-error",
            Self::RateLimited { .. } => "rate-limited",
            Self::Unavailable { .. } => "unavailable",
            Self::Sent { .. } => "sent-unconfirmed",
            Self::Upstream(_) => "cluster-error",
            Self::Internal(_) => "internal",
        }
    }

    /// The problem document.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            // Never shown: it may name tables, hosts or keys.
            Self::Internal(_) => {
                "an internal error occurred; quote the request id to support".into()
            }
            other => other.to_string(),
        };
        let (program, error, code) = match self {
            Self::Program {
                program,
                name,
                code,
                ..
            } => (Some(program.clone()), Some(name.clone()), Some(*code)),
            _ => (None, None, None),
        };
        problem(status, self.kind(), detail, program, error, code)
    }
}

/// A problem document of `status` and `kind`.
pub fn problem(
    status: StatusCode,
    kind: &str,
    detail: String,
    program: Option<String>,
    error: Option<String>,
    code: Option<u32>,
) -> Problem {
    Problem {
        kind: format!("{PROBLEM_BASE}{kind}"),
        title: status.canonical_reason().unwrap_or("Error").to_string(),
        status: status.as_u16(),
        detail,
        request_id: request_id(),
        program,
        error,
        code,
    }
}

/// The response for a problem.
pub fn problem_response(status: StatusCode, p: &Problem) -> Response {
    let body = serde_json::to_vec(p).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        )],
        body,
    )
        .into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Internal(e) => {
                tracing::error!(request_id = ?request_id(), "internal error: {e}")
            }
            Self::Upstream(e) | Self::Unavailable { detail: e, .. } => {
                tracing::warn!(request_id = ?request_id(), "{e}")
            }
            _ => {}
        }
        let mut response = problem_response(self.status(), &self.problem());
        if let Self::RateLimited { retry_after } | Self::Unavailable { retry_after, .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
        }
        if let Self::Sent { .. } = self {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(2));
            response.extensions_mut().insert(Decided);
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            // The database is away (or every connection is busy): a retry will do.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_) => Self::Unavailable {
                detail: "the database is unavailable".into(),
                retry_after: 2,
            },
            // A data exception (text with a NUL byte, a number out of range): the input.
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22")) => {
                Self::bad(
                    "invalid-input",
                    "a value in the request is not acceptable text or number",
                )
            }
            sqlx::Error::Database(db)
                // Connection failures, shutdowns, no connections allowed or left, the
                // database gone: the database is away, not the request wrong.
                if db.code().is_some_and(|c| {
                    c.starts_with("08")
                        || c.starts_with("57P")
                        || c.starts_with("53")
                        || c == "55000"
                        || c == "3D000"
                }) =>
            {
                Self::Unavailable {
                    detail: "the database is unavailable".into(),
                    retry_after: 2,
                }
            }
            other => Self::Internal(format!("database: {other}")),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => Self::BadRequest {
                kind: "unsupported-media-type",
                detail: "the body must be JSON, with Content-Type: application/json".into(),
            },
            JsonRejection::JsonSyntaxError(e) => Self::bad("malformed-json", e.body_text()),
            JsonRejection::JsonDataError(e) => Self::Unprocessable {
                kind: "invalid-body",
                detail: e.body_text(),
            },
            JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::TooLarge("the body is larger than the API accepts".into())
            }
            other => Self::bad("invalid-body", other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::bad("invalid-path", r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad("invalid-query", r.body_text())
    }
}

/// JSON in and out, with rejections as problems.
#[derive(axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters, with rejections as problems.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// Query parameters, with rejections as problems.
#[derive(axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

pub type ApiResult<T> = Result<T, ApiError>;
