//! Archiving raw history (docs/operations.md, "Archiving raw history"). The raw tables are
//! range-partitioned by slot (`chain.partition` lists the ranges). A partition whose slots all
//! lie below the caller's bound leaves the database in four steps:
//!
//! 1. **Checks**, in one snapshot: every transaction in it is finalized or reverted, and no
//!    queue (webhook outbox, settlement and compliance inboxes, open booking exceptions) still
//!    names one of its events.
//! 2. **Checkpoints:** each entity with live events in it gets its projection folded up to its
//!    newest event there (`chain.checkpoint`), so that a later rebuild (a rollback, events out
//!    of order) folds the remaining history on top of it instead of from sequence 0.
//! 3. **Export**, in one repeatable-read snapshot and without locks: one CSV file per table
//!    (header included, loadable with `COPY FROM`), each synced, then the directory.
//! 4. **Drop**, in one short database transaction: the parent tables are locked (waiting at
//!    most `LOCK_TIMEOUT`, so that reads do not queue behind it for long), the partition is
//!    checked to hold what was exported, its live `(entity, seq)` keys leave
//!    `chain.entity_seq`, its tables are detached and dropped, and `chain.partition` records
//!    when and where it went.
//!
//! A crash leaves either the partition in place (files and checkpoints that the next run
//! writes again: a checkpoint of settled events is what any later fold of them gives) or the
//! partition gone and its files complete. The projections, the ledger and the queues stay.

use super::{
    projection::{checkpoint_row, fold_from, stored_event},
    StoreError,
};
use crate::projection::Row;
use futures_util::TryStreamExt as _;
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgPool, Row as _};
use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

/// The raw tables, each partitioned by slot in the same ranges.
pub const RAW_TABLES: [&str; 5] = [
    "transaction",
    "instruction",
    "event",
    "token_balance_change",
    "parked",
];

/// How long the drop waits for the parent tables before giving up (and trying again on the
/// next run).
pub const LOCK_TIMEOUT: &str = "10s";

/// One archived partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    /// Its slots: `lower..upper`.
    pub lower: u64,
    pub upper: u64,
    /// Each raw table's file and how many rows it holds, in [`RAW_TABLES`] order.
    pub files: Vec<(PathBuf, u64)>,
    /// Entities whose checkpoint it wrote.
    pub checkpoints: u64,
}

/// Why archiving stopped before the bound (the partitions before it stay archived).
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing {0}: {1}")]
    File(PathBuf, std::io::Error),
    #[error(
        "the partition of slots [{lower}, {upper}) still has {pending} transactions that are \
         not finalized: the finality pass settles them first ({done} partitions were archived \
         before it)"
    )]
    NotSettled {
        lower: u64,
        upper: u64,
        pending: i64,
        done: usize,
    },
    #[error(
        "the partition of slots [{lower}, {upper}) still has {queued} events waiting in the \
         webhook outbox, the settlement or compliance inbox or the open booking exceptions: \
         the workers handle them first ({done} partitions were archived before it)"
    )]
    Queued {
        lower: u64,
        upper: u64,
        queued: i64,
        done: usize,
    },
    #[error(
        "entity {entity} cannot be checkpointed: its live history up to the partition of slots \
         [{lower}, {upper}) does not fold ({reason}); it is left unprojected and its events \
         stay ({done} partitions were archived before it)"
    )]
    Unfoldable {
        entity: Pubkey,
        lower: u64,
        upper: u64,
        reason: String,
        done: usize,
    },
    #[error(
        "the partition of slots [{lower}, {upper}) changed while it was exported ({exported} \
         transactions exported, {now} now): run the archive again"
    )]
    Changed {
        lower: u64,
        upper: u64,
        exported: i64,
        now: i64,
    },
}

impl From<sqlx::Error> for ArchiveError {
    fn from(e: sqlx::Error) -> Self {
        Self::Store(e.into())
    }
}

/// The live partitions' slot ranges, oldest first: (lower, upper).
pub async fn partitions(pool: &PgPool) -> Result<Vec<(u64, u64)>, StoreError> {
    Ok(sqlx::query(
        "SELECT lower, upper FROM chain.partition WHERE archived_at IS NULL ORDER BY lower",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| (r.get::<i64, _>(0) as u64, r.get::<i64, _>(1) as u64))
    .collect())
}

