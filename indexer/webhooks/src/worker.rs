//! Delivery workers. Each leases due deliveries with `FOR UPDATE SKIP LOCKED` (so any number
//! of workers in any number of processes share the work without taking the same row), posts
//! them signed, and records the attempt. A delivery is due only when no earlier delivery of the
//! same entity to the same endpoint is still pending: one payment's notifications reach an
//! endpoint in order. A worker that dies mid-delivery leaves its lease to expire; another then
//! sends the same message again, with the same `webhook-id` (at least once).

use crate::{events, fanout, guard, rfc3339, Error, Result, Webhooks};
use futures_util::StreamExt as _;
use kassa_sdk::webhook::{sign, Secret, HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use sqlx::Row as _;
use std::{
    collections::HashMap,
    future::Future,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};
use time::OffsetDateTime;
use tokio::{sync::Semaphore, task::JoinSet};

/// The longest part of a response body kept with an attempt.
const EXCERPT: usize = 1024;

/// What a worker did, for benchmarks and logs.
#[derive(Debug, Default)]
pub struct Stats {
    pub delivered: AtomicU64,
    pub failed_attempts: AtomicU64,
    pub given_up: AtomicU64,
}

/// One delivery worker.
#[derive(Clone)]
pub struct Worker {
    w: Webhooks,
    name: Arc<str>,
    http: reqwest::Client,
    pub stats: Arc<Stats>,
}

/// A delivery this worker holds the lease of.
struct Leased {
    id: i64,
    endpoint: String,
    merchant: Vec<u8>,
    message: String,
    attempt: i32,
    retry_since: OffsetDateTime,
    url: String,
    body: String,
    /// The endpoint's signing secrets in force, opened.
    secrets: Arc<Vec<Secret>>,
}

/// How an attempt ended.
struct Outcome {
    started_at: OffsetDateTime,
    duration: Duration,
    status: Option<u16>,
    error: Option<String>,
    response: Option<String>,
}

impl Outcome {
    fn accepted(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

impl Worker {
    /// A worker named `name` (in leases and attempt records).
    pub fn new(w: Webhooks, name: &str) -> Result<Self> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(w.config.request_timeout)
            .connect_timeout(w.config.request_timeout.min(Duration::from_secs(5)))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Kassa-Webhooks/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(guard::GuardedResolver {
                allow_private: w.config.allow_private,
            }))
            .build()
            .map_err(|e| Error::Invalid(format!("the webhook HTTP client: {e}")))?;
        Ok(Self {
            w,
            name: format!("{name}-{}", hex::encode(crate::crypto::random::<4>())).into(),
            http,
            stats: Arc::default(),
        })
    }

    /// Fans out and delivers until `shutdown`, then lets deliveries in flight finish (up to the
    /// request timeout). Dropping the returned future abandons them: their leases expire and
    /// another worker sends them again.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let slots = self.w.config.concurrency.max(1);
        let permits = Arc::new(Semaphore::new(slots));
        let mut tasks = JoinSet::new();
        let mut fanned_out: Option<Instant> = None;
        let mut pruned: Option<Instant> = None;
        tokio::pin!(shutdown);
        loop {
            while tasks.try_join_next().is_some() {}
            let mut backlog = false;
            if pruned.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                pruned = Some(Instant::now());
                if let Err(e) = crate::endpoints::prune(&self.w).await {
                    tracing::warn!(error = %e, "pruning old webhook deliveries failed");
                }
            }
            // The outbox is looked at once per poll interval, not once per delivery.
            if fanned_out.is_none_or(|t| t.elapsed() >= self.w.config.poll) {
                fanned_out = Some(Instant::now());
                match fanout::pass(&self.w).await {
                    // A full batch: more is waiting (a backfill); go on at once.
                    Ok(n) if n as i64 >= fanout::BATCH => {
                        fanned_out = None;
                        backlog = true;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "webhook fan-out failed; retrying"),
                }
            }
            // Leases are taken in batches: when half the slots are free, or all are.
            let free = permits.available_permits();
            let started = if free >= slots.div_ceil(2) || tasks.is_empty() {
                match self.start(&permits, &mut tasks, free).await {
                    Ok(n) => n,
                    Err(e) => {
                        tracing::warn!(error = %e, "webhook worker round failed; retrying");
                        0
                    }
                }
            } else {
                0
            };
            let idle = if started > 0 || backlog {
                Duration::ZERO
            } else {
                self.w.config.poll
            };
            tokio::select! {
                _ = &mut shutdown => break,
                _ = tokio::time::sleep(idle) => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            }
        }
        let drain = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(self.w.config.request_timeout, drain).await;
    }

    /// Leases up to `free` due deliveries and sends each in a task of `tasks`. Returns how
    /// many it started.
    async fn start(
        &self,
        permits: &Arc<Semaphore>,
        tasks: &mut JoinSet<()>,
        free: usize,
    ) -> Result<usize> {
        if free == 0 {
            return Ok(0);
        }
        let leased = self.lease(free).await?;
        let n = leased.len();
        for d in leased {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                break;
            };
            let me = self.clone();
            tasks.spawn(async move {
                let id = d.id;
                if let Err(e) = me.deliver(d).await {
                    tracing::warn!(delivery = id, error = %e, "recording a webhook attempt failed");
                }
                drop(permit);
            });
        }
        Ok(n)
    }

    /// Delivers what is due now, every delivery awaited: fan-out, lease, send, record, until
    /// nothing is due. For tests and tools that step the service by hand.
    pub async fn drain(&self) -> Result<usize> {
        let mut total = 0;
        loop {
            fanout::pass(&self.w).await?;
            let leased = self.lease(self.w.config.concurrency.max(1)).await?;
            if leased.is_empty() {
                return Ok(total);
            }
            total += leased.len();
            let results: Vec<Result<()>> = futures_util::stream::iter(leased)
                .map(|d| self.deliver(d))
                .buffer_unordered(self.w.config.concurrency.max(1))
                .collect()
                .await;
            for r in results {
                r?;
            }
        }
    }

    async fn lease(&self, n: usize) -> Result<Vec<Leased>> {
        let now = self.w.config.clock.now();
        let lease_until = now + self.w.config.lease();
        let rows = sqlx::query(
            "WITH due AS (
                 SELECT d.id FROM webhooks.delivery d
                 JOIN webhooks.endpoint e ON e.id = d.endpoint
                 WHERE d.state = 'pending' AND d.next_attempt_at <= $1
                   AND (d.leased_until IS NULL OR d.leased_until < $1)
                   AND e.enabled
                   AND NOT EXISTS (
                       SELECT 1 FROM webhooks.delivery p
                       WHERE p.endpoint = d.endpoint AND p.order_key = d.order_key
                         AND p.state = 'pending' AND p.id < d.id)
                 ORDER BY d.next_attempt_at, d.id
                 LIMIT $2
                 FOR UPDATE OF d SKIP LOCKED)
             UPDATE webhooks.delivery d
             SET leased_until = $3, lease_owner = $4, attempts = d.attempts + 1
             FROM due, webhooks.endpoint e, webhooks.message m
             WHERE d.id = due.id AND e.id = d.endpoint AND m.id = d.message
             RETURNING d.id, d.endpoint, e.merchant, d.message, d.attempts, d.retry_since, e.url,
                       m.body",
        )
        .bind(now)
        .bind(n as i64)
        .bind(lease_until)
        .bind(&*self.name)
        .fetch_all(&self.w.pool)
        .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let endpoints: Vec<String> = rows.iter().map(|r| r.get::<String, _>(1)).collect();
        let secrets = self.secrets(&endpoints, now).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let endpoint: String = r.get(1);
                Leased {
                    id: r.get(0),
                    secrets: secrets.get(&endpoint).cloned().unwrap_or_default(),
                    endpoint,
                    merchant: r.get(2),
                    message: r.get(3),
                    attempt: r.get(4),
                    retry_since: r.get(5),
                    url: r.get(6),
                    body: r.get(7),
                }
            })
            .collect())
    }

    /// The secrets that sign now of each of `endpoints`, opened.
    async fn secrets(
        &self,
        endpoints: &[String],
        now: OffsetDateTime,
    ) -> Result<HashMap<String, Arc<Vec<Secret>>>> {
        let rows: Vec<(String, i32, Vec<u8>)> = sqlx::query_as(
            "SELECT endpoint, version, sealed FROM webhooks.secret
             WHERE endpoint = ANY($1) AND (expires_at IS NULL OR expires_at > $2)
             ORDER BY endpoint, version",
        )
        .bind(endpoints)
        .bind(now)
        .fetch_all(&self.w.pool)
        .await?;
        let mut out: HashMap<String, Vec<Secret>> = HashMap::new();
        for (endpoint, version, sealed) in rows {
            let plain = self
                .w
                .config
                .sealing_key
                .open(
                    crate::endpoints::secret_aad(&endpoint, version).as_bytes(),
                    &sealed,
                )
                .map_err(Error::Key)?;
            let secret = Secret::from_bytes(&plain).map_err(|e| Error::Key(e.to_string()))?;
            out.entry(endpoint).or_default().push(secret);
        }
        Ok(out.into_iter().map(|(k, v)| (k, Arc::new(v))).collect())
    }

    async fn deliver(&self, d: Leased) -> Result<()> {
        let started_at = self.w.config.clock.now();
        let t0 = Instant::now();
        let outcome = if d.secrets.is_empty() {
            Outcome {
                started_at,
                duration: t0.elapsed(),
                status: None,
                error: Some("the endpoint has no signing secret".into()),
                response: None,
            }
        } else {
            self.post(&d, &d.secrets, started_at, t0).await
        };
        self.record(&d, outcome).await
    }

    async fn post(
        &self,
        d: &Leased,
        secrets: &[Secret],
        started_at: OffsetDateTime,
        t0: Instant,
    ) -> Outcome {
        let fail = |error: String| Outcome {
            started_at,
            duration: t0.elapsed(),
            status: None,
            error: Some(error),
            response: None,
        };
        let url = match guard::check_url(&d.url, self.w.config.allow_private) {
            Ok(u) => u,
            Err(e) => return fail(e),
        };
        let ts = started_at.unix_timestamp();
        let refs: Vec<&Secret> = secrets.iter().collect();
        let signature = sign(&refs, &d.message, ts, d.body.as_bytes());
        let sent = self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(HEADER_ID, &d.message)
            .header(HEADER_TIMESTAMP, ts.to_string())
            .header(HEADER_SIGNATURE, signature)
            .body(d.body.clone())
            .send()
            .await;
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return fail(describe(&e)),
        };
        if let Some(peer) = resp.remote_addr() {
            if !self.w.config.allow_private && !guard::is_public(peer.ip()) {
                return fail(format!("connected to {}, a private address", peer.ip()));
            }
        }
        let status = resp.status();
        let mut excerpt = Vec::new();
        let mut read_error = None;
        while excerpt.len() < EXCERPT {
            match resp.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                Ok(None) => break,
                Err(e) => {
                    read_error = Some(describe(&e));
                    break;
                }
            }
        }
        excerpt.truncate(EXCERPT);
        let error = if status.is_redirection() {
            Some(format!(
                "redirects are not followed (a {} to {})",
                status.as_u16(),
                resp.headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|l| l.to_str().ok())
                    .unwrap_or("nowhere")
            ))
        } else if status.is_success() {
            read_error
        } else {
            None
        };
        Outcome {
            started_at,
            duration: t0.elapsed(),
            status: Some(status.as_u16()),
            error,
            response: (!excerpt.is_empty()).then(|| String::from_utf8_lossy(&excerpt).into_owned()),
        }
    }

    async fn record(&self, d: &Leased, o: Outcome) -> Result<()> {
        let now = self.w.config.clock.now();
        let status = o.status.map(|s| s as i16);
        let error = if o.accepted() {
            None
        } else {
            o.error
                .clone()
                .or_else(|| o.status.map(|s| format!("the endpoint answered {s}")))
        };
        let retry = &self.w.config.retry;
        let (state, next) = if o.accepted() {
            ("delivered", now)
        } else if now - d.retry_since >= retry.give_up_after {
            ("failed", now)
        } else {
            let jitter = u32::from(u16::from_le_bytes(crate::crypto::random::<2>())) % 501;
            (
                "pending",
                now + retry.delay(d.attempt.max(1) as u32, jitter),
            )
        };
        // The attempt and the delivery's new state in one statement; only a delivery given up
        // takes a transaction, which also disables the endpoint.
        let query = || {
            sqlx::query(
                "WITH attempt AS (
                     INSERT INTO webhooks.attempt (delivery, n, started_at, duration_ms, status,
                                                   error, response, worker)
                     VALUES ($1, $3, $4, $5, $6, $7, $8, $2) ON CONFLICT DO NOTHING)
                 UPDATE webhooks.delivery
                 SET state = $9,
                     finished_at = CASE WHEN $9 = 'pending' THEN NULL ELSE $10 END,
                     next_attempt_at = CASE WHEN $9 = 'pending' THEN $11 ELSE next_attempt_at END,
                     leased_until = NULL, lease_owner = NULL, last_status = $6, last_error = $7
                 WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
            )
            .bind(d.id)
            .bind(&*self.name)
            .bind(d.attempt)
            .bind(o.started_at)
            .bind(o.duration.as_millis().min(i32::MAX as u128) as i32)
            .bind(status)
            .bind(&error)
            .bind(&o.response)
            .bind(state)
            .bind(now)
            .bind(next)
        };
        if state == "failed" {
            let mut tx = self.w.pool.begin().await?;
            if query().execute(&mut *tx).await?.rows_affected() == 1 {
                self.disable(&mut tx, d, now, error.as_deref().unwrap_or("no answer"))
                    .await?;
                self.stats.given_up.fetch_add(1, Ordering::Relaxed);
            }
            tx.commit().await?;
        } else {
            query().execute(&self.w.pool).await?;
        }
        if state == "delivered" {
            self.stats.delivered.fetch_add(1, Ordering::Relaxed);
        } else {
            self.stats.failed_attempts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// After days of failures: the endpoint is disabled, operators get an alert, and the
    /// merchant's other endpoints are told.
    async fn disable(
        &self,
        tx: &mut sqlx::PgConnection,
        d: &Leased,
        now: OffsetDateTime,
        last_error: &str,
    ) -> Result<()> {
        let days = self.w.config.retry.give_up_after.as_secs() / 86_400;
        let reason =
            format!("disabled by Kassa: deliveries failed for {days} days (last: {last_error})");
        let disabled = sqlx::query(
            "UPDATE webhooks.endpoint SET enabled = false, disabled_reason = $2, updated_at = $3
             WHERE id = $1 AND enabled",
        )
        .bind(&d.endpoint)
        .bind(&reason)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if disabled == 0 {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO webhooks.alert (endpoint, kind, detail, created_at)
             VALUES ($1, 'endpoint_disabled', $2, $3)",
        )
        .bind(&d.endpoint)
        .bind(&reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let merchant = solana_sdk::pubkey::Pubkey::try_from(d.merchant.as_slice())
            .map(|m| m.to_string())
            .unwrap_or_default();
        sqlx::query(
            "INSERT INTO webhooks.outbox (type, merchant, data, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(events::ENDPOINT_DISABLED)
        .bind(&d.merchant)
        .bind(serde_json::json!({
            "endpoint": d.endpoint,
            "merchant": merchant,
            "url": d.url,
            "message": reason,
        }))
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tracing::error!(
            endpoint = %d.endpoint,
            merchant = %merchant,
            disabled_at = %rfc3339(now),
            "webhook endpoint disabled after days of failed deliveries"
        );
        Ok(())
    }
}

/// A request error with its causes (reqwest's own message hides them).
fn describe(e: &reqwest::Error) -> String {
    let mut s = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    s
}
