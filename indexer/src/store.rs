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
    /// Undecodable instructions and events kept with their raw bytes.
    pub parked: usize,
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

/// A batch of decoded transactions turned into the columns of every table it writes, and
/// the entities whose projections it touches. Preparing is pure CPU work that needs no
/// database, so the indexer prepares the next batch while Postgres applies the current one.
pub struct Batch {
    txs: Vec<DecodedTx>,
    columns: Columns,
    /// The events of each touched entity, by (kind, entity).
    touched: BTreeMap<(Kind, String), EntityEvents>,
}

/// Where one entity's events are in a batch, and their fold from nothing when they begin the
/// entity's history.
struct EntityEvents {
    /// (transaction index, event index).
    at: Vec<(usize, usize)>,
    fresh: Option<Fresh>,
}

impl Batch {
    pub fn prepare(txs: Vec<DecodedTx>) -> Self {
        let columns = Columns::of(txs.iter());
        let mut at: BTreeMap<(Kind, String), Vec<(usize, usize)>> = BTreeMap::new();
        for (t, tx) in txs.iter().enumerate() {
            for (i, e) in tx.events.iter().enumerate() {
                let entity = e.event.header().entity;
                at.entry((Kind::of(&e.event), entity.to_string()))
                    .or_default()
                    .push((t, i));
            }
        }
        let touched = at
            .into_iter()
            .map(|(key, at)| {
                let fresh = Fresh::of(at.iter().map(|&(t, i)| &txs[t].events[i].event).collect());
                (key, EntityEvents { at, fresh })
            })
            .collect();
        Self {
            txs,
            columns,
            touched,
        }
    }

    pub fn transactions(&self) -> &[DecodedTx] {
        &self.txs
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }
}

/// Stores a batch of decoded transactions, their projections and the cursor, atomically.
pub async fn apply(
    pool: &PgPool,
    batch: &[DecodedTx],
    cursor: Option<&CursorUpdate>,
) -> Result<Applied, StoreError> {
    apply_batch(
        &mut *pool.acquire().await?,
        &Batch::prepare(batch.to_vec()),
        cursor,
    )
    .await
}

/// Stores a prepared batch, its projections and the cursor, atomically, on `db` (a pipeline
/// keeps one connection for all its batches instead of taking one from the pool each time).
pub async fn apply_batch(
    db: &mut PgConnection,
    batch: &Batch,
    cursor: Option<&CursorUpdate>,
) -> Result<Applied, StoreError> {
    let mut tx = sqlx::Connection::begin(db).await?;
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

async fn apply_in(db: &mut PgConnection, batch: &Batch) -> Result<Applied, StoreError> {
    if batch.is_empty() {
        return Ok(Applied::default());
    }
    let c = &batch.columns.transactions;
    let new: HashSet<String> = sqlx::query(
        "INSERT INTO transactions (signature, slot, block_time, failed, fee, commitment)
         SELECT s, sl, bt, f, fee::numeric, 'confirmed'
         FROM unnest($1::text[], $2::int8[], $3::int8[], $4::bool[], $5::text[])
              AS t(s, sl, bt, f, fee)
         ON CONFLICT (signature) DO NOTHING
         RETURNING signature::text",
    )
    .bind(&c.signature)
    .bind(&c.slot)
    .bind(&c.block_time)
    .bind(&c.failed)
    .bind(&c.fee)
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .map(|r| r.get(0))
    .collect();
    let fresh: Vec<usize> = (0..batch.txs.len())
        .filter(|&i| new.contains(&batch.txs[i].signature))
        .collect();
    if fresh.is_empty() {
        return Ok(Applied::default());
    }
    // Usually every transaction is new; a replay stores only the rows of those that are.
    let subset;
    let columns = if fresh.len() == batch.txs.len() {
        &batch.columns
    } else {
        subset = Columns::of(fresh.iter().map(|&i| &batch.txs[i]));
        &subset
    };
    columns.instructions.insert(db).await?;
    columns.token_changes.insert(db).await?;
    columns.parked.insert(db).await?;
    columns.events.insert(db).await?;

    let fresh: HashSet<usize> = fresh.into_iter().collect();
    let mut touched: BTreeMap<(Kind, String), Touched> = BTreeMap::new();
    for (
        key,
        EntityEvents {
            at,
            fresh: prepared,
        },
    ) in &batch.touched
    {
        let events: Vec<&KassaEvent> = at
            .iter()
            .filter(|(t, _)| fresh.contains(t))
            .map(|&(t, i)| &batch.txs[t].events[i].event)
            .collect();
        if !events.is_empty() {
            // A fold prepared from all of the entity's events is void if some were stored already.
            let fresh = prepared.as_ref().filter(|_| events.len() == at.len());
            touched.insert(key.clone(), Touched { events, fresh });
        }
    }
    let skipped = project(db, touched).await?;
    Ok(Applied {
        transactions: fresh.len(),
        events: columns.events.len(),
        parked: columns.parked.len(),
        skipped_entities: skipped,
    })
}

/// The rows of a batch, as the columns of each table it writes.
struct Columns {
    transactions: TransactionColumns,
    instructions: InstructionColumns,
    token_changes: TokenChangeColumns,
    parked: ParkedColumns,
    events: EventColumns,
}

impl Columns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx> + Clone) -> Self {
        Self {
            transactions: TransactionColumns::of(txs.clone()),
            instructions: InstructionColumns::of(txs.clone()),
            token_changes: TokenChangeColumns::of(txs.clone()),
            parked: ParkedColumns::of(txs.clone()),
            events: EventColumns::of(txs),
        }
    }
}

