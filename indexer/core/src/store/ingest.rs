//! A batch of decoded transactions as the rows of the raw tables (transactions, instructions,
//! events, token balance changes, parked data), applied with its projections and cursor in one
//! database transaction. Preparing a batch is pure CPU work, done while Postgres applies the
//! previous one.

use super::{
    lease::Lease,
    projection::{project, Fresh, Touched},
    Applied, CursorUpdate, StoreError,
};
use crate::{
    decode::{DecodedTx, KassaEvent},
    projection::Kind,
};
use solana_sdk::{pubkey::Pubkey, signature::Signature};
use sqlx::{PgConnection, PgPool, Row as _};
use std::collections::{BTreeMap, HashSet};

/// A batch of decoded transactions turned into the columns of every table it writes, and
/// the entities whose projections it touches. Preparing is pure CPU work that needs no
/// database, so the indexer prepares the next batch while Postgres applies the current one.
pub struct Batch {
    txs: Vec<DecodedTx>,
    columns: Columns,
    /// The events of each touched entity, by (kind, entity).
    touched: BTreeMap<(Kind, Pubkey), EntityEvents>,
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
        let mut at: BTreeMap<(Kind, Pubkey), Vec<(usize, usize)>> = BTreeMap::new();
        for (t, tx) in txs.iter().enumerate() {
            for (i, e) in tx.events.iter().enumerate() {
                let entity = e.event.header().entity;
                at.entry((Kind::of(&e.event), entity))
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
        None,
    )
    .await
}

/// Stores a prepared batch, its projections and the cursor, atomically, on `db` (a pipeline
/// keeps one connection for all its batches instead of taking one from the pool each time).
/// With a `lease`, the write commits only while this process holds the stream's lease, which
/// it renews in the same database transaction.
pub async fn apply_batch(
    db: &mut PgConnection,
    batch: &Batch,
    cursor: Option<&CursorUpdate>,
    lease: Option<&Lease>,
) -> Result<Applied, StoreError> {
    let mut tx = sqlx::Connection::begin(db).await?;
    if let Some(lease) = lease {
        lease.hold(&mut tx).await?;
    }
    let applied = apply_in(&mut tx, batch).await?;
    if let Some(c) = cursor {
        sqlx::query(
            "INSERT INTO chain.cursor (program, slot, signature) VALUES ($1, $2, $3)
             ON CONFLICT (program) DO UPDATE
             SET slot = GREATEST(chain.cursor.slot, EXCLUDED.slot),
                 signature = CASE WHEN EXCLUDED.slot >= chain.cursor.slot
                                  THEN EXCLUDED.signature ELSE chain.cursor.signature END",
        )
        .bind(c.program.as_ref())
        .bind(c.slot as i64)
        .bind(c.signature.as_ref().map(|s| s.as_ref()))
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
    // The partitions of the batch's slots, and of the width after them, exist before its rows
    // (one index probe when they already do).
    sqlx::query("SELECT chain.ensure_partitions($1)")
        .bind(&c.slot)
        .execute(&mut *db)
        .await?;
    let new: HashSet<Signature> = sqlx::query(
        "INSERT INTO chain.transaction (signature, slot, block_time, failed, fee, commitment)
         SELECT s, sl, bt, f, fee::numeric, 'confirmed'
         FROM unnest($1::bytea[], $2::int8[], $3::int8[], $4::bool[], $5::text[])
              AS t(s, sl, bt, f, fee)
         ON CONFLICT (signature, slot) DO NOTHING
         RETURNING signature",
    )
    .bind(&c.signature)
    .bind(&c.slot)
    .bind(&c.block_time)
    .bind(&c.failed)
    .bind(&c.fee)
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .map(|r| super::signature(r.get(0)))
    .collect::<Result<_, _>>()?;
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
    let mut touched: BTreeMap<(Kind, Pubkey), Touched> = BTreeMap::new();
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
            touched.insert(*key, Touched { events, fresh });
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
    signature: Vec<[u8; 64]>,
    slot: Vec<i64>,
    block_time: Vec<Option<i64>>,
    failed: Vec<bool>,
    fee: Vec<String>,
}

impl TransactionColumns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx>) -> Self {
        let mut c = Self::default();
        for t in txs {
            c.signature.push(t.signature.into());
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
    signature: Vec<[u8; 64]>,
    slot: Vec<i64>,
    ix_index: Vec<i32>,
    inner_index: Vec<i32>,
    program: Vec<[u8; 32]>,
    name: Vec<String>,
    args: Vec<String>,
    accounts: Vec<Vec<u8>>,
}

impl InstructionColumns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx>) -> Self {
        let mut c = Self::default();
        for t in txs {
            for i in &t.instructions {
                c.signature.push(t.signature.into());
                c.slot.push(t.slot as i64);
                c.ix_index.push(i.ix_index);
                c.inner_index.push(i.inner_index);
                c.program.push(i.program.to_bytes());
                c.name.push(i.name.clone());
                c.args.push(i.args.to_string());
                // Postgres has no ragged arrays: the accounts are concatenated, 32 bytes each.
                c.accounts
                    .push(i.accounts.iter().flat_map(|k| k.to_bytes()).collect());
            }
        }
        c
    }

