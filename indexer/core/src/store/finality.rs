//! Finality: transactions stored at confirmed are marked finalized once the cluster finalized
//! them, and rolled back (events out of the live history, entities rebuilt) when it forgot them.

use super::{projection::project, StoreError, Touched};
use crate::{decode::KassaEvent, projection::Kind};
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgPool, Row as _};
use std::{collections::BTreeMap, str::FromStr};

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