#[derive(Default)]
struct TransactionColumns {
    signature: Vec<String>,
    slot: Vec<i64>,
    block_time: Vec<Option<i64>>,
    failed: Vec<bool>,
    fee: Vec<String>,
}

impl TransactionColumns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx>) -> Self {
        let mut c = Self::default();
        for t in txs {
            c.signature.push(t.signature.clone());
            c.slot.push(t.slot as i64);
            c.block_time.push(t.block_time);
            c.failed.push(t.failed);
            c.fee.push(t.fee.to_string());
        }
        c
    }
}

#[derive(Default)]
struct InstructionColumns {
    signature: Vec<String>,
    ix_index: Vec<i32>,
    inner_index: Vec<i32>,
    program: Vec<String>,
    name: Vec<String>,
    args: Vec<String>,
    accounts: Vec<String>,
}

impl InstructionColumns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx>) -> Self {
        let mut c = Self::default();
        for t in txs {
            for i in &t.instructions {
                c.signature.push(t.signature.clone());
                c.ix_index.push(i.ix_index);
                c.inner_index.push(i.inner_index);
                c.program.push(i.program.to_string());
                c.name.push(i.name.clone());
                c.args.push(i.args.to_string());
                // Postgres has no ragged arrays; base58 has no comma.
                c.accounts.push(i.accounts.join(","));
            }
        }
        c
    }

    async fn insert(&self, db: &mut PgConnection) -> Result<(), StoreError> {
        if self.signature.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO instructions (signature, ix_index, inner_index, program, name, args, accounts)
             SELECT s, i, j, p, n, a::jsonb, string_to_array(acc, ',')
             FROM unnest($1::text[], $2::int4[], $3::int4[], $4::text[], $5::text[], $6::text[],
                         $7::text[]) AS t(s, i, j, p, n, a, acc)",
        )
        .bind(&self.signature)
        .bind(&self.ix_index)
        .bind(&self.inner_index)
        .bind(&self.program)
        .bind(&self.name)
        .bind(&self.args)
        .bind(&self.accounts)
        .execute(&mut *db)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct TokenChangeColumns {
    signature: Vec<String>,
    account_index: Vec<i32>,
    account: Vec<String>,
    mint: Vec<String>,
    owner: Vec<Option<String>>,
    pre: Vec<String>,
    post: Vec<String>,
}

impl TokenChangeColumns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx>) -> Self {
        let mut c = Self::default();
        for t in txs {
            for x in &t.token_changes {
                c.signature.push(t.signature.clone());
                c.account_index.push(x.account_index);
                c.account.push(x.account.to_string());
                c.mint.push(x.mint.clone());
                c.owner.push(x.owner.clone());
                c.pre.push(x.pre.to_string());
                c.post.push(x.post.to_string());
            }
        }
        c
    }

    async fn insert(&self, db: &mut PgConnection) -> Result<(), StoreError> {
        if self.signature.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO token_balance_changes (signature, account_index, account, mint, owner, pre, post)
             SELECT s, i, a, m, o, pre::numeric, post::numeric
             FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::text[],
                         $7::text[]) AS t(s, i, a, m, o, pre, post)",
        )
        .bind(&self.signature)
        .bind(&self.account_index)
        .bind(&self.account)
        .bind(&self.mint)
        .bind(&self.owner)
        .bind(&self.pre)
        .bind(&self.post)
        .execute(&mut *db)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct ParkedColumns {
    signature: Vec<String>,
    ix_index: Vec<i32>,
    inner_index: Vec<i32>,
    program: Vec<String>,
    reason: Vec<String>,
    raw: Vec<Vec<u8>>,
}

