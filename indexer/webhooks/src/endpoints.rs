//! What the API's webhook routes do. Every function takes the caller's scope: `Some(merchant)`
//! for a merchant key (another merchant's endpoint or delivery is "not found"), `None` for
//! operators.

use crate::{crypto, events, fanout, guard, rfc3339, Error, Result, Webhooks};
use kassa_sdk::{
    api::types::{
        CreateWebhookEndpoint, EndpointEventData, EndpointNotification, NewWebhookEndpoint,
        NewWebhookSecret, UpdateWebhookEndpoint, WebhookAlert, WebhookAttempt, WebhookDelivery,
        WebhookEndpoint, WebhookSecretInfo,
    },
    webhook::Secret,
};
use solana_sdk::pubkey::Pubkey;
use sqlx::{postgres::PgRow, Row as _};
use std::time::Duration;
use time::OffsetDateTime;

/// The associated data a secret is sealed with: its endpoint and version.
pub fn secret_aad(endpoint: &str, version: i32) -> String {
    format!("kassa-webhook-secret:{endpoint}:{version}")
}

/// The longest overlap a rotation may ask for.
const MAX_OVERLAP: Duration = Duration::from_secs(7 * 86_400);

fn scope_bytes(scope: Option<&Pubkey>) -> Option<Vec<u8>> {
    scope.map(|m| m.to_bytes().to_vec())
}

fn check_types(types: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for t in types {
        if !events::is_known(t) {
            return Err(Error::Invalid(format!(
                "unknown event type {t:?}: subscribe to base types such as \"payment.captured\" \
                 (see GET /v1/webhook-event-types)"
            )));
        }
        if !out.contains(t) {
            out.push(t.clone());
        }
    }
    Ok(out)
}

fn check_description(d: &str) -> Result<()> {
    if d.chars().count() > 500 {
        return Err(Error::Invalid(
            "description is longer than 500 characters".into(),
        ));
    }
    Ok(())
}

fn new_secret(w: &Webhooks, endpoint: &str, version: i32) -> (Secret, Vec<u8>) {
    let bytes = crypto::random::<32>();
    let secret = Secret::from_bytes(&bytes).unwrap_or_else(|_| unreachable!("32 bytes"));
    let sealed = w
        .config
        .sealing_key
        .seal(secret_aad(endpoint, version).as_bytes(), &bytes);
    (secret, sealed)
}

/// Registers an endpoint for `merchant`; its secret is in the answer and nowhere else in clear.
pub async fn create(
    w: &Webhooks,
    merchant: &Pubkey,
    req: &CreateWebhookEndpoint,
) -> Result<NewWebhookEndpoint> {
    let url = guard::check_url(&req.url, w.config.allow_private).map_err(Error::Invalid)?;
    let description = req.description.clone().unwrap_or_default();
    check_description(&description)?;
    let types = check_types(req.event_types.as_deref().unwrap_or_default())?;
    let known: Option<i32> = sqlx::query_scalar("SELECT 1 FROM chain.merchant WHERE address = $1")
        .bind(merchant.as_ref())
        .fetch_optional(&w.pool)
        .await?;
    if known.is_none() {
        return Err(Error::NotFound(format!("no merchant {merchant}")));
    }
    let id = format!("we_{}", hex::encode(crypto::random::<8>()));
    let now = w.config.clock.now();
    let (secret, sealed) = new_secret(w, &id, 1);
    let mut tx = w.pool.begin().await?;
    sqlx::query(
        "INSERT INTO webhooks.endpoint (id, merchant, url, description, event_types, confirmed,
                                        created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
    )
    .bind(&id)
    .bind(merchant.as_ref())
    .bind(url.as_str())
    .bind(&description)
    .bind(&types)
    .bind(req.confirmed.unwrap_or(true))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO webhooks.secret (endpoint, version, sealed, created_at) VALUES ($1, 1, $2, $3)",
    )
    .bind(&id)
    .bind(&sealed)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(NewWebhookEndpoint {
        endpoint: get(w, None, &id).await?,
        secret: secret.encode(),
    })
}

const ENDPOINT_COLUMNS: &str = "id, merchant, url, description, event_types, confirmed, enabled,
                                disabled_reason, created_at, updated_at";

fn endpoint_of(r: &PgRow, secrets: Vec<WebhookSecretInfo>) -> WebhookEndpoint {
    let merchant: Vec<u8> = r.get(1);
    WebhookEndpoint {
        id: r.get(0),
        merchant: Pubkey::try_from(merchant.as_slice())
            .map(|m| m.to_string())
            .unwrap_or_default(),
        url: r.get(2),
        description: r.get(3),
        event_types: r.get(4),
        confirmed: r.get(5),
        enabled: r.get(6),
        disabled_reason: r.get(7),
        created_at: rfc3339(r.get(8)),
        updated_at: rfc3339(r.get(9)),
        secrets,
    }
}

