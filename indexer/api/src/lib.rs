//! kassa-api: the HTTP API over what the indexer mirrors (`/v1`), the transactions merchants
//! sign, Solana Pay transaction requests, health, readiness and metrics. Served over TLS
//! (rustls) by `kassa serve` and `kassa demo`. See `docs/api.md`.

pub mod auth;
mod batch;
mod compliance;
pub mod error;
mod health;
mod idempotency;
mod mints;
mod openapi;
pub mod operator_keys;
mod read;
mod settlement;
mod solana_pay;
pub mod tls;
pub mod web;
mod webhooks;
pub mod wire;
mod write;
pub mod x402;

use crate::{
    auth::KeyCache,
    error::{problem, problem_response, ApiError},
    mints::MintCache,
};
use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::Response,
    Router,
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use rand::RngCore;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::signature::Keypair;
use sqlx::PgPool;
use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

pub use openapi::document as openapi_document;

/// How the API runs.
#[derive(Clone)]
pub struct ApiConfig {
    /// The public https base URL (Solana Pay links are `<public_url>/v1/pay/<payment>`).
    pub public_url: String,
    /// The cluster's JSON-RPC URL.
    pub rpc_url: String,
    /// The compliance authority's key, to co-sign KYT-screened payments (absent: merchants
    /// that require KYT cannot be paid through Solana Pay here).
    pub compliance_key: Option<Arc<Keypair>>,
    /// Requests per second per API key (and per client address on protocol routes).
    pub rate_per_sec: u32,
    /// Burst above the rate.
    pub burst: u32,
    /// Largest body accepted.
    pub body_limit: usize,
    /// Longest a request may take.
    pub request_timeout: Duration,
    /// `/readyz` is false when the indexer is more slots behind the cluster than this.
    pub max_lag_slots: u64,
    /// How long `POST /v1/transactions` waits for confirmation.
    pub confirm_timeout: Duration,
    /// Operator keys held for merchants who opt in (absent: the server holds none).
    pub operator_keys: Option<Arc<operator_keys::OperatorKeys>>,
    /// The webhook service's settings (absent: the webhook routes answer 503).
    pub webhooks: Option<kassa_webhooks::Config>,
    /// Where payout batches get their conversion rates (absent: batches cannot be cut here).
    pub rates: Option<Arc<dyn kassa_settlement::rates::RateSource>>,
    /// The treasury wallet's key, to send mass payouts (absent: they cannot be sent here).
    pub treasury_key: Option<Arc<Keypair>>,
    /// Where screening refuses a payer and where it raises an alert.
    pub screening: kassa_compliance::screen::ScreenPolicy,
    /// Largest body accepted by uploads (sanctions list files, KYB documents).
    pub upload_limit: usize,
    /// Where KYB documents are kept (one file per content, named by its SHA-256).
    pub document_dir: std::path::PathBuf,
    /// How long a checkout quote in another stablecoin holds its price (at most 60 s, the
    /// life of a blockhash).
    pub quote_lock: Duration,
    /// The x402 facilitator (absent: `/x402/*` answers 503).
    pub x402: Option<x402::X402Config>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            public_url: "https://localhost:8443".into(),
            rpc_url: "http://127.0.0.1:8899".into(),
            compliance_key: None,
            rate_per_sec: 100,
            burst: 200,
            body_limit: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            max_lag_slots: 150,
            confirm_timeout: Duration::from_secs(20),
            operator_keys: None,
            webhooks: None,
            rates: None,
            treasury_key: None,
            screening: Default::default(),
            upload_limit: 256 * 1024 * 1024,
            document_dir: "kassa-documents".into(),
            quote_lock: Duration::from_secs(30),
            x402: None,
        }
    }
}

/// Per-key and per-client rate limiters.
pub struct Limits {
    pub keys: DefaultKeyedRateLimiter<String>,
    pub clients: DefaultKeyedRateLimiter<IpAddr>,
}

/// Request metrics, in the registry `/metrics` serves.
#[derive(Clone)]
pub struct HttpMetrics {
    pub registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
}

