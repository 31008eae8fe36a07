//! The wallet graph: token flows between wallets in the transactions the indexer has stored,
//! and each wallet's exposure to flagged wallets through it, precomputed so that screening is
//! one lookup.
//!
//! An edge joins a wallet whose balance of a mint fell in a transaction to a wallet whose
//! balance of the same mint rose in it. Hubs are never endpoints: program accounts (escrow
//! vaults, pools; their owners are off-curve keys), merchants' settlement wallets and
//! authorities, Kassa's own keys and the treasury (`compliance.hub`). Exposure walks at most
//! `max_hops` edges from a flagged wallet and never through a wallet with more than
//! `hub_degree` counterparties, so a busy wallet does not flag everyone who ever met it. New
//! edges extend it from their ends ([`extend_exposure`]); a full rebuild runs when what it
//! starts from changes (a list, the blocklist, a disposition) or a wallet becomes busy.

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

/// A pair of wallets newly joined by a flow.
pub type Edge = (Vec<u8>, Vec<u8>);

/// Records the wallet-to-wallet flows of the transactions `signatures`; answers the pairs of
/// wallets joined for the first time (for [`extend_exposure`]).
pub async fn record_edges(conn: &mut PgConnection, signatures: &[Vec<u8>]) -> Result<Vec<Edge>> {
    if signatures.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT c.signature, t.slot, c.mint, c.owner, sum(c.post - c.pre)
         FROM chain.transaction t JOIN chain.token_balance_change c USING (signature, slot)
         WHERE t.signature = ANY($1) AND c.owner IS NOT NULL AND NOT t.failed
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
        return Ok(Vec::new());
    }
    let new: Vec<Edge> = sqlx::query_as(
        "WITH up AS (
             INSERT INTO compliance.edge AS e (a, b, transfers, first_signature, last_slot)
             SELECT a, b, count(*), (array_agg(s ORDER BY sl, s))[1], max(sl)
             FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::int8[]) AS t(a, b, s, sl)
             GROUP BY a, b
             ON CONFLICT (a, b) DO UPDATE
                 SET transfers = e.transfers + excluded.transfers,
                     last_slot = greatest(e.last_slot, excluded.last_slot)
             RETURNING a, b, (xmax = 0) AS inserted)
         SELECT a::bytea, b::bytea FROM up WHERE inserted",
    )
    .bind(&a)
    .bind(&b)
    .bind(&sig)
    .bind(&slot)
    .fetch_all(&mut *conn)
    .await?;
    Ok(new)
}

/// Extends the exposure table with what `new` edges change, walking from their ends only (a
/// flagged end, or an exposed one, reaches further through the new edge); nearer paths replace
/// farther ones. Edges are never removed, so exposure only grows here, except when a new edge
/// makes a wallet busy (more counterparties than `hub_degree`): paths through it no longer
/// count, and a full rebuild is asked for (`compliance.state.exposure_dirty`). Answers how many
/// wallets' exposure was written.
pub async fn extend_exposure(
    conn: &mut PgConnection,
    policy: ExposurePolicy,
    new: &[Edge],
) -> Result<u64> {
    if new.is_empty() {
        return Ok(0);
    }
    let mut added: std::collections::HashMap<&[u8], i64> = std::collections::HashMap::new();
    for (a, b) in new {
        *added.entry(a.as_slice()).or_default() += 1;
        *added.entry(b.as_slice()).or_default() += 1;
    }
    let ends: Vec<Vec<u8>> = added.keys().map(|k| k.to_vec()).collect();
    let degrees: Vec<(Vec<u8>, i64)> =
        sqlx::query_as("SELECT w, compliance.degree(w) FROM unnest($1::bytea[]) AS w")
            .bind(&ends)
            .fetch_all(&mut *conn)
            .await?;
    let cap = i64::from(policy.hub_degree);
    let became_busy = degrees
        .iter()
        .any(|(w, d)| *d > cap && d - added.get(w.as_slice()).copied().unwrap_or(0) <= cap);
    if became_busy {
        sqlx::query("UPDATE compliance.state SET exposure_dirty = true")
            .execute(&mut *conn)
            .await?;
        return Ok(0);
    }
    let n = sqlx::query(
        "WITH RECURSIVE
         ends AS (SELECT DISTINCT w FROM unnest($1::bytea[]) AS w),
         seeds AS (
             SELECT w AS wallet, 0 AS hops, w AS source, r AS reason, ARRAY[w] AS path
             FROM ends, LATERAL compliance.flag_reason(w) AS r
             WHERE r IS NOT NULL
             UNION ALL
             SELECT x.wallet::bytea, x.hops::int, x.source::bytea, x.reason, x.path
             FROM compliance.exposure x JOIN ends ON ends.w = x.wallet
             WHERE x.hops < $2),
         walk (wallet, hops, source, reason, path) AS (
             SELECT * FROM seeds
             UNION ALL
             SELECT n.y, w.hops + 1, w.source, w.reason, w.path || n.y
             FROM walk w
             CROSS JOIN LATERAL (
                 SELECT b::bytea AS y FROM compliance.edge WHERE a = w.wallet
                 UNION ALL
                 SELECT a::bytea FROM compliance.edge WHERE b = w.wallet) n
             WHERE w.hops < $2 AND NOT n.y = ANY (w.path)
               AND (w.hops = 0 OR compliance.degree(w.wallet) <= $3)),
         best AS (
             SELECT DISTINCT ON (wallet) wallet, hops, source, reason, path FROM walk
             WHERE hops >= 1 ORDER BY wallet, hops, source)
         INSERT INTO compliance.exposure AS e (wallet, hops, source, reason, path)
         SELECT wallet, hops, source, reason, path FROM best
         WHERE compliance.flag_reason(wallet) IS NULL
         ON CONFLICT (wallet) DO UPDATE
             SET hops = excluded.hops, source = excluded.source, reason = excluded.reason,
                 path = excluded.path
             WHERE excluded.hops < e.hops",
    )
    .bind(&ends)
    .bind(i32::from(policy.max_hops))
    .bind(cap)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    Ok(n)
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
