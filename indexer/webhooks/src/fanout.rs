//! The outbox fanned out: each row becomes a message (its exact body and `webhook-id`) and one
//! delivery per endpoint that wants it, and leaves the outbox, in one database transaction.
//! One process fans out at a time (a transaction-scoped advisory lock; the others skip the
//! pass), in outbox order, so deliveries are numbered in the order the indexer stored what they
//! tell, and workers can deliver one entity's messages to an endpoint in that order.

use crate::{events, rfc3339, Result, Webhooks};
use kassa_sdk::api::types::{ChainEventData, ChainNotification, Commitment};
use serde_json::Value;
use sha2::{Digest, Sha256};
use solana_sdk::{pubkey::Pubkey, signature::Signature};
use sqlx::Row as _;
use std::collections::{HashMap, HashSet};
use time::OffsetDateTime;

/// The advisory lock that makes fan-out one process at a time ("kassa_wh").
const LOCK: i64 = 0x6b61_7373_615f_7768;

/// Outbox rows fanned out per pass at most.
pub(crate) const BATCH: i64 = 1_000;

/// The `webhook-id` of an event's notification in one phase: the same wherever and whenever it
/// is computed, so a retraction names the notification it retracts.
pub fn message_id(signature: &[u8], ix_index: i32, inner_index: i32, phase: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"kassa-webhook-event\0");
    h.update(signature);
    h.update(ix_index.to_le_bytes());
    h.update(inner_index.to_le_bytes());
    h.update(phase.as_bytes());
    format!("msg_{}", &hex::encode(h.finalize())[..32])
}

/// The `webhook-id` of a message that is not a chain event (a service's event, a test).
pub(crate) fn service_message_id(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(b"kassa-webhook-service\0");
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    format!("msg_{}", &hex::encode(h.finalize())[..32])
}

/// A message about to be stored.
struct Message {
    id: String,
    merchant: [u8; 32],
    kind: String,
    /// The type endpoints subscribe to (without `.finalized` / `.reverted`).
    base: &'static str,
    phase: Option<Commitment>,
    /// For a retraction: the notification it retracts.
    retracts: Option<String>,
    order_key: Vec<u8>,
    body: String,
}

/// A row of the outbox as read, with its event when it is one.
struct OutboxRow {
    id: i64,
    chain: Option<ChainRow>,
    service: Option<(String, [u8; 32], Value, OffsetDateTime)>,
}

struct ChainRow {
    signature: Vec<u8>,
    ix_index: i32,
    inner_index: i32,
    phase: String,
    /// Absent if the event row is gone (never while a queue row names it: `kassa archive`
    /// takes only partitions whose events no queue holds).
    event: Option<StoredEvent>,
}

/// The stored event an outbox row names.
struct StoredEvent {
    program: Pubkey,
    name: String,
    entity: Pubkey,
    seq: i64,
    slot: i64,
    data: Value,
    block_time: Option<i64>,
}