impl ParkedColumns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx>) -> Self {
        let mut c = Self::default();
        for t in txs {
            for p in &t.parked {
                c.signature.push(t.signature.clone());
                c.ix_index.push(p.ix_index);
                c.inner_index.push(p.inner_index);
                c.program.push(p.program.to_string());
                c.reason.push(p.reason.clone());
                c.raw.push(p.raw.clone());
            }
        }
        c
    }

    fn len(&self) -> usize {
        self.signature.len()
    }

    async fn insert(&self, db: &mut PgConnection) -> Result<(), StoreError> {
        if self.signature.is_empty() {
            return Ok(());
        }
        for (program, reason) in self.program.iter().zip(&self.reason) {
            tracing::warn!(%program, %reason, "parked undecodable data");
        }
        sqlx::query(
            "INSERT INTO parked (signature, ix_index, inner_index, program, reason, raw)
             SELECT * FROM unnest($1::text[], $2::int4[], $3::int4[], $4::text[], $5::text[],
                                  $6::bytea[])",
        )
        .bind(&self.signature)
        .bind(&self.ix_index)
        .bind(&self.inner_index)
        .bind(&self.program)
        .bind(&self.reason)
        .bind(&self.raw)
        .execute(&mut *db)
        .await?;
        Ok(())
    }
}

/// The event rows of a batch as the columns of `events`, in table order.
#[derive(Default)]
struct EventColumns {
    signature: Vec<String>,
    ix_index: Vec<i32>,
    inner_index: Vec<i32>,
    slot: Vec<i64>,
    program: Vec<String>,
    name: Vec<String>,
    entity: Vec<String>,
    seq: Vec<i64>,
    ts: Vec<i64>,
    actor: Vec<String>,
    data: Vec<String>,
    raw: Vec<Vec<u8>>,
}

impl EventColumns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx>) -> Self {
        let mut c = Self::default();
        for t in txs {
            for e in &t.events {
                let h = e.event.header();
                let (entity, seq, ts, actor) = (h.entity, h.seq, h.timestamp, h.actor);
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

    fn len(&self) -> usize {
        self.signature.len()
    }

    async fn insert(&self, db: &mut PgConnection) -> Result<(), StoreError> {
        if self.signature.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO events (signature, ix_index, inner_index, slot, program, name, entity, seq,
                                 ts, actor, data, raw)
             SELECT s, i, j, sl, p, n, e, q, ts, a, d::jsonb, r
             FROM unnest($1::text[], $2::int4[], $3::int4[], $4::int8[], $5::text[], $6::text[],
                         $7::text[], $8::int8[], $9::int8[], $10::text[], $11::text[], $12::bytea[])
                  AS t(s, i, j, sl, p, n, e, q, ts, a, d, r)",
        )
        .bind(&self.signature)
        .bind(&self.ix_index)
        .bind(&self.inner_index)
        .bind(&self.slot)
        .bind(&self.program)
        .bind(&self.name)
        .bind(&self.entity)
        .bind(&self.seq)
        .bind(&self.ts)
        .bind(&self.actor)
        .bind(&self.data)
        .bind(&self.raw)
        .execute(&mut *db)
        .await?;
        Ok(())
    }
}

fn all_sql(kind: Kind) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT to_jsonb(t) FROM {} t ORDER BY address",
        kind.table()
    ))
}

fn row_fields(row: &Row) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    match serde_json::to_value(row).map_err(|e| StoreError::Corrupt(e.to_string()))? {
        serde_json::Value::Object(fields) => Ok(fields),
        _ => Err(StoreError::Corrupt(
            "a projection row is not an object".into(),
        )),
    }
}

/// The columns a projection row fills, in the order `copy_line` writes them.
fn copy_columns(row: &Row) -> Result<String, StoreError> {
    Ok(row_fields(row)?
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", "))
}

