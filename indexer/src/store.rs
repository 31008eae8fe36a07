//! Postgres: migrations, the batch apply (raw rows, projections and cursor in one database
//! transaction), finality marks and the rollback of transactions that never finalized.
//!
//! Exactly-once effect comes from natural keys: a transaction row is inserted with
//! `ON CONFLICT DO NOTHING`, and only the transactions that were new have their instructions,
//! events and projections applied. Replaying anything is therefore a no-op.

use crate::{
    decode::{DecodedTx, KassaEvent},
    project::{fold, FoldError, Kind, Row},
};
use solana_sdk::pubkey::Pubkey;
use sqlx::{postgres::PgPoolOptions, PgConnection, PgPool, Row as _};
use std::{
    collections::{BTreeMap, HashSet},
    str::FromStr,
    time::Duration,
};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the database mirrors the cluster with genesis {stored}, but the node serves genesis \
         {node}: use a fresh database for another cluster"
    )]
    OtherCluster { stored: String, node: String },
}

/// Connects with a small pool and applies the migrations.
pub async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// What one apply did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub transactions: usize,
    pub events: usize,
    /// Entities whose history was incomplete (indexing began after they were created).
    pub skipped_entities: usize,
}

/// Last slot fully stored for `program` (everything below it is in the database).
pub async fn cursor(pool: &PgPool, program: &Pubkey) -> Result<Option<u64>, StoreError> {
    let row = sqlx::query("SELECT slot FROM ingest_cursor WHERE program = $1")
        .bind(program.to_string())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.get::<i64, _>(0) as u64))
}

/// Sets the starting point of a backfill, unless a cursor already exists.
pub async fn seed_cursor(pool: &PgPool, program: &Pubkey, slot: u64) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO ingest_cursor (program, slot) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(program.to_string())
        .bind(slot as i64)
        .execute(pool)
        .await?;
    Ok(())
}

/// Which of `signatures` are stored already.
pub async fn known(pool: &PgPool, signatures: &[String]) -> Result<HashSet<String>, StoreError> {
    let rows = sqlx::query("SELECT signature::text FROM transactions WHERE signature = ANY($1)")
        .bind(signatures)
        .fetch_all(pool)
        .await?;
    Ok(rows.into_iter().map(|r| r.get(0)).collect())
}

/// The cursor an apply moves forward with its data.
#[derive(Debug, Clone)]
pub struct CursorUpdate {
    pub program: Pubkey,
    pub slot: u64,
    pub signature: Option<String>,
}

/// Stores a batch of decoded transactions, their projections and the cursor, atomically.
pub async fn apply(
    pool: &PgPool,
    batch: &[DecodedTx],
    cursor: Option<&CursorUpdate>,
) -> Result<Applied, StoreError> {
    let mut tx = pool.begin().await?;
    let applied = apply_in(&mut tx, batch).await?;
    if let Some(c) = cursor {
        sqlx::query(
            "INSERT INTO ingest_cursor (program, slot, signature) VALUES ($1, $2, $3)
             ON CONFLICT (program) DO UPDATE
             SET slot = GREATEST(ingest_cursor.slot, EXCLUDED.slot),
                 signature = CASE WHEN EXCLUDED.slot >= ingest_cursor.slot
                                  THEN EXCLUDED.signature ELSE ingest_cursor.signature END",
        )
        .bind(c.program.to_string())
        .bind(c.slot as i64)
        .bind(&c.signature)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(applied)
}

fn u64s(values: impl Iterator<Item = u64>) -> Vec<String> {
    values.map(|v| v.to_string()).collect()
}

async fn apply_in(db: &mut PgConnection, batch: &[DecodedTx]) -> Result<Applied, StoreError> {
    if batch.is_empty() {
        return Ok(Applied::default());
    }
    let new: HashSet<String> = sqlx::query(
        "INSERT INTO transactions (signature, slot, block_time, failed, fee, commitment)
         SELECT s, sl, bt, f, fee::numeric, 'confirmed'
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::bool[], $5::text[])
              AS t(s, sl, bt, f, fee)
         ON CONFLICT (signature) DO NOTHING
         RETURNING signature::text",
    )
    .bind(
        batch
            .iter()
            .map(|t| t.signature.clone())
            .collect::<Vec<_>>(),
    )
    .bind(batch.iter().map(|t| t.slot as i64).collect::<Vec<_>>())
    .bind(batch.iter().map(|t| t.block_time).collect::<Vec<_>>())
    .bind(batch.iter().map(|t| t.failed).collect::<Vec<_>>())
    .bind(u64s(batch.iter().map(|t| t.fee)))
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .map(|r| r.get(0))
    .collect();
    let fresh: Vec<&DecodedTx> = batch
        .iter()
        .filter(|t| new.contains(&t.signature))
        .collect();
    if fresh.is_empty() {
        return Ok(Applied::default());
    }

    insert_instructions(db, &fresh).await?;
    insert_token_changes(db, &fresh).await?;
    insert_parked(db, &fresh).await?;
    let events = insert_events(db, &fresh).await?;

    let mut touched: BTreeMap<(Kind, String), Vec<&KassaEvent>> = BTreeMap::new();
    for e in fresh.iter().flat_map(|t| t.events.iter()) {
        let (entity, ..) = e.event.header();
        touched
            .entry((Kind::of(&e.event), entity.to_string()))
            .or_default()
            .push(&e.event);
    }
    let skipped = project(db, touched).await?;
    Ok(Applied {
        transactions: fresh.len(),
        events,
        skipped_entities: skipped,
    })
}