async fn with_secrets(w: &Webhooks, rows: Vec<PgRow>) -> Result<Vec<WebhookEndpoint>> {
    let ids: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    let secrets: Vec<(String, i32, OffsetDateTime, Option<OffsetDateTime>)> = sqlx::query_as(
        "SELECT endpoint, version, created_at, expires_at FROM webhooks.secret
         WHERE endpoint = ANY($1) AND (expires_at IS NULL OR expires_at > $2)
         ORDER BY endpoint, version",
    )
    .bind(&ids)
    .bind(w.config.clock.now())
    .fetch_all(&w.pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let id: String = r.get(0);
            let mine = secrets
                .iter()
                .filter(|s| s.0 == id)
                .map(|(_, version, created, expires)| WebhookSecretInfo {
                    version: *version,
                    created_at: rfc3339(*created),
                    expires_at: expires.map(rfc3339),
                })
                .collect();
            endpoint_of(r, mine)
        })
        .collect())
}

/// The endpoints in scope, oldest first.
pub async fn list(w: &Webhooks, scope: Option<&Pubkey>) -> Result<Vec<WebhookEndpoint>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhooks.endpoint
         WHERE ($1::bytea IS NULL OR merchant = $1) ORDER BY created_at, id"
    )))
    .bind(scope_bytes(scope))
    .fetch_all(&w.pool)
    .await?;
    with_secrets(w, rows).await
}

/// One endpoint in scope.
pub async fn get(w: &Webhooks, scope: Option<&Pubkey>, id: &str) -> Result<WebhookEndpoint> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhooks.endpoint
         WHERE id = $1 AND ($2::bytea IS NULL OR merchant = $2)"
    )))
    .bind(id)
    .bind(scope_bytes(scope))
    .fetch_optional(&w.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no webhook endpoint {id}")))?;
    Ok(with_secrets(w, vec![row]).await?.remove(0))
}