/// One pass: fans out up to a thousand outbox rows. Returns how many rows left the outbox (0
/// when it was empty or another process is fanning out).
pub async fn pass(w: &Webhooks) -> Result<usize> {
    let mut tx = w.pool.begin().await?;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(LOCK)
        .fetch_one(&mut *tx)
        .await?;
    // Early returns roll back at once: a dropped transaction is rolled back later, by the
    // pool, and would keep the lock from the next pass meanwhile.
    if !locked {
        tx.rollback().await?;
        return Ok(0);
    }
    let rows = read(&mut tx).await?;
    if rows.is_empty() {
        tx.rollback().await?;
        return Ok(0);
    }
    let now = w.config.clock.now();
    let lines = resolve_lines(&mut tx, &rows).await?;
    let mut messages = Vec::new();
    for row in &rows {
        if let Some(m) = message(row, &lines, now) {
            messages.push(m);
        }
    }
    let stored = store_messages(&mut tx, &messages, now).await?;
    let messages: Vec<&Message> = messages.iter().filter(|m| stored.contains(&m.id)).collect();
    let deliveries = match_endpoints(&mut tx, &messages).await?;
    if !deliveries.is_empty() {
        let (endpoint, message, key): (Vec<&str>, Vec<&str>, Vec<&[u8]>) = deliveries
            .iter()
            .map(|(e, m)| (e.as_str(), m.id.as_str(), m.order_key.as_slice()))
            .fold((vec![], vec![], vec![]), |mut acc, (e, m, k)| {
                acc.0.push(e);
                acc.1.push(m);
                acc.2.push(k);
                acc
            });
        sqlx::query(
            "INSERT INTO webhooks.delivery (endpoint, message, order_key, state, next_attempt_at,
                                            created_at, retry_since)
             SELECT e, m, k, 'pending', $4, $4, $4
             FROM unnest($1::text[], $2::text[], $3::bytea[]) WITH ORDINALITY AS t(e, m, k, n)
             ORDER BY n",
        )
        .bind(endpoint)
        .bind(message)
        .bind(key)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    sqlx::query("DELETE FROM webhooks.outbox WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::debug!(
        rows = rows.len(),
        messages = messages.len(),
        deliveries = deliveries.len(),
        "webhook outbox fanned out"
    );
    Ok(rows.len())
}