async fn insert_instructions(db: &mut PgConnection, txs: &[&DecodedTx]) -> Result<(), StoreError> {
    let rows: Vec<_> = txs
        .iter()
        .flat_map(|t| t.instructions.iter().map(move |i| (t, i)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    // Account lists go in comma-joined (Postgres has no ragged arrays; base58 has no comma).
    sqlx::query(
        "INSERT INTO instructions (signature, ix_index, inner_index, program, name, args, accounts)
         SELECT s, i, j, p, n, a::jsonb, string_to_array(acc, ',')
         FROM unnest($1::text[], $2::int4[], $3::int4[], $4::text[], $5::text[], $6::text[],
                     $7::text[]) AS t(s, i, j, p, n, a, acc)",
    )
    .bind(
        rows.iter()
            .map(|(t, _)| t.signature.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|(_, i)| i.ix_index).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, i)| i.inner_index).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|(_, i)| i.program.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|(_, i)| i.name.clone()).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|(_, i)| i.args.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, i)| i.accounts.join(","))
            .collect::<Vec<_>>(),
    )
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn insert_token_changes(db: &mut PgConnection, txs: &[&DecodedTx]) -> Result<(), StoreError> {
    let rows: Vec<_> = txs
        .iter()
        .flat_map(|t| t.token_changes.iter().map(move |c| (t, c)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO token_balance_changes (signature, account_index, account, mint, owner, pre, post)
         SELECT s, i, a, m, o, pre::numeric, post::numeric
         FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[],
                     $7::text[]) AS t(s, i, a, m, o, pre, post)",
    )
    .bind(rows.iter().map(|(t, _)| t.signature.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, c)| c.account_index).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, c)| c.account.to_string()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, c)| c.mint.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, c)| c.owner.clone()).collect::<Vec<_>>())
    .bind(u64s(rows.iter().map(|(_, c)| c.pre)))
    .bind(u64s(rows.iter().map(|(_, c)| c.post)))
    .execute(&mut *db)
    .await?;
    Ok(())
}