    async fn insert(&self, db: &mut PgConnection) -> Result<(), StoreError> {
        if self.signature.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO chain.instruction (signature, ix_index, inner_index, program, name, args, accounts, slot)
             SELECT s, i, j, p, n, a::jsonb, acc, sl
             FROM unnest($1::bytea[], $2::int4[], $3::int4[], $4::bytea[], $5::text[], $6::text[],
                         $7::bytea[], $8::int8[]) AS t(s, i, j, p, n, a, acc, sl)",
        )
        .bind(&self.signature)
        .bind(&self.ix_index)
        .bind(&self.inner_index)
        .bind(&self.program)
        .bind(&self.name)
        .bind(&self.args)
        .bind(&self.accounts)
        .bind(&self.slot)
        .execute(&mut *db)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct TokenChangeColumns {
    signature: Vec<[u8; 64]>,
    slot: Vec<i64>,
    account_index: Vec<i32>,
    account: Vec<[u8; 32]>,
    mint: Vec<[u8; 32]>,
    owner: Vec<Option<[u8; 32]>>,
    pre: Vec<String>,
    post: Vec<String>,
}

impl TokenChangeColumns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx>) -> Self {
        let mut c = Self::default();
        for t in txs {
            for x in &t.token_changes {
                c.signature.push(t.signature.into());
                c.slot.push(t.slot as i64);
                c.account_index.push(x.account_index);
                c.account.push(x.account.to_bytes());
                c.mint.push(x.mint.to_bytes());
                c.owner.push(x.owner.map(|o| o.to_bytes()));
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
            "INSERT INTO chain.token_balance_change (signature, account_index, account, mint, owner, pre, post, slot)
             SELECT s, i, a, m, o, pre::numeric, post::numeric, sl
             FROM unnest($1::bytea[], $2::int4[], $3::bytea[], $4::bytea[], $5::bytea[], $6::text[],
                         $7::text[], $8::int8[]) AS t(s, i, a, m, o, pre, post, sl)",
        )
        .bind(&self.signature)
        .bind(&self.account_index)
        .bind(&self.account)
        .bind(&self.mint)
        .bind(&self.owner)
        .bind(&self.pre)
        .bind(&self.post)
        .bind(&self.slot)
        .execute(&mut *db)
        .await?;
        Ok(())
    }
}

#[derive(Default)]
struct ParkedColumns {
    signature: Vec<[u8; 64]>,
    slot: Vec<i64>,
    ix_index: Vec<i32>,
    inner_index: Vec<i32>,
    program: Vec<[u8; 32]>,
    reason: Vec<String>,
    raw: Vec<Vec<u8>>,
}