async fn read(tx: &mut sqlx::PgConnection) -> Result<Vec<OutboxRow>> {
    let rows = sqlx::query(
        "SELECT o.id, o.signature, o.ix_index, o.inner_index, o.phase, o.type, o.merchant, o.data,
                o.created_at, e.program, e.name, e.entity, e.seq, e.slot, e.data, t.block_time
         FROM webhooks.outbox o
         LEFT JOIN chain.event e
             ON (e.signature, e.ix_index, e.inner_index, e.slot)
              = (o.signature, o.ix_index, o.inner_index, o.slot)
         LEFT JOIN chain.transaction t ON (t.signature, t.slot) = (o.signature, o.slot)
         ORDER BY o.id LIMIT $1",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    let key = |b: Option<Vec<u8>>| b.and_then(|b| Pubkey::try_from(b.as_slice()).ok());
    Ok(rows
        .into_iter()
        .map(|r| {
            let id: i64 = r.get(0);
            let signature: Option<Vec<u8>> = r.get(1);
            match signature {
                Some(signature) => {
                    let event = match (
                        key(r.get(9)),
                        r.get::<Option<String>, _>(10),
                        key(r.get(11)),
                    ) {
                        (Some(program), Some(name), Some(entity)) => Some(StoredEvent {
                            program,
                            name,
                            entity,
                            seq: r.get::<i64, _>(12),
                            slot: r.get::<i64, _>(13),
                            data: r.get::<Option<Value>, _>(14).unwrap_or(Value::Null),
                            block_time: r.get::<Option<i64>, _>(15),
                        }),
                        _ => None,
                    };
                    OutboxRow {
                        id,
                        chain: Some(ChainRow {
                            signature,
                            ix_index: r.get::<Option<i32>, _>(2).unwrap_or_default(),
                            inner_index: r.get::<Option<i32>, _>(3).unwrap_or_default(),
                            phase: r.get::<Option<String>, _>(4).unwrap_or_default(),
                            event,
                        }),
                        service: None,
                    }
                }
                None => {
                    let merchant: Option<Vec<u8>> = r.get(6);
                    let merchant = merchant.and_then(|m| <[u8; 32]>::try_from(m.as_slice()).ok());
                    OutboxRow {
                        id,
                        chain: None,
                        service: merchant.map(|m| {
                            (
                                r.get::<Option<String>, _>(5).unwrap_or_default(),
                                m,
                                r.get::<Option<Value>, _>(7).unwrap_or(Value::Null),
                                r.get::<OffsetDateTime, _>(8),
                            )
                        }),
                    }
                }
            }
        })
        .collect())
}

/// The merchants of the credit lines (and the lines of the advances) a batch's credit events
/// name, from the events that created them (a closed line or advance has no projection row).
async fn resolve_lines(
    tx: &mut sqlx::PgConnection,
    rows: &[OutboxRow],
) -> Result<HashMap<Pubkey, String>> {
    use events::MerchantOf;
    let mut advances = Vec::new();
    let mut lines = Vec::new();
    for r in rows {
        let Some(ChainRow {
            event:
                Some(StoredEvent {
                    program,
                    name,
                    entity,
                    data,
                    ..
                }),
            ..
        }) = &r.chain
        else {
            continue;
        };
        match events::of(program, name).map(|t| t.merchant) {
            Some(MerchantOf::Line) => lines.push(entity.to_bytes().to_vec()),
            Some(MerchantOf::Advance) => advances.push(entity.to_bytes().to_vec()),
            Some(MerchantOf::LineField) => {
                if let Some(l) = data["line"].as_str().and_then(|s| s.parse::<Pubkey>().ok()) {
                    lines.push(l.to_bytes().to_vec());
                }
            }
            _ => {}
        }
    }
    let mut out = HashMap::new();
    if lines.is_empty() && advances.is_empty() {
        return Ok(out);
    }
    // Each advance's line, then each line's merchant; live events first, rolled back ones
    // only when nothing live remains.
    let by_name = |name: &'static str, field: &'static str, entities: Vec<Vec<u8>>| {
        sqlx::query(
            "SELECT entity, data->>$3 FROM (
                 SELECT entity, data, 0 AS r FROM chain.event
                 WHERE entity = ANY($1) AND name = $2 AND NOT reverted
                 UNION ALL
                 SELECT entity, data, 1 FROM chain.event
                 WHERE entity = ANY($1) AND name = $2 AND reverted) x
             ORDER BY r DESC",
        )
        .bind(entities)
        .bind(name)
        .bind(field)
    };
    // The projections first, for lines and advances whose events were archived
    // (`kassa archive`); their events, when stored, override them below.
    let mut advance_line = HashMap::new();
    for r in
        sqlx::query("SELECT address, chain.base58(line) FROM chain.advance WHERE address = ANY($1)")
            .bind(&advances)
            .fetch_all(&mut *tx)
            .await?
    {
        let entity: Vec<u8> = r.get(0);
        if let (Ok(a), Ok(l)) = (
            Pubkey::try_from(entity.as_slice()),
            r.get::<String, _>(1).parse::<Pubkey>(),
        ) {
            advance_line.insert(a, l);
            lines.push(l.to_bytes().to_vec());
        }
    }
    if !advances.is_empty() {
        for r in by_name("AdvanceTaken", "line", advances)
            .fetch_all(&mut *tx)
            .await?
        {
            let entity: Vec<u8> = r.get(0);
            let line: Option<String> = r.get(1);
            if let (Ok(a), Some(Ok(l))) = (
                Pubkey::try_from(entity.as_slice()),
                line.map(|l| l.parse::<Pubkey>()),
            ) {
                advance_line.insert(a, l);
                lines.push(l.to_bytes().to_vec());
            }
        }
    }
    let mut line_merchant = HashMap::new();
    for r in sqlx::query(
        "SELECT address, chain.base58(merchant) FROM chain.credit_line
         WHERE address = ANY($1) AND merchant IS NOT NULL",
    )
    .bind(&lines)
    .fetch_all(&mut *tx)
    .await?
    {
        let entity: Vec<u8> = r.get(0);
        if let Ok(l) = Pubkey::try_from(entity.as_slice()) {
            line_merchant.insert(l, r.get::<String, _>(1));
        }
    }
    for r in by_name("LineApproved", "merchant", lines)
        .fetch_all(&mut *tx)
        .await?
    {
        let entity: Vec<u8> = r.get(0);
        let merchant: Option<String> = r.get(1);
        if let (Ok(l), Some(m)) = (Pubkey::try_from(entity.as_slice()), merchant) {
            // Rows come rolled back first, live last: the live one wins.
            line_merchant.insert(l, m);
        }
    }
    for (a, l) in advance_line {
        if let Some(m) = line_merchant.get(&l) {
            out.insert(a, m.clone());
        }
    }
    out.extend(line_merchant);
    Ok(out)
}