async fn insert_parked(db: &mut PgConnection, txs: &[&DecodedTx]) -> Result<(), StoreError> {
    let rows: Vec<_> = txs
        .iter()
        .flat_map(|t| t.parked.iter().map(move |p| (t, p)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    for (_, p) in &rows {
        tracing::warn!(program = %p.program, reason = %p.reason, "parked undecodable data");
    }
    sqlx::query(
        "INSERT INTO parked (signature, ix_index, inner_index, program, reason, raw)
         SELECT * FROM unnest($1::text[], $2::int4[], $3::int4[], $4::text[], $5::text[],
                              $6::bytea[])",
    )
    .bind(
        rows.iter()
            .map(|(t, _)| t.signature.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|(_, p)| p.ix_index).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, p)| p.inner_index).collect::<Vec<_>>())
    .bind(
        rows.iter()
            .map(|(_, p)| p.program.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(
        rows.iter()
            .map(|(_, p)| p.reason.clone())
            .collect::<Vec<_>>(),
    )
    .bind(rows.iter().map(|(_, p)| p.raw.clone()).collect::<Vec<_>>())
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// The event rows of a batch as the columns of `events`, in table order.
pub struct EventColumns {
    pub signature: Vec<String>,
    pub ix_index: Vec<i32>,
    pub inner_index: Vec<i32>,
    pub slot: Vec<i64>,
    pub program: Vec<String>,
    pub name: Vec<String>,
    pub entity: Vec<String>,
    pub seq: Vec<i64>,
    pub ts: Vec<i64>,
    pub actor: Vec<String>,
    pub data: Vec<String>,
    pub raw: Vec<Vec<u8>>,
}

impl EventColumns {
    pub fn of<'a>(txs: impl IntoIterator<Item = &'a DecodedTx>) -> Self {
        let mut c = EventColumns {
            signature: Vec::new(),
            ix_index: Vec::new(),
            inner_index: Vec::new(),
            slot: Vec::new(),
            program: Vec::new(),
            name: Vec::new(),
            entity: Vec::new(),
            seq: Vec::new(),
            ts: Vec::new(),
            actor: Vec::new(),
            data: Vec::new(),
            raw: Vec::new(),
        };
        for t in txs {
            for e in &t.events {
                let (entity, seq, ts, actor) = e.event.header();
                c.signature.push(t.signature.clone());
                c.ix_index.push(e.ix_index);
                c.inner_index.push(e.inner_index);
                c.slot.push(t.slot as i64);
                c.program.push(e.program.to_string());
                c.name.push(e.event.name().to_string());
                c.entity.push(entity.to_string());
                c.seq.push(i64::try_from(seq).unwrap_or(i64::MAX));
                c.ts.push(ts);
                c.actor.push(actor.to_string());
                c.data.push(e.data.to_string());
                c.raw.push(e.raw.clone());
            }
        }
        c
    }

    pub fn len(&self) -> usize {
        self.signature.len()
    }

    pub fn is_empty(&self) -> bool {
        self.signature.is_empty()
    }
}

async fn insert_events(db: &mut PgConnection, txs: &[&DecodedTx]) -> Result<usize, StoreError> {
    let c = EventColumns::of(txs.iter().copied());
    if c.is_empty() {
        return Ok(0);
    }
    let n = c.len();
    sqlx::query(
        "INSERT INTO events (signature, ix_index, inner_index, slot, program, name, entity, seq,
                             ts, actor, data, raw)
         SELECT s, i, j, sl, p, n, e, q, ts, a, d::jsonb, r
         FROM unnest($1::text[], $2::int4[], $3::int4[], $4::int8[], $5::text[], $6::text[],
                     $7::text[], $8::int8[], $9::int8[], $10::text[], $11::text[], $12::bytea[])
              AS t(s, i, j, sl, p, n, e, q, ts, a, d, r)",
    )
    .bind(c.signature)
    .bind(c.ix_index)
    .bind(c.inner_index)
    .bind(c.slot)
    .bind(c.program)
    .bind(c.name)
    .bind(c.entity)
    .bind(c.seq)
    .bind(c.ts)
    .bind(c.actor)
    .bind(c.data)
    .bind(c.raw)
    .execute(&mut *db)
    .await?;
    Ok(n)
}

fn select_sql(kind: Kind) -> &'static str {
    match kind {
        Kind::Config => "SELECT to_jsonb(t) FROM protocol_config t WHERE address = ANY($1)",
        Kind::Merchant => "SELECT to_jsonb(t) FROM merchants t WHERE address = ANY($1)",
        Kind::Payment => "SELECT to_jsonb(t) FROM payments t WHERE address = ANY($1)",
        Kind::Pool => "SELECT to_jsonb(t) FROM pools t WHERE address = ANY($1)",
        Kind::CreditPool => "SELECT to_jsonb(t) FROM credit_pools t WHERE address = ANY($1)",
        Kind::CreditLine => "SELECT to_jsonb(t) FROM credit_lines t WHERE address = ANY($1)",
        Kind::Advance => "SELECT to_jsonb(t) FROM advances t WHERE address = ANY($1)",
    }
}

fn all_sql(kind: Kind) -> &'static str {
    match kind {
        Kind::Config => "SELECT to_jsonb(t) FROM protocol_config t ORDER BY address",
        Kind::Merchant => "SELECT to_jsonb(t) FROM merchants t ORDER BY address",
        Kind::Payment => "SELECT to_jsonb(t) FROM payments t ORDER BY address",
        Kind::Pool => "SELECT to_jsonb(t) FROM pools t ORDER BY address",
        Kind::CreditPool => "SELECT to_jsonb(t) FROM credit_pools t ORDER BY address",
        Kind::CreditLine => "SELECT to_jsonb(t) FROM credit_lines t ORDER BY address",
        Kind::Advance => "SELECT to_jsonb(t) FROM advances t ORDER BY address",
    }
}