/// Changes an endpoint. Enabling it again restarts the retry window of its pending deliveries
/// and makes them due now.
pub async fn update(
    w: &Webhooks,
    scope: Option<&Pubkey>,
    id: &str,
    req: &UpdateWebhookEndpoint,
) -> Result<WebhookEndpoint> {
    let current = get(w, scope, id).await?;
    let url = match &req.url {
        Some(u) => guard::check_url(u, w.config.allow_private)
            .map_err(Error::Invalid)?
            .to_string(),
        None => current.url.clone(),
    };
    let description = req
        .description
        .clone()
        .unwrap_or(current.description.clone());
    check_description(&description)?;
    let types = match &req.event_types {
        Some(t) => check_types(t)?,
        None => current.event_types.clone(),
    };
    let enabled = req.enabled.unwrap_or(current.enabled);
    let reason = match (enabled, current.enabled) {
        (true, _) => None,
        (false, true) => Some("disabled by the merchant".to_string()),
        (false, false) => current.disabled_reason.clone(),
    };
    let now = w.config.clock.now();
    let mut tx = w.pool.begin().await?;
    sqlx::query(
        "UPDATE webhooks.endpoint
         SET url = $2, description = $3, event_types = $4, confirmed = $5, enabled = $6,
             disabled_reason = $7, updated_at = greatest($8, created_at)
         WHERE id = $1",
    )
    .bind(id)
    .bind(&url)
    .bind(&description)
    .bind(&types)
    .bind(req.confirmed.unwrap_or(current.confirmed))
    .bind(enabled)
    .bind(&reason)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if enabled && !current.enabled {
        sqlx::query(
            "UPDATE webhooks.delivery SET retry_since = $2, next_attempt_at = $2
             WHERE endpoint = $1 AND state = 'pending'",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    get(w, scope, id).await
}

/// A new secret; the ones signing now keep signing for `overlap` (default from the settings).
pub async fn rotate(
    w: &Webhooks,
    scope: Option<&Pubkey>,
    id: &str,
    overlap_secs: Option<i64>,
) -> Result<NewWebhookSecret> {
    get(w, scope, id).await?;
    let overlap = match overlap_secs {
        None => w.config.default_overlap,
        Some(s) if (0..=MAX_OVERLAP.as_secs() as i64).contains(&s) => Duration::from_secs(s as u64),
        Some(s) => {
            return Err(Error::Invalid(format!(
                "overlap_secs {s} is outside 0..={}",
                MAX_OVERLAP.as_secs()
            )))
        }
    };
    let now = w.config.clock.now();
    let mut tx = w.pool.begin().await?;
    // Serializes rotations of one endpoint.
    sqlx::query("SELECT 1 FROM webhooks.endpoint WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let version: i32 = sqlx::query_scalar(
        "SELECT coalesce(max(version), 0) + 1 FROM webhooks.secret WHERE endpoint = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    // Secrets past their overlap are of no more use: they leave the database.
    sqlx::query("DELETE FROM webhooks.secret WHERE endpoint = $1 AND expires_at <= $2")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE webhooks.secret SET expires_at = $2
         WHERE endpoint = $1 AND (expires_at IS NULL OR expires_at > $2)",
    )
    .bind(id)
    .bind(now + overlap)
    .execute(&mut *tx)
    .await?;
    let (secret, sealed) = new_secret(w, id, version);
    sqlx::query(
        "INSERT INTO webhooks.secret (endpoint, version, sealed, created_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(version)
    .bind(&sealed)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE webhooks.endpoint SET updated_at = greatest($2, created_at) WHERE id = $1")
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(NewWebhookSecret {
        endpoint: get(w, scope, id).await?,
        version,
        secret: secret.encode(),
    })
}

/// Queues a `webhook.test` message to this endpoint alone.
pub async fn send_test(w: &Webhooks, scope: Option<&Pubkey>, id: &str) -> Result<WebhookDelivery> {
    let e = get(w, scope, id).await?;
    let now = w.config.clock.now();
    let merchant: Pubkey = e
        .merchant
        .parse()
        .map_err(|_| Error::NotFound(format!("no webhook endpoint {id}")))?;
    let message = fanout::service_message_id(&[
        id.as_bytes(),
        &now.unix_timestamp_nanos().to_le_bytes(),
        &crypto::random::<8>(),
    ]);
    let body = serde_json::to_string(&EndpointNotification {
        event_type: events::TEST.into(),
        timestamp: rfc3339(now),
        data: EndpointEventData {
            endpoint: e.id.clone(),
            merchant: e.merchant.clone(),
            url: e.url.clone(),
            message: "a test event, sent on request".into(),
        },
    })
    .map_err(|e| Error::Invalid(e.to_string()))?;
    let mut tx = w.pool.begin().await?;
    sqlx::query(
        "INSERT INTO webhooks.message (id, merchant, type, order_key, body, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&message)
    .bind(merchant.as_ref())
    .bind(events::TEST)
    // A test stands alone: it neither waits behind the endpoint's other messages nor holds
    // them up.
    .bind(message.as_bytes())
    .bind(&body)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let delivery: i64 = sqlx::query_scalar(
        "INSERT INTO webhooks.delivery (endpoint, message, order_key, state, next_attempt_at,
                                        created_at, retry_since)
         VALUES ($1, $2, $3, 'pending', $4, $4, $4) RETURNING id",
    )
    .bind(id)
    .bind(&message)
    .bind(message.as_bytes())
    .bind(now)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    delivery_view(w, scope, delivery).await
}

/// `dlv_<n>` → n.
pub fn parse_delivery_id(s: &str) -> Option<i64> {
    s.strip_prefix("dlv_")?.parse().ok().filter(|n| *n > 0)
}

const DELIVERY_COLUMNS: &str = "d.id, d.endpoint, d.message, m.type, d.state, d.attempts,
                                d.next_attempt_at, d.last_status, d.last_error, d.created_at,
                                d.finished_at";

fn delivery_of(r: &PgRow) -> WebhookDelivery {
    let state: String = r.get(4);
    let next: OffsetDateTime = r.get(6);
    WebhookDelivery {
        id: format!("dlv_{}", r.get::<i64, _>(0)),
        endpoint: r.get(1),
        message_id: r.get(2),
        event_type: r.get(3),
        attempts: r.get(5),
        next_attempt_at: (state == "pending").then(|| rfc3339(next)),
        state,
        last_status: r.get::<Option<i16>, _>(7).map(|s| s as u16),
        last_error: r.get(8),
        created_at: rfc3339(r.get(9)),
        finished_at: r.get::<Option<OffsetDateTime>, _>(10).map(rfc3339),
        attempt_log: Vec::new(),
    }
}

/// An endpoint's deliveries, newest first: up to `limit` after the cursor (a delivery number).
pub async fn deliveries(
    w: &Webhooks,
    scope: Option<&Pubkey>,
    endpoint: &str,
    before: Option<i64>,
    limit: i64,
) -> Result<(Vec<WebhookDelivery>, Option<i64>)> {
    get(w, scope, endpoint).await?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhooks.delivery d
         JOIN webhooks.message m ON m.id = d.message
         WHERE d.endpoint = $1 AND d.id < $2
         ORDER BY d.id DESC LIMIT $3"
    )))
    .bind(endpoint)
    .bind(before.unwrap_or(i64::MAX))
    .bind(limit + 1)
    .fetch_all(&w.pool)
    .await?;
    let more = rows.len() as i64 > limit;
    let page: Vec<WebhookDelivery> = rows.iter().take(limit as usize).map(delivery_of).collect();
    let next = if more {
        rows.get(limit as usize - 1).map(|r| r.get::<i64, _>(0))
    } else {
        None
    };
    Ok((page, next))
}