impl ParkedColumns {
    fn of<'a>(txs: impl Iterator<Item = &'a DecodedTx>) -> Self {
        let mut c = Self::default();
        for t in txs {
            for p in &t.parked {
                c.signature.push(t.signature.into());
                c.slot.push(t.slot as i64);
                c.ix_index.push(p.ix_index);
                c.inner_index.push(p.inner_index);
                c.program.push(p.program.to_bytes());
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
            let program = Pubkey::new_from_array(*program);
            tracing::warn!(%program, %reason, "parked undecodable data");
        }
        sqlx::query(
            "INSERT INTO chain.parked (signature, ix_index, inner_index, program, reason, raw, slot)
             SELECT * FROM unnest($1::bytea[], $2::int4[], $3::int4[], $4::bytea[], $5::text[],
                                  $6::bytea[], $7::int8[])",
        )
        .bind(&self.signature)
        .bind(&self.ix_index)
        .bind(&self.inner_index)
        .bind(&self.program)
        .bind(&self.reason)
        .bind(&self.raw)
        .bind(&self.slot)
        .execute(&mut *db)
        .await?;
        Ok(())
    }
}

/// The event rows of a batch as the columns of `events`, in table order.
#[derive(Default)]
struct EventColumns {
    signature: Vec<[u8; 64]>,
    ix_index: Vec<i32>,
    inner_index: Vec<i32>,
    slot: Vec<i64>,
    program: Vec<[u8; 32]>,
    name: Vec<String>,
    entity: Vec<[u8; 32]>,
    seq: Vec<i64>,
    ts: Vec<i64>,
    actor: Vec<[u8; 32]>,
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
                c.signature.push(t.signature.into());
                c.ix_index.push(e.ix_index);
                c.inner_index.push(e.inner_index);
                c.slot.push(t.slot as i64);
                c.program.push(e.program.to_bytes());
                c.name.push(e.event.name().to_string());
                c.entity.push(entity.to_bytes());
                c.seq.push(i64::try_from(seq).unwrap_or(i64::MAX));
                c.ts.push(ts);
                c.actor.push(actor.to_bytes());
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
            // The live (entity, seq) key gets its row, the webhook outbox one row per event,
            // the settlement inbox one per event the ledger books and the compliance inbox one
            // per authorization, in the same statement, so nothing is notified, booked or
            // monitored that was not stored and nothing stored is left out.
            "WITH stored AS (
                 INSERT INTO chain.event (signature, ix_index, inner_index, slot, program, name,
                                          entity, seq, ts, actor, data, raw)
                 SELECT s, i, j, sl, p, n, e, q, ts, a, d::jsonb, r
                 FROM unnest($1::bytea[], $2::int4[], $3::int4[], $4::int8[], $5::bytea[],
                             $6::text[], $7::bytea[], $8::int8[], $9::int8[], $10::bytea[],
                             $11::text[], $12::bytea[])
                      AS t(s, i, j, sl, p, n, e, q, ts, a, d, r)
                 RETURNING signature, ix_index, inner_index, slot, name, entity, seq),
             keyed AS (
                 INSERT INTO chain.entity_seq (entity, seq, slot)
                 SELECT entity, seq, slot FROM stored),
             booked AS (
                 INSERT INTO settlement.inbox (signature, ix_index, inner_index, slot, phase)
                 SELECT signature, ix_index, inner_index, slot, 'confirmed' FROM stored
                 WHERE settlement.books(name)),
             monitored AS (
                 INSERT INTO compliance.inbox (signature, ix_index, inner_index, slot, phase)
                 SELECT signature, ix_index, inner_index, slot, 'confirmed' FROM stored
                 WHERE compliance.monitors(name))
             INSERT INTO webhooks.outbox (signature, ix_index, inner_index, slot, phase)
             SELECT signature, ix_index, inner_index, slot, 'confirmed' FROM stored",
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