fn delete_sql(kind: Kind) -> &'static str {
    match kind {
        Kind::Config => "DELETE FROM protocol_config WHERE address = ANY($1)",
        Kind::Merchant => "DELETE FROM merchants WHERE address = ANY($1)",
        Kind::Payment => "DELETE FROM payments WHERE address = ANY($1)",
        Kind::Pool => "DELETE FROM pools WHERE address = ANY($1)",
        Kind::CreditPool => "DELETE FROM credit_pools WHERE address = ANY($1)",
        Kind::CreditLine => "DELETE FROM credit_lines WHERE address = ANY($1)",
        Kind::Advance => "DELETE FROM advances WHERE address = ANY($1)",
    }
}

fn insert_sql(kind: Kind) -> &'static str {
    match kind {
        Kind::Config => "INSERT INTO protocol_config SELECT * FROM json_populate_recordset(NULL::protocol_config, $1::text::json)",
        Kind::Merchant => "INSERT INTO merchants SELECT * FROM json_populate_recordset(NULL::merchants, $1::text::json)",
        Kind::Payment => "INSERT INTO payments SELECT * FROM json_populate_recordset(NULL::payments, $1::text::json)",
        Kind::Pool => "INSERT INTO pools SELECT * FROM json_populate_recordset(NULL::pools, $1::text::json)",
        Kind::CreditPool => "INSERT INTO credit_pools SELECT * FROM json_populate_recordset(NULL::credit_pools, $1::text::json)",
        Kind::CreditLine => "INSERT INTO credit_lines SELECT * FROM json_populate_recordset(NULL::credit_lines, $1::text::json)",
        Kind::Advance => "INSERT INTO advances SELECT * FROM json_populate_recordset(NULL::advances, $1::text::json)",
    }
}

/// Every projection row of `kind`, ordered by address.
pub async fn rows(pool: &PgPool, kind: Kind) -> Result<Vec<Row>, StoreError> {
    sqlx::query(all_sql(kind))
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| Row::from_json(kind, r.get(0)).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// Folds the live events of one entity from nothing.
async fn rebuild(
    db: &mut PgConnection,
    entity: &str,
) -> Result<Result<Option<Row>, FoldError>, StoreError> {
    let rows = sqlx::query(
        "SELECT program::text, raw FROM events WHERE entity = $1 AND NOT reverted ORDER BY seq",
    )
    .bind(entity)
    .fetch_all(&mut *db)
    .await?;
    let mut state = None;
    for r in rows {
        let program: String = r.get(0);
        let raw: Vec<u8> = r.get(1);
        let program = Pubkey::from_str(&program).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let event = KassaEvent::from_cpi(&program, &raw)
            .map_err(StoreError::Corrupt)?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("stored event of {entity} is not an event"))
            })?;
        state = match fold(state, &event) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
    }
    Ok(Ok(state))
}

/// Brings the projections of the touched entities up to date. New events that continue the
/// stored row's sequence are folded on top of it; anything else (a gap, events out of order
/// across program streams, a rollback) rebuilds the entity from all its live events.
/// Returns how many entities had an incomplete history and were left unprojected.
pub async fn project(
    db: &mut PgConnection,
    touched: BTreeMap<(Kind, String), Vec<&KassaEvent>>,
) -> Result<usize, StoreError> {
    let mut skipped = 0;
    for kind in Kind::ALL {
        let entities: Vec<String> = touched
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, e)| e.clone())
            .collect();
        if entities.is_empty() {
            continue;
        }
        let mut current: BTreeMap<String, Row> = BTreeMap::new();
        for r in sqlx::query(select_sql(kind))
            .bind(&entities)
            .fetch_all(&mut *db)
            .await?
        {
            let v: serde_json::Value = r.get(0);
            let row = Row::from_json(kind, v).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            current.insert(row.address().to_string(), row);
        }
        // The newest live event stored per entity: events of one entity can arrive through
        // another program's stream first (a pool's swap inside a payment), so a row is only
        // extended in place when the new events are also the newest.
        let newest: BTreeMap<String, i64> = sqlx::query(
            "SELECT entity::text, max(seq) FROM events
             WHERE entity = ANY($1) AND NOT reverted GROUP BY entity",
        )
        .bind(&entities)
        .fetch_all(&mut *db)
        .await?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
        let mut out = Vec::new();
        for entity in &entities {
            let mut events = touched[&(kind, entity.clone())].clone();
            events.sort_by_key(|e| e.header().1);
            let state = current.remove(entity);
            let mut next = state.as_ref().map_or(0, |r| r.seq() + 1);
            let contiguous = !events.is_empty()
                && events.iter().all(|e| {
                    let ok = e.header().1 as i64 == next;
                    next += 1;
                    ok
                });
            let newest_is_new = events
                .last()
                .is_some_and(|e| Some(&(e.header().1 as i64)) == newest.get(entity));
            let folded = if contiguous && newest_is_new {
                events.iter().try_fold(state, |s, e| fold(s, e))
            } else {
                rebuild(db, entity).await?
            };
            match folded {
                Ok(Some(row)) => out.push(row),
                Ok(None) => {}
                Err(e) => {
                    skipped += 1;
                    tracing::warn!(%entity, error = %e, "history incomplete; entity not projected");
                }
            }
        }
        sqlx::query(delete_sql(kind))
            .bind(&entities)
            .execute(&mut *db)
            .await?;
        if !out.is_empty() {
            sqlx::query(insert_sql(kind))
                .bind(serde_json::to_string(&out).map_err(|e| StoreError::Corrupt(e.to_string()))?)
                .execute(&mut *db)
                .await?;
        }
    }
    Ok(skipped)
}