/// Appends `row` as one line of Postgres `COPY` text format: values escaped as `COPY`
/// requires, `\N` for null, arrays as array literals.
fn copy_line(row: &Row, out: &mut Vec<u8>) -> Result<(), StoreError> {
    use serde_json::Value;
    fn escape(out: &mut Vec<u8>, s: &str) {
        for b in s.bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(b),
            }
        }
    }
    for (i, v) in row_fields(row)?.values().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match v {
            Value::Null => out.extend_from_slice(b"\\N"),
            Value::Bool(b) => out.push(if *b { b't' } else { b'f' }),
            Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::String(s) => escape(out, s),
            Value::Array(items) => {
                let mut literal = String::from("{");
                for (j, item) in items.iter().enumerate() {
                    if j > 0 {
                        literal.push(',');
                    }
                    let text = match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    literal.push('"');
                    literal.push_str(&text.replace('\\', "\\\\").replace('"', "\\\""));
                    literal.push('"');
                }
                literal.push('}');
                escape(out, &literal);
            }
            Value::Object(_) => escape(out, &v.to_string()),
        }
    }
    out.push(b'\n');
    Ok(())
}

/// An entity's fold from nothing, computed while a batch whose events begin its history is
/// prepared: the row and its `COPY` line. `project` uses it when the entity has no stored
/// row and no newer stored events, which is the case of every entity a batch creates.
pub struct Fresh {
    row: Result<Option<Row>, FoldError>,
    line: Option<Vec<u8>>,
}

impl Fresh {
    fn of(mut events: Vec<&KassaEvent>) -> Option<Self> {
        events.sort_by_key(|e| e.header().seq);
        if !events
            .iter()
            .enumerate()
            .all(|(i, e)| e.header().seq == i as u64)
        {
            return None;
        }
        let row = events.iter().try_fold(None, |s, e| fold(s, e));
        let line = match &row {
            Ok(Some(r)) => {
                let mut line = Vec::new();
                copy_line(r, &mut line).ok()?;
                Some(line)
            }
            _ => None,
        };
        Some(Self { row, line })
    }
}

/// The new events of one entity, and their fold from nothing when it was prepared.
pub struct Touched<'a> {
    pub events: Vec<&'a KassaEvent>,
    pub fresh: Option<&'a Fresh>,
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

/// Folds the live events of one entity from nothing. A history with a gap (events that
/// arrived before earlier ones, through another program's stream) is not folded: the entity
/// stays unprojected until the missing events arrive, so that a stored row is always the fold
/// of its entity's whole live history.
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
    for (i, r) in rows.into_iter().enumerate() {
        let program: String = r.get(0);
        let raw: Vec<u8> = r.get(1);
        let program = Pubkey::from_str(&program).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let event = KassaEvent::from_cpi(&program, &raw)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?
            .ok_or_else(|| {
                StoreError::Corrupt(format!("stored event of {entity} is not an event"))
            })?;
        if event.header().seq != i as u64 {
            return Ok(Err(FoldError::Gap(i as u64)));
        }
        state = match fold(state, &event) {
            Ok(s) => s,
            Err(e) => return Ok(Err(e)),
        };
    }
    Ok(Ok(state))
}

