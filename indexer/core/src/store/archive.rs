//! Archiving raw history (docs/operations.md, "Archiving raw history"). The raw tables are
//! range-partitioned by slot (`chain.partition` lists the ranges); a partition whose slots all
//! lie below the caller's bound and whose transactions are all settled (finalized, or reverted
//! after a fork) is exported with `COPY` to one CSV file per table, and then detached and
//! dropped in the same database transaction, with its live events' `chain.entity_seq` keys.
//! The projections (`chain.payment` and the others), the ledger and every queue stay.
//!
//! The export happens while the partition's own tables are locked against writes (reads of the
//! whole tables go on); the parent tables are locked only for the detach at the end. The files
//! are synced before the commit: a crash leaves either the partition in place (and files that
//! the next run overwrites) or the partition gone and its files complete.

use super::StoreError;
use futures_util::TryStreamExt as _;
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

/// One archived partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    /// Its slots: `lower..upper`.
    pub lower: u64,
    pub upper: u64,
    /// Each raw table's file and how many rows it holds, in [`RAW_TABLES`] order.
    pub files: Vec<(PathBuf, u64)>,
}

/// Why archiving stopped before the bound.
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
/// `dir` (created if missing). Stops at the first partition that still holds a transaction
/// that is not finalized, after committing the ones before it.
pub async fn archive(
    pool: &PgPool,
    before_slot: u64,
    dir: &Path,
) -> Result<Vec<Archived>, ArchiveError> {
    std::fs::create_dir_all(dir).map_err(|e| ArchiveError::File(dir.to_path_buf(), e))?;
    let dir = dir
        .canonicalize()
        .map_err(|e| ArchiveError::File(dir.to_path_buf(), e))?;
    let mut done = Vec::new();
    for (lower, upper) in partitions(pool).await? {
        if upper > before_slot {
            break;
        }
        let mut tx = pool.begin().await?;
        // Writes to this partition wait (a late backfill into it); reads of the tables go on.
        for t in RAW_TABLES {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "LOCK TABLE chain.{} IN SHARE MODE",
                part(t, lower)
            )))
            .execute(&mut *tx)
            .await?;
        }
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
                done: done.len(),
            });
        }
        let mut files = Vec::new();
        for t in RAW_TABLES {
            let path = dir.join(format!("{}.csv", part(t, lower)));
            let mut file = std::io::BufWriter::new(
                std::fs::File::create(&path).map_err(|e| ArchiveError::File(path.clone(), e))?,
            );
            let mut stream = tx
                .copy_out_raw(&format!(
                    "COPY chain.{} TO STDOUT (FORMAT csv, HEADER)",
                    part(t, lower)
                ))
                .await?;
            while let Some(chunk) = stream.try_next().await? {
                file.write_all(&chunk)
                    .map_err(|e| ArchiveError::File(path.clone(), e))?;
            }
            drop(stream);
            let file = file
                .into_inner()
                .map_err(|e| ArchiveError::File(path.clone(), e.into_error()))?;
            file.sync_all()
                .map_err(|e| ArchiveError::File(path.clone(), e))?;
            let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT count(*) FROM chain.{}",
                part(t, lower)
            )))
            .fetch_one(&mut *tx)
            .await?;
            files.push((path, rows as u64));
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
        tracing::info!(lower, upper, dir = %dir.display(), "raw partition archived");
        done.push(Archived {
            lower,
            upper,
            files,
        });
    }
    Ok(done)
}

/// The name of `table`'s partition that starts at `lower` (as `chain.ensure_partitions` names
/// it).
pub fn part(table: &str, lower: u64) -> String {
    format!("{table}_{lower:012}")
}