impl Default for HttpMetrics {
    fn default() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "kassa_api_requests_total",
                "HTTP requests by route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "kassa_api_request_duration_seconds",
                "HTTP request latency by route and status",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(requests.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(latency.clone()))
            .expect("unique metric");
        Self {
            registry,
            requests,
            latency,
        }
    }
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    /// The primary: writes, keys, and reads that must see this process's own writes.
    pub pool: PgPool,
    /// Where the read routes read: a streaming replica when one is configured, else the
    /// primary (see [`connect_replica`]).
    pub reads: PgPool,
    pub rpc: RpcClient,
    pub config: ApiConfig,
    pub keys: KeyCache,
    pub limits: Limits,
    pub metrics: HttpMetrics,
    /// The indexer's metrics when it runs in this process.
    pub indexer_metrics: Option<kassa_indexer::metrics::Metrics>,
    pub mints: MintCache,
    /// Payment lookups by address, coalesced under load.
    pub payments: batch::PaymentLoader,
    /// Webhook endpoints and deliveries, when configured.
    pub webhooks: Option<kassa_webhooks::Webhooks>,
    /// Payments the web pages are watching, for their live status.
    pub watch: Arc<web::watch::Watch>,
    /// Currency codes of mints (`settlement.currency`), once read: a code never changes.
    pub codes: std::sync::RwLock<std::collections::HashMap<solana_sdk::pubkey::Pubkey, String>>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        pool: PgPool,
        config: ApiConfig,
        indexer_metrics: Option<kassa_indexer::metrics::Metrics>,
    ) -> Self {
        Self::with_reads(pool.clone(), pool, config, indexer_metrics)
    }

    /// An API whose read routes read from `reads` (a replica of `pool`'s database).
    pub fn with_reads(
        pool: PgPool,
        reads: PgPool,
        config: ApiConfig,
        indexer_metrics: Option<kassa_indexer::metrics::Metrics>,
    ) -> Self {
        let quota = Quota::per_second(
            NonZeroU32::new(config.rate_per_sec.max(1)).unwrap_or(NonZeroU32::MIN),
        )
        .allow_burst(NonZeroU32::new(config.burst.max(1)).unwrap_or(NonZeroU32::MIN));
        Self(Arc::new(Inner {
            rpc: RpcClient::new_with_commitment(
                config.rpc_url.clone(),
                CommitmentConfig::confirmed(),
            ),
            payments: batch::PaymentLoader::start(reads.clone()),
            reads,
            webhooks: config
                .webhooks
                .clone()
                .map(|c| kassa_webhooks::Webhooks::new(pool.clone(), c)),
            pool,
            keys: KeyCache::default(),
            limits: Limits {
                keys: RateLimiter::keyed(quota),
                clients: RateLimiter::keyed(quota),
            },
            metrics: HttpMetrics::default(),
            indexer_metrics,
            mints: MintCache::default(),
            watch: Arc::default(),
            codes: Default::default(),
            config,
        }))
    }
}

/// The API's own pool on `url` (migrations applied): connections are not pinged before each
/// use (a broken one fails its query, which answers `503` and is retried by the client) and a
/// request waits at most two seconds for one, so an outage is a quick `503`, not a hang.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let pool = pool_options(max_connections).connect(url).await?;
    kassa_indexer::store::MIGRATOR
        .run(&pool)
        .await
        .map_err(|e| sqlx::Error::Migrate(Box::new(e)))?;
    Ok(pool)
}

/// The API's pool options, primary and replica alike (see [`connect`]).
fn pool_options(max_connections: u32) -> sqlx::postgres::PgPoolOptions {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(2))
        .test_before_acquire(false)
}

/// Why a replica cannot serve the API's reads.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("cannot connect to the replica: {0}")]
    Connect(#[from] sqlx::Error),
    #[error(
        "the replica's schema is at migration {have}, this build reads migration {need}: \
         migrate the primary (every kassa process does when it starts there) and let the \
         replica catch up"
    )]
    Behind { have: i64, need: i64 },
}