/// An attempt as stored: n, started, milliseconds, status, error, response.
type AttemptRow = (
    i32,
    OffsetDateTime,
    i32,
    Option<i16>,
    Option<String>,
    Option<String>,
);

/// One delivery with its attempts.
pub async fn delivery_view(
    w: &Webhooks,
    scope: Option<&Pubkey>,
    id: i64,
) -> Result<WebhookDelivery> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhooks.delivery d
         JOIN webhooks.message m ON m.id = d.message
         JOIN webhooks.endpoint e ON e.id = d.endpoint
         WHERE d.id = $1 AND ($2::bytea IS NULL OR e.merchant = $2)"
    )))
    .bind(id)
    .bind(scope_bytes(scope))
    .fetch_optional(&w.pool)
    .await?
    .ok_or_else(|| Error::NotFound(format!("no webhook delivery dlv_{id}")))?;
    let mut d = delivery_of(&row);
    let attempts: Vec<AttemptRow> = sqlx::query_as(
        "SELECT n, started_at, duration_ms, status, error, response FROM webhooks.attempt
             WHERE delivery = $1 ORDER BY n",
    )
    .bind(id)
    .fetch_all(&w.pool)
    .await?;
    d.attempt_log = attempts
        .into_iter()
        .map(|(n, at, ms, status, error, response)| WebhookAttempt {
            n,
            started_at: rfc3339(at),
            duration_ms: ms,
            status: status.map(|s| s as u16),
            error,
            response,
        })
        .collect();
    Ok(d)
}

/// Sends a delivered or failed message again (the same `webhook-id`) as a new delivery.
pub async fn redeliver(w: &Webhooks, scope: Option<&Pubkey>, id: i64) -> Result<WebhookDelivery> {
    delivery_view(w, scope, id).await?;
    let now = w.config.clock.now();
    let new: i64 = sqlx::query_scalar(
        "INSERT INTO webhooks.delivery (endpoint, message, order_key, state, next_attempt_at,
                                        created_at, retry_since)
         SELECT endpoint, message, order_key, 'pending', $2, $2, $2
         FROM webhooks.delivery WHERE id = $1
         RETURNING id",
    )
    .bind(id)
    .bind(now)
    .fetch_one(&w.pool)
    .await?;
    delivery_view(w, scope, new).await
}

/// Queues again, in order, every message of the endpoint's merchant it would receive, created
/// at or after `since` or after message `after`. Returns how many.
pub async fn replay(
    w: &Webhooks,
    scope: Option<&Pubkey>,
    endpoint: &str,
    since: Option<OffsetDateTime>,
    after: Option<&str>,
) -> Result<i64> {
    let e = get(w, scope, endpoint).await?;
    let merchant: Pubkey = e
        .merchant
        .parse()
        .map_err(|_| Error::NotFound(format!("no webhook endpoint {endpoint}")))?;
    let after_seq: Option<i64> = match after {
        Some(m) => Some(
            sqlx::query_scalar("SELECT seq FROM webhooks.message WHERE id = $1 AND merchant = $2")
                .bind(m)
                .bind(merchant.as_ref())
                .fetch_optional(&w.pool)
                .await?
                .ok_or_else(|| Error::NotFound(format!("no message {m} for this merchant")))?,
        ),
        None => None,
    };
    if since.is_none() && after_seq.is_none() {
        return Err(Error::Invalid(
            "give since (a time) or after_message".into(),
        ));
    }
    let now = w.config.clock.now();
    let n = sqlx::query(
        "INSERT INTO webhooks.delivery (endpoint, message, order_key, state, next_attempt_at,
                                        created_at, retry_since)
         SELECT $1, m.id, m.order_key, 'pending', $6, $6, $6
         FROM webhooks.message m
         WHERE m.merchant = $2
           AND ($3::timestamptz IS NULL OR m.created_at >= $3)
           AND ($4::bigint IS NULL OR m.seq > $4)
           AND m.type <> 'webhook.test'
           AND (cardinality($5::text[]) = 0
                OR regexp_replace(m.type, '\\.(finalized|reverted)$', '') = ANY($5))
           AND ($7 OR m.type ~ '\\.finalized$' OR m.type = 'webhook_endpoint.disabled')
         ORDER BY m.seq",
    )
    .bind(endpoint)
    .bind(merchant.as_ref())
    .bind(since)
    .bind(after_seq)
    .bind(&e.event_types)
    .bind(now)
    .bind(e.confirmed)
    .execute(&w.pool)
    .await?
    .rows_affected();
    Ok(n as i64)
}

