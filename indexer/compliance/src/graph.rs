//! The wallet graph: token flows between wallets in the transactions the indexer has stored,
//! and each wallet's exposure to flagged wallets through it, precomputed so that screening is
//! one lookup.
//!
//! An edge joins a wallet whose balance of a mint fell in a transaction to a wallet whose
//! balance of the same mint rose in it. Hubs are never endpoints: program accounts (escrow
//! vaults, pools; their owners are off-curve keys), merchants' settlement wallets and
//! authorities, Kassa's own keys and the treasury (`compliance.hub`). Exposure walks at most
//! `max_hops` edges from a flagged wallet and never through a wallet with more than
//! `hub_degree` counterparties, so a busy wallet does not flag everyone who ever met it.

use crate::Result;
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgConnection, PgPool, Row};
use std::collections::{BTreeMap, HashSet};

/// How exposure is measured.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ExposurePolicy {
    /// Edges walked from a flagged wallet (1: its direct counterparties).
    pub max_hops: u8,
    /// A wallet with more counterparties than this is not walked through.
    pub hub_degree: u32,
}

impl Default for ExposurePolicy {
    fn default() -> Self {
        Self {
            max_hops: 2,
            hub_degree: 50,
        }
    }
}

/// Records the wallet-to-wallet flows of the transactions `signatures`; answers how many new
/// pairs of wallets it found (exposure is marked stale when any).
pub async fn record_edges(conn: &mut PgConnection, signatures: &[Vec<u8>]) -> Result<u64> {
    if signatures.is_empty() {
        return Ok(0);
    }
    let rows = sqlx::query(
        "SELECT c.signature, t.slot, c.mint, c.owner, sum(c.post - c.pre)
         FROM chain.token_balance_change c JOIN chain.transaction t USING (signature)
         WHERE c.signature = ANY($1) AND c.owner IS NOT NULL AND NOT t.failed
           AND c.owner NOT IN (SELECT wallet FROM compliance.hub WHERE wallet IS NOT NULL)
         GROUP BY 1, 2, 3, 4",
    )
    .bind(signatures)
    .fetch_all(&mut *conn)
    .await?;
    // Per (transaction, mint): who sent and who received.
    type Flows = (i64, Vec<[u8; 32]>, Vec<[u8; 32]>);
    let mut flows: BTreeMap<(Vec<u8>, Vec<u8>), Flows> = BTreeMap::new();
    for r in &rows {
        let owner: Vec<u8> = r.get(3);
        let Ok(key) = Pubkey::try_from(owner.as_slice()) else {
            continue;
        };
        // Program accounts (vaults, pools) are off-curve: never an endpoint.
        if !key.is_on_curve() {
            continue;
        }
        let delta: rust_decimal::Decimal = r.get(4);
        let f = flows
            .entry((r.get(0), r.get(2)))
            .or_insert_with(|| (r.get(1), Vec::new(), Vec::new()));
        if delta.is_sign_negative() {
            f.1.push(key.to_bytes());
        } else if !delta.is_zero() {
            f.2.push(key.to_bytes());
        }
    }
    let mut a = Vec::new();
    let mut b = Vec::new();
    let mut sig = Vec::new();
    let mut slot = Vec::new();
    let mut seen = HashSet::new();
    for ((signature, _), (s, senders, receivers)) in &flows {
        for x in senders {
            for y in receivers {
                if x == y {
                    continue;
                }
                let (lo, hi) = if x < y { (x, y) } else { (y, x) };
                if seen.insert((*lo, *hi, signature.clone())) {
                    a.push(lo.to_vec());
                    b.push(hi.to_vec());
                    sig.push(signature.clone());
                    slot.push(*s);
                }
            }
        }
    }
    if a.is_empty() {
        return Ok(0);
    }
    let new: i64 = sqlx::query_scalar(
        "WITH up AS (
             INSERT INTO compliance.edge AS e (a, b, transfers, first_signature, last_slot)
             SELECT a, b, count(*), (array_agg(s ORDER BY sl, s))[1], max(sl)
             FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::int8[]) AS t(a, b, s, sl)
             GROUP BY a, b
             ON CONFLICT (a, b) DO UPDATE
                 SET transfers = e.transfers + excluded.transfers,
                     last_slot = greatest(e.last_slot, excluded.last_slot)
             RETURNING (xmax = 0) AS inserted),
         marked AS (
             UPDATE compliance.state SET exposure_dirty = true
             WHERE EXISTS (SELECT 1 FROM up WHERE inserted))
         SELECT count(*) FILTER (WHERE inserted) FROM up",
    )
    .bind(&a)
    .bind(&b)
    .bind(&sig)
    .bind(&slot)
    .fetch_one(&mut *conn)
    .await?;
    Ok(new as u64)
}

/// Rebuilds the exposure table when something it depends on changed (or `force`); answers
/// how many wallets are exposed, `None` when nothing had changed.
pub async fn rebuild_exposure(
    pool: &PgPool,
    policy: ExposurePolicy,
    force: bool,
) -> Result<Option<u64>> {
    let mut tx = pool.begin().await?;
    let n = rebuild_exposure_in(&mut tx, policy, force).await?;
    tx.commit().await?;
    Ok(n)
}

/// [`rebuild_exposure`] inside the caller's transaction. The state row stays locked until it
/// commits, so a change made meanwhile marks exposure stale again afterwards instead of being
/// lost.
pub async fn rebuild_exposure_in(
    conn: &mut PgConnection,
    policy: ExposurePolicy,
    force: bool,
) -> Result<Option<u64>> {
    let dirty: bool = sqlx::query_scalar("SELECT exposure_dirty FROM compliance.state FOR UPDATE")
        .fetch_one(&mut *conn)
        .await?;
    if !dirty && !force {
        return Ok(None);
    }
    sqlx::query("DELETE FROM compliance.exposure")
        .execute(&mut *conn)
        .await?;
    let n = sqlx::query(
        "WITH RECURSIVE
         flagged AS (SELECT DISTINCT ON (wallet) wallet, reason FROM compliance.flagged
                     WHERE wallet IS NOT NULL ORDER BY wallet, reason),
         nbr AS (SELECT a AS x, b AS y FROM compliance.edge
                 UNION ALL SELECT b, a FROM compliance.edge),
         busy AS (SELECT x FROM nbr GROUP BY x HAVING count(*) > $2),
         walk (wallet, hops, source, reason, path) AS (
             SELECT wallet::bytea, 0, wallet::bytea, reason, ARRAY[wallet::bytea] FROM flagged
             UNION ALL
             SELECT n.y::bytea, w.hops + 1, w.source, w.reason, w.path || n.y::bytea
             FROM walk w JOIN nbr n ON n.x = w.wallet
             WHERE w.hops < $1 AND NOT n.y = ANY (w.path)
               AND (w.hops = 0 OR w.wallet NOT IN (SELECT x FROM busy)))
         INSERT INTO compliance.exposure (wallet, hops, source, reason, path)
         SELECT DISTINCT ON (wallet) wallet, hops, source, reason, path FROM walk
         WHERE hops >= 1 AND wallet NOT IN (SELECT wallet FROM flagged)
         ORDER BY wallet, hops, source",
    )
    .bind(policy.max_hops as i32)
    .bind(policy.hub_degree as i64)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    sqlx::query("UPDATE compliance.state SET exposure_dirty = false, exposure_at = now()")
        .execute(&mut *conn)
        .await?;
    Ok(Some(n))
}
