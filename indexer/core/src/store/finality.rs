//! Finality: transactions stored at confirmed are marked finalized once the cluster finalized
//! them, and rolled back (events out of the live history, entities rebuilt) when it forgot them.

use super::{lease::Lease, projection::project, StoreError, Touched};
use crate::{decode::KassaEvent, projection::Kind};
use solana_sdk::{pubkey::Pubkey, signature::Signature};
use sqlx::{PgPool, Row as _};
use std::collections::BTreeMap;

/// Transactions stored at confirmed, at or below `max_slot`, after `after` in (slot,
/// signature) order, oldest first: one page of the finality pass.
pub async fn unfinalized(
    pool: &PgPool,
    max_slot: u64,
    after: Option<&(Signature, u64)>,
    limit: i64,
) -> Result<Vec<(Signature, u64)>, StoreError> {
    let (after_sig, after_slot) = after.map_or((Vec::new(), -1), |(s, slot)| {
        (s.as_ref().to_vec(), *slot as i64)
    });
    sqlx::query(
        "SELECT signature, slot FROM chain.transaction
         WHERE commitment = 'confirmed' AND slot <= $1 AND (slot, signature) > ($2, $3::bytea)
         ORDER BY slot, signature LIMIT $4",
    )
    .bind(max_slot as i64)
    .bind(after_slot)
    .bind(after_sig)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| Ok((super::signature(r.get(0))?, r.get::<i64, _>(1) as u64)))
    .collect()
}

/// The (signature, slot) keys of stored transactions as two columns.
fn columns(landed: &[(Signature, u64)]) -> (Vec<[u8; 64]>, Vec<i64>) {
    landed
        .iter()
        .map(|(s, slot)| (<[u8; 64]>::from(*s), *slot as i64))
        .unzip()
}

/// Marks finalized what the cluster finalized; with a lease, only while it is held.
pub async fn mark_finalized(
    pool: &PgPool,
    landed: &[(Signature, u64)],
    lease: Option<&Lease>,
) -> Result<u64, StoreError> {
    let mut tx = pool.begin().await?;
    if let Some(lease) = lease {
        lease.hold(&mut tx).await?;
    }
    let (signatures, slots) = columns(landed);
    // Each event of a transaction that finalized gets its `finalized` outbox row with the mark,
    // and its settlement inbox row when the ledger books it.
    let n: i64 = sqlx::query_scalar(
        "WITH marked AS (
             UPDATE chain.transaction SET commitment = 'finalized'
             WHERE signature = ANY($1) AND (signature, slot) IN (SELECT * FROM unnest($1::bytea[], $2::int8[]))
               AND commitment = 'confirmed'
             RETURNING signature, slot),
         notified AS (
             INSERT INTO webhooks.outbox (signature, ix_index, inner_index, slot, phase)
             SELECT e.signature, e.ix_index, e.inner_index, e.slot, 'finalized'
             FROM chain.event e JOIN marked m USING (signature, slot)
             WHERE NOT e.reverted
             ORDER BY e.slot, e.signature, e.ix_index, e.inner_index),
         booked AS (
             INSERT INTO settlement.inbox (signature, ix_index, inner_index, slot, phase)
             SELECT e.signature, e.ix_index, e.inner_index, e.slot, 'finalized'
             FROM chain.event e JOIN marked m USING (signature, slot)
             WHERE NOT e.reverted AND settlement.books(e.name)
             ORDER BY e.slot, e.signature, e.ix_index, e.inner_index)
         SELECT count(*) FROM marked",
    )
    .bind(&signatures)
    .bind(&slots)
    .fetch_one(&mut *tx)
    .await?;
    let n = n as u64;
    tx.commit().await?;
    Ok(n)
}

/// Rolls back transactions that will never finalize: their rows are marked reverted, their
/// events leave the live history, and every entity they touched is rebuilt from what remains.
/// With a lease, only while it is held.
pub async fn revert(
    pool: &PgPool,
    landed: &[(Signature, u64)],
    lease: Option<&Lease>,
) -> Result<usize, StoreError> {
    let mut tx = pool.begin().await?;
    if let Some(lease) = lease {
        lease.hold(&mut tx).await?;
    }
    let (signatures, slots) = columns(landed);
    sqlx::query(
        "UPDATE chain.transaction SET commitment = 'reverted'
         WHERE signature = ANY($1) AND (signature, slot) IN (SELECT * FROM unnest($1::bytea[], $2::int8[]))
           AND commitment = 'confirmed'",
    )
    .bind(&signatures)
    .bind(&slots)
    .execute(&mut *tx)
    .await?;
    // Each event rolled back gets its `reverted` outbox row: merchants told it at confirmed
    // are told it is retracted.
    let touched_rows = sqlx::query(
        "WITH rolled_back AS (
             UPDATE chain.event SET reverted = true
             WHERE slot = ANY($2) AND (signature, slot) IN (SELECT * FROM unnest($1::bytea[], $2::int8[]))
               AND NOT reverted
             RETURNING signature, ix_index, inner_index, slot, program, name, raw, entity, seq),
         unkeyed AS (
             DELETE FROM chain.entity_seq k USING rolled_back r
             WHERE (k.entity, k.seq) = (r.entity, r.seq)),
         rekeyed AS (
             INSERT INTO chain.reverted_key (entity, slot, signature, ix_index, inner_index, seq)
             SELECT entity, slot, signature, ix_index, inner_index, seq FROM rolled_back),
         notified AS (
             INSERT INTO webhooks.outbox (signature, ix_index, inner_index, slot, phase)
             SELECT signature, ix_index, inner_index, slot, 'reverted' FROM rolled_back
             ORDER BY slot, signature, ix_index, inner_index),
         booked AS (
             INSERT INTO settlement.inbox (signature, ix_index, inner_index, slot, phase)
             SELECT signature, ix_index, inner_index, slot, 'reverted' FROM rolled_back
             WHERE settlement.books(name)
             ORDER BY slot, signature, ix_index, inner_index),
         unmonitored AS (
             INSERT INTO compliance.inbox (signature, ix_index, inner_index, slot, phase)
             SELECT signature, ix_index, inner_index, slot, 'reverted' FROM rolled_back
             WHERE compliance.monitors(name)
             ORDER BY slot, signature, ix_index, inner_index)
         SELECT program, raw FROM rolled_back",
    )
    .bind(&signatures)
    .bind(&slots)
    .fetch_all(&mut *tx)
    .await?;
    let mut events = Vec::new();
    for r in touched_rows {
        let program = super::pubkey(r.get(0))?;
        let raw: Vec<u8> = r.get(1);
        if let Some(e) =
            KassaEvent::from_cpi(&program, &raw).map_err(|e| StoreError::Corrupt(e.to_string()))?
        {
            events.push(e);
        }
    }
    let mut entities: BTreeMap<(Kind, Pubkey), Touched> = BTreeMap::new();
    for e in &events {
        // No events: `project` sees a gap and rebuilds each entity from its remaining history.
        entities
            .entry((Kind::of(e), e.header().entity))
            .or_insert(Touched {
                events: Vec::new(),
                fresh: None,
            });
    }
    let n = entities.len();
    project(&mut tx, entities).await?;
    tx.commit().await?;
    for (s, slot) in landed {
        tracing::warn!(signature = %s, slot, "transaction never finalized: rolled back");
    }
    Ok(n)
}