/// Alerts not yet acknowledged, newest first.
pub async fn alerts(w: &Webhooks) -> Result<Vec<WebhookAlert>> {
    let rows: Vec<(i64, String, String, Vec<u8>, String, OffsetDateTime)> = sqlx::query_as(
        "SELECT a.id, a.kind, a.endpoint, e.merchant, a.detail, a.created_at
         FROM webhooks.alert a JOIN webhooks.endpoint e ON e.id = a.endpoint
         WHERE a.acknowledged_at IS NULL ORDER BY a.id DESC LIMIT 1000",
    )
    .fetch_all(&w.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, kind, endpoint, merchant, detail, at)| WebhookAlert {
            id,
            kind,
            endpoint,
            merchant: Pubkey::try_from(merchant.as_slice())
                .map(|m| m.to_string())
                .unwrap_or_default(),
            detail,
            created_at: rfc3339(at),
        })
        .collect())
}

/// Every type an endpoint can subscribe to.
pub fn event_types() -> Vec<&'static str> {
    events::TYPES
        .iter()
        .map(|t| t.name)
        .chain(events::SERVICE.iter().copied())
        .collect()
}

/// Forgets what is past the retention period: finished deliveries with their attempts, then
/// messages no delivery refers to any more. Pending deliveries and their messages stay, however
/// old. Returns the messages removed.
pub async fn prune(w: &Webhooks) -> Result<u64> {
    let cutoff = w.config.clock.now() - w.config.retention;
    let mut tx = w.pool.begin().await?;
    sqlx::query(
        "DELETE FROM webhooks.attempt a USING webhooks.delivery d
         WHERE a.delivery = d.id AND d.state <> 'pending' AND d.finished_at < $1",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM webhooks.delivery WHERE state <> 'pending' AND finished_at < $1")
        .bind(cutoff)
        .execute(&mut *tx)
        .await?;
    let n = sqlx::query(
        "DELETE FROM webhooks.message m WHERE m.created_at < $1
         AND NOT EXISTS (SELECT 1 FROM webhooks.delivery d WHERE d.message = m.id)",
    )
    .bind(cutoff)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(n)
}

/// The delivery queue as Prometheus text: what waits in the outbox, pending deliveries and the
/// age of the oldest, deliveries given up, endpoints disabled, alerts open. Read from the
/// database, so every process reports the same figures.
pub async fn metrics(w: &Webhooks) -> Result<String> {
    let (outbox, pending, oldest, alerts, disabled): (i64, i64, f64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM webhooks.outbox),
                (SELECT count(*) FROM webhooks.delivery WHERE state = 'pending'),
                coalesce((SELECT extract(epoch FROM $1 - min(created_at))::float8
                          FROM webhooks.delivery WHERE state = 'pending'), 0),
                (SELECT count(*) FROM webhooks.alert WHERE acknowledged_at IS NULL),
                (SELECT count(*) FROM webhooks.endpoint WHERE NOT enabled)",
    )
    .bind(w.config.clock.now())
    .fetch_one(&w.pool)
    .await?;
    let mut out = String::new();
    for (name, help, kind, value) in [
        (
            "kassa_webhook_outbox_rows",
            "Events stored and not yet fanned out",
            "gauge",
            outbox as f64,
        ),
        (
            "kassa_webhook_deliveries_pending",
            "Deliveries waiting to be sent or retried",
            "gauge",
            pending as f64,
        ),
        (
            "kassa_webhook_oldest_pending_seconds",
            "Age of the oldest pending delivery",
            "gauge",
            oldest,
        ),
        (
            "kassa_webhook_alerts_open",
            "Endpoints disabled after days of failures, not yet acknowledged",
            "gauge",
            alerts as f64,
        ),
        (
            "kassa_webhook_endpoints_disabled",
            "Endpoints disabled (by their merchant or by Kassa)",
            "gauge",
            disabled as f64,
        ),
    ] {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"
        ));
    }
    Ok(out)
}