/// Brings the projections of the touched entities up to date. New events that continue the
/// stored row's sequence are folded on top of it; anything else (a gap, events out of order
/// across program streams, a rollback) rebuilds the entity from all its live events, or leaves
/// it unprojected while its live history has a gap.
/// Returns how many entities had an incomplete history and were left unprojected.
pub async fn project(
    db: &mut PgConnection,
    touched: BTreeMap<(Kind, String), Touched<'_>>,
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
        // Each entity's stored row, and for an entity without one the newest live event
        // stored for it: events of one entity can arrive through another program's stream
        // first (a pool's swap inside a payment), so a row is only started from nothing when
        // the new events are also the newest. A stored row is always its entity's newest live
        // event (every event stored is projected in the same database transaction), so new
        // events that continue it are the newest.
        let mut current: BTreeMap<String, Row> = BTreeMap::new();
        let mut newest: BTreeMap<String, i64> = BTreeMap::new();
        for r in sqlx::query(sqlx::AssertSqlSafe(format!(
            // Correlated subqueries, one index lookup per entity whatever the statistics say
            // (a join can turn into a scan of the whole table); OFFSET 0 keeps the row lookup
            // from being inlined and run twice.
            "SELECT entity, j,
                    CASE WHEN j IS NULL THEN
                        (SELECT max(seq) FROM events e WHERE e.entity = r.entity AND NOT e.reverted)
                    END
             FROM (SELECT u.entity,
                          (SELECT row_to_json(t)::text FROM {} t WHERE t.address = u.entity) AS j
                   FROM unnest($1::text[]) AS u(entity) OFFSET 0) r",
            kind.table()
        )))
        .bind(&entities)
        .fetch_all(&mut *db)
        .await?
        {
            let entity: String = r.get(0);
            if let Some(json) = r.get::<Option<&str>, _>(1) {
                let row = Row::from_json_str(kind, json)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                current.insert(entity, row);
            } else if let Some(seq) = r.get::<Option<i64>, _>(2) {
                newest.insert(entity, seq);
            }
        }
        // Only rows that exist need to go before their replacements are written.
        let stored: Vec<String> = current.keys().cloned().collect();
        let mut columns: Option<String> = None;
        let mut data = Vec::new();
        for entity in &entities {
            let touch = &touched[&(kind, entity.clone())];
            let mut events = touch.events.clone();
            events.sort_by_key(|e| e.header().seq);
            let state = current.remove(entity);
            let mut next = state.as_ref().map_or(0, |r| r.seq() + 1);
            let contiguous = !events.is_empty()
                && events.iter().all(|e| {
                    let ok = e.header().seq as i64 == next;
                    next += 1;
                    ok
                });
            let newest_is_new = state.is_some()
                || events
                    .last()
                    .is_some_and(|e| Some(&(e.header().seq as i64)) == newest.get(entity));
            let folded = match (contiguous && newest_is_new, state, touch.fresh) {
                // Created by this batch: its fold was computed while the batch was prepared.
                (true, None, Some(fresh)) => match (&fresh.row, &fresh.line) {
                    (Ok(Some(row)), Some(line)) => {
                        if columns.is_none() {
                            columns = Some(copy_columns(row)?);
                        }
                        data.extend_from_slice(line);
                        Ok(None)
                    }
                    (Ok(row), _) => Ok(row.clone()),
                    (Err(e), _) => Err(e.clone()),
                },
                (true, state, _) => events.iter().try_fold(state, |s, e| fold(s, e)),
                (false, ..) => rebuild(db, entity).await?,
            };
            match folded {
                Ok(Some(row)) => {
                    if columns.is_none() {
                        columns = Some(copy_columns(&row)?);
                    }
                    copy_line(&row, &mut data)?;
                }
                Ok(None) => {}
                Err(e) => {
                    skipped += 1;
                    tracing::warn!(%entity, error = %e, "history incomplete; entity not projected");
                }
            }
        }
        if !stored.is_empty() {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {} WHERE address = ANY($1)",
                kind.table()
            )))
            .bind(&stored)
            .execute(&mut *db)
            .await?;
        }
        if let Some(columns) = columns {
            let mut copy = db
                .copy_in_raw(&format!("COPY {} ({columns}) FROM STDIN", kind.table()))
                .await?;
            copy.send(data).await?;
            copy.finish().await?;
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
        if let Some(e) =
            KassaEvent::from_cpi(&program, &raw).map_err(|e| StoreError::Corrupt(e.to_string()))?
        {
            events.push(e);
        }
    }
    let mut entities: BTreeMap<(Kind, String), Touched> = BTreeMap::new();
    for e in &events {
        // No events: `project` sees a gap and rebuilds each entity from its remaining history.
        entities
            .entry((Kind::of(e), e.header().entity.to_string()))
            .or_insert(Touched {
                events: Vec::new(),
                fresh: None,
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::ConfigRow;

    #[test]
    fn copy_lines_escape_what_copy_text_format_requires() {
        let row = Row::Config(ConfigRow {
            address: "addr".into(),
            admin: "tab\there".into(),
            compliance_authority: "back\\slash".into(),
            arbiter: "new\nline".into(),
            fee_receiver: "cr\r".into(),
            protocol_fee_bps: 30,
            paused: false,
            hooks: vec!["a\"b".into(), "c\\d".into()],
            blocked: vec![],
            seq: 7,
        });
        assert_eq!(
            copy_columns(&row).unwrap(),
            "address, admin, arbiter, blocked, compliance_authority, fee_receiver, hooks, \
             paused, protocol_fee_bps, seq"
        );
        let mut line = Vec::new();
        copy_line(&row, &mut line).unwrap();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "addr\ttab\\there\tnew\\nline\t{}\tback\\\\slash\tcr\\r\t{\"a\\\\\"b\",\"c\\\\\\\\d\"}\tf\t30\t7\n"
        );
    }
}