/// Archives, oldest first, every live partition whose slots all lie below `before_slot`, into
/// `dir` (created if missing). Stops at the first partition that cannot go yet, after
/// committing the ones before it; `done` receives each one as it is committed.
pub async fn archive(
    pool: &PgPool,
    before_slot: u64,
    dir: &Path,
    mut done: impl FnMut(&Archived),
) -> Result<Vec<Archived>, ArchiveError> {
    std::fs::create_dir_all(dir).map_err(|e| ArchiveError::File(dir.to_path_buf(), e))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| ArchiveError::File(dir.to_path_buf(), e))?;
    let mut archived = Vec::new();
    for (lower, upper) in partitions(pool).await? {
        if upper > before_slot {
            break;
        }
        let n = archived.len();
        check(pool, lower, upper, n).await?;
        let checkpoints = checkpoint(pool, lower, upper, n).await?;
        let (files, transactions) = export(pool, lower, &dir).await?;
        drop_partition(pool, lower, upper, transactions, &dir).await?;
        tracing::info!(lower, upper, dir = %dir.display(), "raw partition archived");
        let a = Archived {
            lower,
            upper,
            files,
            checkpoints,
        };
        done(&a);
        archived.push(a);
    }
    Ok(archived)
}

/// Step 1: settled, and nothing queued.
async fn check(pool: &PgPool, lower: u64, upper: u64, done: usize) -> Result<(), ArchiveError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let pending: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM chain.{} WHERE commitment = 'confirmed'",
        part("transaction", lower)
    )))
    .fetch_one(&mut *tx)
    .await?;
    if pending > 0 {
        return Err(ArchiveError::NotSettled {
            lower,
            upper,
            pending,
            done,
        });
    }
    let queued: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM webhooks.outbox WHERE slot >= $1 AND slot < $2)
              + (SELECT count(*) FROM settlement.inbox WHERE slot >= $1 AND slot < $2)
              + (SELECT count(*) FROM compliance.inbox WHERE slot >= $1 AND slot < $2)
              + (SELECT count(*) FROM settlement.booking_exception
                 WHERE resolved_at IS NULL AND slot >= $1 AND slot < $2)",
    )
    .bind(lower as i64)
    .bind(upper as i64)
    .fetch_one(&mut *tx)
    .await?;
    if queued > 0 {
        return Err(ArchiveError::Queued {
            lower,
            upper,
            queued,
            done,
        });
    }
    Ok(())
}

/// Step 2: each entity with live events in the partition folded up to its newest one there,
/// on top of its previous checkpoint; returns how many were written.
async fn checkpoint(
    pool: &PgPool,
    lower: u64,
    upper: u64,
    done: usize,
) -> Result<u64, ArchiveError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await?;
    // An entity's events by sequence: a later sequence never lies in an earlier slot, so the
    // ones up to its newest here are all in this partition or older ones, and all settled.
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH here AS (SELECT entity, max(seq) AS upto FROM chain.{} WHERE NOT reverted
                       GROUP BY entity)
         SELECT h.entity, c.kind, c.seq, c.state::text, e.program, e.raw
         FROM here h
         LEFT JOIN chain.checkpoint c USING (entity)
         JOIN chain.event e ON e.entity = h.entity AND NOT e.reverted
                           AND e.seq > coalesce(c.seq, -1) AND e.seq <= h.upto
         ORDER BY h.entity, e.seq",
        part("event", lower)
    )))
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Checkpoints::default();
    let mut i = 0;
    while i < rows.len() {
        let entity_bytes: Vec<u8> = rows[i].get(0);
        let entity = super::pubkey(&entity_bytes)?;
        let j = rows[i..]
            .iter()
            .position(|r| r.get::<&[u8], _>(0) != entity_bytes.as_slice())
            .map_or(rows.len(), |k| i + k);
        let (state, after) = match rows[i].get::<Option<String>, _>(1) {
            Some(kind) => (
                Some(checkpoint_row(
                    &entity,
                    &kind,
                    &rows[i].get::<String, _>(3),
                )?),
                rows[i].get::<i64, _>(2),
            ),
            None => (None, -1),
        };
        let mut events = Vec::with_capacity(j - i);
        for r in &rows[i..j] {
            events.push(stored_event(&entity, r.get(4), r.get(5))?);
        }
        let row: Row = match fold_from(state, after, &events) {
            Ok(Some(row)) => row,
            Ok(None) => unreachable!("a fold of at least one event is a row"),
            Err(e) => {
                return Err(ArchiveError::Unfoldable {
                    entity,
                    lower,
                    upper,
                    reason: e.to_string(),
                    done,
                })
            }
        };
        let state = serde_json::to_string(&row).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        out.entity.push(entity_bytes);
        out.kind.push(row.kind().name());
        out.seq.push(row.seq());
        out.state.push(state);
        i = j;
    }
    let n = out.entity.len();
    for a in (0..n).step_by(10_000) {
        let b = (a + 10_000).min(n);
        sqlx::query(
            "INSERT INTO chain.checkpoint (entity, kind, seq, state)
             SELECT e, k, s, j::jsonb FROM unnest($1::bytea[], $2::text[], $3::int8[], $4::text[])
                  AS t(e, k, s, j)
             ON CONFLICT (entity) DO UPDATE
             SET kind = EXCLUDED.kind, seq = EXCLUDED.seq, state = EXCLUDED.state
             WHERE chain.checkpoint.seq <= EXCLUDED.seq",
        )
        .bind(&out.entity[a..b])
        .bind(&out.kind[a..b])
        .bind(&out.seq[a..b])
        .bind(&out.state[a..b])
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(n as u64)
}