/// Transactions stored at confirmed, at or below `max_slot`, after `after` in (slot,
/// signature) order, oldest first: one page of the finality pass.
pub async fn unfinalized(
    pool: &PgPool,
    max_slot: u64,
    after: Option<&(String, u64)>,
    limit: i64,
) -> Result<Vec<(String, u64)>, StoreError> {
    let (after_sig, after_slot) =
        after.map_or((String::new(), -1), |(s, slot)| (s.clone(), *slot as i64));
    Ok(sqlx::query(
        "SELECT signature::text, slot FROM transactions
         WHERE commitment = 'confirmed' AND slot <= $1 AND (slot, signature::text) > ($2, $3)
         ORDER BY slot, signature LIMIT $4",
    )
    .bind(max_slot as i64)
    .bind(after_slot)
    .bind(after_sig)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.get(0), r.get::<i64, _>(1) as u64))
    .collect())
}

pub async fn mark_finalized(pool: &PgPool, signatures: &[String]) -> Result<u64, StoreError> {
    Ok(sqlx::query(
        "UPDATE transactions SET commitment = 'finalized'
         WHERE signature = ANY($1) AND commitment = 'confirmed'",
    )
    .bind(signatures)
    .execute(pool)
    .await?
    .rows_affected())
}

/// Rolls back transactions that will never finalize: their rows are marked reverted, their
/// events leave the live history, and every entity they touched is rebuilt from what remains.
pub async fn revert(pool: &PgPool, signatures: &[String]) -> Result<usize, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "UPDATE transactions SET commitment = 'reverted'
         WHERE signature = ANY($1) AND commitment = 'confirmed'",
    )
    .bind(signatures)
    .execute(&mut *tx)
    .await?;
    let touched_rows = sqlx::query(
        "UPDATE events SET reverted = true WHERE signature = ANY($1) AND NOT reverted
         RETURNING program::text, raw",
    )
    .bind(signatures)
    .fetch_all(&mut *tx)
    .await?;
    let mut events = Vec::new();
    for r in touched_rows {
        let program: String = r.get(0);
        let raw: Vec<u8> = r.get(1);
        let program = Pubkey::from_str(&program).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Some(e) = KassaEvent::from_cpi(&program, &raw).map_err(StoreError::Corrupt)? {
            events.push(e);
        }
    }
    let mut entities: BTreeMap<(Kind, String), Vec<&KassaEvent>> = BTreeMap::new();
    for e in &events {
        // No events: `project` sees a gap and rebuilds each entity from its remaining history.
        entities
            .entry((Kind::of(e), e.header().0.to_string()))
            .or_default();
    }
    let n = entities.len();
    project(&mut tx, entities).await?;
    tx.commit().await?;
    for s in signatures {
        tracing::warn!(signature = %s, "transaction never finalized: rolled back");
    }
    Ok(n)
}

/// Records the cluster's genesis hash on first use; afterwards refuses another cluster.
pub async fn claim_cluster(pool: &PgPool, genesis_hash: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO cluster (genesis_hash) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(genesis_hash)
        .execute(pool)
        .await?;
    let stored: String = sqlx::query("SELECT genesis_hash FROM cluster")
        .fetch_one(pool)
        .await?
        .get(0);
    if stored != genesis_hash {
        return Err(StoreError::OtherCluster {
            stored,
            node: genesis_hash.to_string(),
        });
    }
    Ok(())
}