/// The message an outbox row becomes, if a merchant is told it.
fn message(
    row: &OutboxRow,
    lines: &HashMap<Pubkey, String>,
    now: OffsetDateTime,
) -> Option<Message> {
    use events::MerchantOf;
    if let Some((kind, merchant, data, created_at)) = &row.service {
        let base = events::TYPES
            .iter()
            .map(|t| t.name)
            .chain(events::SERVICE.iter().copied())
            .find(|n| n == kind)?;
        let body = serde_json::json!({
            "type": kind,
            "timestamp": rfc3339(*created_at),
            "data": data,
        })
        .to_string();
        let id = service_message_id(&[&row.id.to_le_bytes(), kind.as_bytes(), merchant]);
        return Some(Message {
            // A service's events are about no one entity's history: each stands alone, like a
            // test event, and never waits behind the merchant's other messages.
            order_key: id.as_bytes().to_vec(),
            id,
            merchant: *merchant,
            kind: kind.clone(),
            base,
            phase: None,
            retracts: None,
            body,
        });
    }
    let chain = row.chain.as_ref()?;
    let Some(StoredEvent {
        program,
        name,
        entity,
        seq,
        slot,
        data,
        block_time,
    }) = &chain.event
    else {
        tracing::error!(
            outbox = row.id,
            "an outbox row names an event that is not stored"
        );
        return None;
    };
    let t = events::of(program, name)?;
    let merchant_text = match t.merchant {
        MerchantOf::Field => data["merchant"].as_str().map(str::to_string),
        MerchantOf::Entity => Some(entity.to_string()),
        MerchantOf::Line | MerchantOf::Advance => lines.get(entity).cloned(),
        MerchantOf::LineField => data["line"]
            .as_str()
            .and_then(|l| l.parse::<Pubkey>().ok())
            .and_then(|l| lines.get(&l).cloned()),
    };
    let Some(merchant) = merchant_text.and_then(|m| m.parse::<Pubkey>().ok()) else {
        tracing::warn!(event = %name, entity = %entity, "no merchant found for an event: not notified");
        return None;
    };
    let (phase, suffix) = match chain.phase.as_str() {
        "confirmed" => (Commitment::Confirmed, ""),
        "finalized" => (Commitment::Finalized, ".finalized"),
        "reverted" => (Commitment::Reverted, ".reverted"),
        _ => return None,
    };
    let confirmed = message_id(
        &chain.signature,
        chain.ix_index,
        chain.inner_index,
        "confirmed",
    );
    let mut details = data.clone();
    if let Some(o) = details.as_object_mut() {
        o.remove("header");
    }
    let block_time = block_time.and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
    let signature = Signature::try_from(chain.signature.as_slice())
        .map(|s| s.to_string())
        .unwrap_or_default();
    let kind = format!("{}{suffix}", t.name);
    let body = ChainNotification {
        event_type: kind.clone(),
        timestamp: rfc3339(block_time.unwrap_or(now)),
        data: ChainEventData {
            commitment: phase,
            event: events::snake(name),
            merchant: merchant.to_string(),
            entity: entity.to_string(),
            payment: t.name.starts_with("payment.").then(|| entity.to_string()),
            seq: *seq,
            signature,
            slot: *slot,
            block_time: block_time.map(rfc3339),
            finalizes: (phase == Commitment::Finalized).then(|| confirmed.clone()),
            retracts: (phase == Commitment::Reverted).then(|| confirmed.clone()),
            details,
        },
    };
    Some(Message {
        id: message_id(
            &chain.signature,
            chain.ix_index,
            chain.inner_index,
            &chain.phase,
        ),
        merchant: merchant.to_bytes(),
        kind,
        base: t.name,
        phase: Some(phase),
        retracts: (phase == Commitment::Reverted).then_some(confirmed),
        order_key: entity.to_bytes().to_vec(),
        body: serde_json::to_string(&body).unwrap_or_default(),
    })
}

