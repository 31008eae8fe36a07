//! A batch of decoded transactions as the rows of the raw tables (transactions, instructions,
//! events, token balance changes, parked data), applied with its projections and cursor in one
//! database transaction. Preparing a batch is pure CPU work, done while Postgres applies the
//! previous one.

use super::{
    projection::{project, Fresh, Touched},
    Applied, CursorUpdate, StoreError,
};
use crate::{
    decode::{DecodedTx, KassaEvent},
    projection::Kind,
};
use sqlx::{PgConnection, PgPool, Row as _};
use std::collections::{BTreeMap, HashSet};

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