/// A pool on a streaming replica for the read routes. Nothing is migrated there (a hot standby
/// refuses writes): the replica must already hold this build's schema, replayed from the
/// primary. A URL that turns out to be a primary works too, and is logged as such.
pub async fn connect_replica(url: &str, max_connections: u32) -> Result<PgPool, ReplicaError> {
    let pool = pool_options(max_connections).connect(url).await?;
    let (standby, have): (bool, Option<i64>) = sqlx::query_as(
        "SELECT pg_is_in_recovery(),
                (SELECT max(version) FROM _sqlx_migrations WHERE success)",
    )
    .fetch_one(&pool)
    .await
    .or_else(|e| match &e {
        // No migrations table at all: a database Kassa never migrated.
        sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok((false, None)),
        _ => Err(e),
    })?;
    let need = kassa_indexer::store::MIGRATOR
        .iter()
        .map(|m| m.version)
        .max()
        .unwrap_or(0);
    let have = have.unwrap_or(0);
    if have < need {
        return Err(ReplicaError::Behind { have, need });
    }
    if !standby {
        tracing::warn!("database.replica_url is not a standby: reads go to a primary");
    }
    Ok(pool)
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    let (keyed, _) = openapi::keyed_routes().split_for_parts();
    let keyed = keyed
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ));
    let (open, _) = openapi::open_routes().split_for_parts();
    let facilitator = x402::routes().layer(middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate,
    ));
    Router::new()
        .merge(keyed)
        .merge(facilitator)
        .merge(x402::escrow::public_routes())
        .merge(open)
        .merge(web::routes())
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(middleware::from_fn_with_state(state.clone(), envelope))
        .with_state(state)
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound(format!(
        "no route {} {}",
        request.method(),
        request.uri().path()
    ))
}

/// Outermost: a request id (task-local, and `x-request-id` on the answer), a timeout, the
/// metrics, and any bare error answer (405, 408, 413 from the stack) made a problem.
async fn envelope(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    let mut id = String::with_capacity(28);
    id.push_str("req_");
    for b in bytes {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 15)]));
    }
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = std::time::Instant::now();
    let timeout = state.config.request_timeout;
    let mut response = error::REQUEST_ID
        .scope(id.clone(), async move {
            let response = match tokio::time::timeout(timeout, next.run(request)).await {
                Ok(r) => r,
                Err(_) => {
                    let mut r = problem_response(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &problem(
                            StatusCode::SERVICE_UNAVAILABLE,
                            "timeout",
                            "the request took too long; retry it (POSTs with the same Idempotency-Key)".into(),
                            None,
                            None,
                            None,
                        ),
                    );
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from(1));
                    r
                }
            };
            // Answers with a body of their own (problems, Solana Pay's `{"message"}`) stay.
            // Pages answer their errors as pages.
            let is_problem = response.headers().get(header::CONTENT_TYPE).is_some_and(|c| {
                c.as_bytes().starts_with(b"application/problem+json")
                    || c.as_bytes().starts_with(b"application/json")
                    || c.as_bytes().starts_with(b"text/html")
            });
            let status = response.status();
            if (status.is_client_error() || status.is_server_error()) && !is_problem {
                let kind = match status {
                    StatusCode::METHOD_NOT_ALLOWED => "method-not-allowed",
                    StatusCode::PAYLOAD_TOO_LARGE => "body-too-large",
                    StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported-media-type",
                    _ if status.is_server_error() => "internal",
                    _ => "bad-request",
                };
                let detail = match status {
                    StatusCode::METHOD_NOT_ALLOWED => "this route does not take that method".into(),
                    StatusCode::PAYLOAD_TOO_LARGE => "the body is larger than the API accepts".into(),
                    _ => status.canonical_reason().unwrap_or("error").to_string(),
                };
                let mut r = problem_response(status, &problem(status, kind, detail, None, None, None));
                if let Some(allow) = response.headers().get(header::ALLOW) {
                    r.headers_mut().insert(header::ALLOW, allow.clone());
                }
                r
            } else {
                response
            }
        })
        .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert("x-request-id", v);
    }
    let status = response.status();
    let labels = [
        method.as_str(),
        route.as_ref().map_or("unmatched", |r| r.as_str()),
        status.as_str(),
    ];
    state.metrics.requests.with_label_values(&labels).inc();
    state
        .metrics
        .latency
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Serves `router` on `listener` over TLS (or plain HTTP when `tls` is `None`, for a proxy that
/// terminates TLS in front) until `shutdown` resolves; requests in flight are given
/// `grace` to finish.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            handle.graceful_shutdown(Some(grace));
        });
    }
    let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
    listener.set_nonblocking(true)?;
    match tls {
        Some(tls) => {
            axum_server::from_tcp_rustls(listener, tls)?
                .handle(handle)
                .serve(app)
                .await
        }
        None => {
            axum_server::from_tcp(listener)?
                .handle(handle)
                .serve(app)
                .await
        }
    }
}