/// Stores the messages; returns the ids that were new (a message already stored is not
/// fanned out twice).
async fn store_messages(
    tx: &mut sqlx::PgConnection,
    messages: &[Message],
    now: OffsetDateTime,
) -> Result<HashSet<String>> {
    if messages.is_empty() {
        return Ok(HashSet::new());
    }
    let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    let merchants: Vec<&[u8]> = messages.iter().map(|m| m.merchant.as_slice()).collect();
    let kinds: Vec<&str> = messages.iter().map(|m| m.kind.as_str()).collect();
    let keys: Vec<&[u8]> = messages.iter().map(|m| m.order_key.as_slice()).collect();
    let bodies: Vec<&str> = messages.iter().map(|m| m.body.as_str()).collect();
    let stored: Vec<String> = sqlx::query_scalar(
        "INSERT INTO webhooks.message (id, merchant, type, order_key, body, created_at)
         SELECT i, m, k, o, b, $6
         FROM unnest($1::text[], $2::bytea[], $3::text[], $4::bytea[], $5::text[])
              WITH ORDINALITY AS t(i, m, k, o, b, n)
         ORDER BY n
         ON CONFLICT (id) DO NOTHING
         RETURNING id",
    )
    .bind(ids)
    .bind(merchants)
    .bind(kinds)
    .bind(keys)
    .bind(bodies)
    .bind(now)
    .fetch_all(&mut *tx)
    .await?;
    Ok(stored.into_iter().collect())
}

/// (endpoint, message) for every endpoint that wants each message, in message order.
async fn match_endpoints<'m>(
    tx: &mut sqlx::PgConnection,
    messages: &[&'m Message],
) -> Result<Vec<(String, &'m Message)>> {
    if messages.is_empty() {
        return Ok(Vec::new());
    }
    let merchants: Vec<Vec<u8>> = messages
        .iter()
        .map(|m| m.merchant.to_vec())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let endpoints: Vec<(String, Vec<u8>, Vec<String>, bool)> = sqlx::query_as(
        "SELECT id, merchant, event_types, confirmed FROM webhooks.endpoint
         WHERE enabled AND merchant = ANY($1) ORDER BY created_at, id",
    )
    .bind(&merchants)
    .fetch_all(&mut *tx)
    .await?;
    if endpoints.is_empty() {
        return Ok(Vec::new());
    }
    // A retraction goes only where the notification it retracts went.
    let retracted: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.retracts.as_deref())
        .collect();
    let mut told: HashSet<(String, String)> = if retracted.is_empty() {
        HashSet::new()
    } else {
        sqlx::query_as("SELECT endpoint, message FROM webhooks.delivery WHERE message = ANY($1)")
            .bind(&retracted)
            .fetch_all(&mut *tx)
            .await?
            .into_iter()
            .collect()
    };
    let mut out = Vec::new();
    for m in messages {
        for (id, merchant, types, confirmed) in &endpoints {
            if merchant.as_slice() != m.merchant.as_slice() {
                continue;
            }
            if !types.is_empty() && !types.iter().any(|t| t == m.base) {
                continue;
            }
            let wanted = match m.phase {
                Some(Commitment::Confirmed) => *confirmed,
                Some(Commitment::Finalized) | None => true,
                Some(Commitment::Reverted) => m
                    .retracts
                    .as_ref()
                    .is_some_and(|r| told.contains(&(id.clone(), r.clone()))),
            };
            if wanted {
                if m.phase == Some(Commitment::Confirmed) {
                    // Retracted later in this same pass.
                    told.insert((id.clone(), m.id.clone()));
                }
                out.push((id.clone(), *m));
            }
        }
    }
    Ok(out)
}