/// Checkpoint rows as the columns of `chain.checkpoint`.
#[derive(Default)]
struct Checkpoints {
    entity: Vec<Vec<u8>>,
    kind: Vec<&'static str>,
    seq: Vec<i64>,
    state: Vec<String>,
}

/// Step 3: the partition's tables to CSV files in `dir`, in one snapshot; returns the files
/// with their row counts, and the count of transactions exported.
async fn export(
    pool: &PgPool,
    lower: u64,
    dir: &Path,
) -> Result<(Vec<(PathBuf, u64)>, i64), ArchiveError> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let mut files = Vec::new();
    for t in RAW_TABLES {
        let path = dir.join(format!("{}.csv", part(t, lower)));
        let failed = |e| ArchiveError::File(path.clone(), e);
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(failed)?);
        let mut stream = tx
            .copy_out_raw(&format!(
                "COPY chain.{} TO STDOUT (FORMAT csv, HEADER)",
                part(t, lower)
            ))
            .await?;
        while let Some(chunk) = stream.try_next().await? {
            file.write_all(&chunk).map_err(failed)?;
        }
        drop(stream);
        let file = file.into_inner().map_err(|e| failed(e.into_error()))?;
        file.sync_all().map_err(failed)?;
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM chain.{}",
            part(t, lower)
        )))
        .fetch_one(&mut *tx)
        .await?;
        files.push((path, rows as u64));
    }
    tx.commit().await?;
    // The files' directory entries too, before anything is dropped.
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| ArchiveError::File(dir.to_path_buf(), e))?;
    let transactions = files[0].1 as i64;
    Ok((files, transactions))
}

/// Step 4: the partition detached and dropped, if it still holds what was exported.
async fn drop_partition(
    pool: &PgPool,
    lower: u64,
    upper: u64,
    exported: i64,
    dir: &Path,
) -> Result<(), ArchiveError> {
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"
    )))
    .execute(&mut *tx)
    .await?;
    // The parents first, in one statement: the order every other statement locks them in
    // (parent, then partitions), so the drop waits or times out but never deadlocks.
    sqlx::query(
        "LOCK TABLE chain.transaction, chain.instruction, chain.event, chain.token_balance_change,
                    chain.parked IN ACCESS EXCLUSIVE MODE",
    )
    .execute(&mut *tx)
    .await?;
    // Rows only ever arrive with a transaction row, and settled rows never change.
    let now: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM chain.{}",
        part("transaction", lower)
    )))
    .fetch_one(&mut *tx)
    .await?;
    if now != exported {
        return Err(ArchiveError::Changed {
            lower,
            upper,
            exported,
            now,
        });
    }
    // The live keys leave with their events: an entity's later events carry higher
    // sequences, so nothing can collide with them.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM chain.entity_seq k USING chain.{} e
         WHERE (k.entity, k.seq) = (e.entity, e.seq) AND NOT e.reverted",
        part("event", lower)
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM chain.reverted_key WHERE slot >= $1 AND slot < $2")
        .bind(lower as i64)
        .bind(upper as i64)
        .execute(&mut *tx)
        .await?;
    for t in RAW_TABLES {
        let p = part(t, lower);
        for sql in [
            format!("ALTER TABLE chain.{t} DETACH PARTITION chain.{p}"),
            format!("DROP TABLE chain.{p}"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await?;
        }
    }
    sqlx::query(
        "UPDATE chain.partition SET archived_at = now(), archived_to = $2 WHERE lower = $1",
    )
    .bind(lower as i64)
    .bind(dir.to_string_lossy().as_ref())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The name of `table`'s partition that starts at `lower` (as `chain.ensure_partitions` names
/// it).
pub fn part(table: &str, lower: u64) -> String {
    format!("{table}_{lower:012}")
}
