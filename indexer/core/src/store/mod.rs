//! Postgres: the batch apply (raw rows, projections and cursor in one database transaction),
//! finality marks and the rollback of transactions that never finalize, and the cluster claim.
//!
//! - [`ingest`]: a batch of decoded transactions as the rows of the raw tables, inserted
//!   exactly once (a transaction row goes in with `ON CONFLICT DO NOTHING`, and only the
//!   transactions that were new have their instructions, events and projections applied, so
//!   replaying anything is a no-op);
//! - [`projection`]: the projection rows of the entities a batch touched, folded and written;
//! - [`finality`]: confirmed → finalized, or rolled back when the cluster forgot it;
//! - [`cluster`]: one database mirrors one cluster;
//! - [`lease`]: one writer per stream when several processes share the database;
//! - [`archive`]: old slot partitions of the raw tables exported to files and dropped.

pub mod archive;
pub mod cluster;
pub mod finality;
pub mod ingest;
pub mod lease;
pub mod projection;

pub use archive::{archive, ArchiveError, Archived};
pub use cluster::claim_cluster;
pub use finality::{mark_finalized, revert, unfinalized};
pub use ingest::{apply, apply_batch, Batch};
pub use lease::Lease;
pub use projection::{project, rows, Touched};

use solana_sdk::{pubkey::Pubkey, signature::Signature};
use sqlx::{postgres::PgPoolOptions, PgPool, Row as _};
use std::{collections::HashSet, time::Duration};

pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations");

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
    #[error(
        "this process no longer holds the lease of the {0} stream: another indexer took it over"
    )]
    LeaseLost(String),
}

/// Connects with a small pool (4 connections) and applies the migrations.
pub async fn connect(url: &str) -> Result<PgPool, StoreError> {
    connect_with(url, 4).await
}

/// Connects with a pool of at most `max_connections` and applies the migrations.
pub async fn connect_with(url: &str, max_connections: u32) -> Result<PgPool, StoreError> {
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
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
    let row = sqlx::query("SELECT slot FROM chain.cursor WHERE program = $1")
        .bind(program.as_ref())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|r| r.get::<i64, _>(0) as u64))
}

/// Sets the starting point of a backfill, unless a cursor already exists.
pub async fn seed_cursor(pool: &PgPool, program: &Pubkey, slot: u64) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO chain.cursor (program, slot) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(program.as_ref())
        .bind(slot as i64)
        .execute(pool)
        .await?;
    Ok(())
}

/// Records that every transaction of `stream` at or below `slot` is stored (never moves back).
pub async fn mark_synced(pool: &PgPool, stream: &str, slot: u64) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO chain.stream_sync (stream, slot, synced_at) VALUES ($1, $2, now())
         ON CONFLICT (stream) DO UPDATE
         SET slot = greatest(chain.stream_sync.slot, EXCLUDED.slot), synced_at = now()",
    )
    .bind(stream)
    .bind(i64::try_from(slot).unwrap_or(i64::MAX))
    .execute(pool)
    .await?;
    Ok(())
}

/// Which of the landings `(signature, slot)` are stored already (a signature stored in
/// another slot is a landing on an abandoned fork, not this one).
pub async fn landed(
    pool: &PgPool,
    landings: &[(Signature, u64)],
) -> Result<HashSet<(Signature, u64)>, StoreError> {
    let (signatures, slots): (Vec<&[u8]>, Vec<i64>) = landings
        .iter()
        .map(|(s, slot)| (s.as_ref(), *slot as i64))
        .unzip();
    sqlx::query(
        "SELECT signature, slot FROM chain.transaction
         WHERE signature = ANY($1) AND (signature, slot) IN (SELECT * FROM unnest($1, $2))",
    )
    .bind(signatures)
    .bind(slots)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|r| Ok((signature(r.get(0))?, r.get::<i64, _>(1) as u64)))
    .collect()
}

/// The end of the newest archived partition (0: none is archived). The archive takes the
/// oldest partitions first.
pub async fn archived_below(pool: &PgPool) -> Result<u64, StoreError> {
    let upper: Option<i64> =
        sqlx::query_scalar("SELECT max(upper) FROM chain.partition WHERE archived_at IS NOT NULL")
            .fetch_one(pool)
            .await?;
    Ok(upper.unwrap_or(0).max(0) as u64)
}

/// Which of `signatures` are stored already, in any slot.
pub async fn known(
    pool: &PgPool,
    signatures: &[Signature],
) -> Result<HashSet<Signature>, StoreError> {
    let bytes: Vec<&[u8]> = signatures.iter().map(|s| s.as_ref()).collect();
    sqlx::query("SELECT signature FROM chain.transaction WHERE signature = ANY($1)")
        .bind(bytes)
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| signature(r.get(0)))
        .collect()
}

/// A signature read back from a `chain.signature` column.
pub(crate) fn signature(bytes: &[u8]) -> Result<Signature, StoreError> {
    Signature::try_from(bytes)
        .map_err(|_| StoreError::Corrupt(format!("a signature of {} bytes", bytes.len())))
}

/// An address read back from a `chain.pubkey` column.
pub(crate) fn pubkey(bytes: &[u8]) -> Result<Pubkey, StoreError> {
    Pubkey::try_from(bytes)
        .map_err(|_| StoreError::Corrupt(format!("an address of {} bytes", bytes.len())))
}

/// The cursor an apply moves forward with its data.
#[derive(Debug, Clone)]
pub struct CursorUpdate {
    pub program: Pubkey,
    pub slot: u64,
    pub signature: Option<Signature>,
}
