//! kassa-indexer: mirrors the Kassa programs into Postgres, exactly once.
//!
//! `source` lists and fetches transactions over JSON-RPC, `decode` turns them into rows,
//! `store` applies a batch (raw rows, projections, cursor) in one database transaction,
//! the finality pass marks finalized transactions and rolls back those that never finalize,
//! and `reconcile` compares the projections with the program accounts on chain.

pub mod decode;
pub mod idl;
pub mod metrics;
pub mod projection;
pub mod reconcile;
pub mod source;
pub mod store;

use decode::{decode_transaction, DecodedTx, Parked};
use futures_util::{stream, StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use kassa_sdk::programs::KassaProgram;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::pubkey::Pubkey;
use source::{Listed, Source, SourceError, Status};
use sqlx::PgPool;
use std::time::Duration;
use store::{Batch, CursorUpdate, StoreError};

pub use metrics::Metrics;

#[derive(Debug, thiserror::Error)]
pub enum IndexerError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("preparing a batch failed: {0}")]
    Prepare(#[from] tokio::task::JoinError),
}

/// A batch of decoded transactions and the cursor that moves with it.
pub type Chunk = (Vec<DecodedTx>, CursorUpdate);

/// Applies `batches` in order, each with its cursor in one database transaction, while the
/// following ones are produced (fetched, decoded) and prepared on another thread, up to two
/// ahead: Postgres never waits for the client's CPU work. `applied` is called after each
/// commit. The first error stops both sides; everything before it stays committed and
/// nothing after it is stored, so the cursor never passes a batch that was not applied.
pub async fn apply_in_order<S>(
    pool: &PgPool,
    batches: S,
    lease: Option<&store::Lease>,
    mut applied: impl FnMut(&store::Applied, &CursorUpdate),
) -> Result<(), IndexerError>
where
    S: futures_util::Stream<Item = Result<Chunk, IndexerError>>,
{
    let (send, mut recv) = tokio::sync::mpsc::channel::<Result<_, IndexerError>>(2);
    let produce = async move {
        tokio::pin!(batches);
        while let Some(item) = batches.next().await {
            let item = match item {
                Ok((txs, cursor)) => tokio::task::spawn_blocking(move || Batch::prepare(txs))
                    .await
                    .map(|b| (b, cursor))
                    .map_err(IndexerError::from),
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if send.send(item).await.is_err() || failed {
                break;
            }
        }
    };
    // `recv` moves into the consumer so that its failure closes the channel and stops the
    // producer instead of leaving it blocked on a full channel.
    let consume = async move {
        let mut db = pool.acquire().await.map_err(StoreError::from)?;
        while let Some(item) = recv.recv().await {
            let (batch, cursor) = item?;
            let a = store::apply_batch(&mut db, &batch, Some(&cursor), lease).await?;
            applied(&a, &cursor);
            // Freeing a batch's allocations is not the database's business: off the path.
            tokio::task::spawn_blocking(move || drop(batch));
        }
        Ok(())
    };
    let ((), result) = tokio::join!(produce, consume);
    result
}

/// How the indexer reads the chain.
#[derive(Debug, Clone)]
pub struct IndexerConfig {
    /// Transactions per database transaction.
    pub batch_size: usize,
    /// `getTransaction` calls in flight.
    pub concurrency: usize,
    /// Pause between passes when following the tip.
    pub poll: Duration,
    /// Where a first run starts (0: the whole history).
    pub from_slot: u64,
    /// Show a progress bar for backfills.
    pub progress: bool,
    /// How long this process's hold on a stream lasts without renewal; another process takes
    /// a stream over this long after its holder stopped.
    pub lease_ttl: Duration,
}

impl Default for IndexerConfig {
    fn default() -> Self {
        Self {
            // Measured (docs/indexer.md): 2,000 against 250 is +19 % on the lifecycle
            // workload and +12 % on invoices, by fewer statements and commits per event.
            batch_size: 2_000,
            concurrency: 16,
            poll: Duration::from_millis(400),
            from_slot: 0,
            progress: false,
            lease_ttl: Duration::from_secs(15),
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub transactions: usize,
    pub events: usize,
    pub finalized: u64,
    pub reverted: usize,
}

pub struct Indexer {
    pub pool: PgPool,
    pub source: Source,
    pub config: IndexerConfig,
    pub metrics: Metrics,
    /// This process's name in the stream leases.
    pub holder: String,
    /// The database session that stands for this process in the leases while it lives, and
    /// its backend pid.
    anchor: tokio::sync::OnceCell<(tokio::sync::Mutex<sqlx::PgConnection>, i32)>,
    cluster_checked: std::sync::atomic::AtomicBool,
}

/// The stream the finality pass writes under.
pub const FINALITY_STREAM: &str = "finality";

impl Indexer {
    pub fn new(pool: PgPool, source: Source, config: IndexerConfig) -> Self {
        let host = std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_string())
            .unwrap_or_else(|_| "host".into());
        Self {
            pool,
            source,
            config,
            metrics: Metrics::default(),
            holder: format!(
                "{host}:{}:{:08x}",
                std::process::id(),
                rand::random::<u32>()
            ),
            anchor: tokio::sync::OnceCell::new(),
            cluster_checked: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The backend pid of this process's anchor session, opened on first use and kept for
    /// the indexer's life: other processes know this one is alive while it exists.
    async fn anchor_pid(&self) -> Result<i32, IndexerError> {
        let (_, pid) = self
            .anchor
            .get_or_try_init(|| async {
                let mut conn = self
                    .pool
                    .acquire()
                    .await
                    .map_err(StoreError::from)?
                    .detach();
                let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(StoreError::from)?;
                Ok::<_, IndexerError>((tokio::sync::Mutex::new(conn), pid))
            })
            .await?;
        Ok(*pid)
    }

    /// This process's lease on `stream`.
    pub async fn lease(&self, stream: &str) -> Result<store::Lease, IndexerError> {
        Ok(store::Lease::new(
            stream,
            self.holder.clone(),
            self.config.lease_ttl,
            self.anchor_pid().await?,
        ))
    }

    /// Gives up every lease this process holds, so another process takes over at once.
    pub async fn release_leases(&self) -> Result<(), IndexerError> {
        for stream in KassaProgram::ALL
            .iter()
            .map(|p| p.name())
            .chain([FINALITY_STREAM])
        {
            self.lease(stream).await?.release(&self.pool).await?;
        }
        Ok(())
    }

    /// Ingests everything new of every program, then runs the finality pass.
    pub async fn pass(&self) -> Result<Pass, IndexerError> {
        if !self
            .cluster_checked
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            let genesis = self.source.genesis_hash().await?;
            store::claim_cluster(&self.pool, &genesis).await?;
            self.cluster_checked
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let mut pass = Pass::default();
        // Everything at or below this slot is listed by the ingest below.
        let tip = self.source.slot(CommitmentConfig::confirmed()).await?;
        // Each stream is written by the one process holding its lease; the others skip it.
        let finality = self.lease(FINALITY_STREAM).await?;
        let finality_held = finality.acquire(&self.pool).await?;
        // Finality first: a transaction that never finalized must leave the live history
        // before a replacement carrying the same entity sequence numbers is stored.
        if finality_held {
            let (f, r) = self.finality(Some(&finality)).await?;
            pass.finalized = f;
            pass.reverted = r;
        }
        for program in KassaProgram::ALL {
            let lease = self.lease(program.name()).await?;
            if !lease.acquire(&self.pool).await? {
                continue;
            }
            let (t, e) = self.ingest_with(&program.id(), Some(&lease)).await?;
            store::mark_synced(&self.pool, program.name(), tip).await?;
            pass.transactions += t;
            pass.events += e;
        }
        // What this pass stored may already be final (a node without finality lag).
        if pass.transactions > 0 && finality_held {
            let (f, r) = self.finality(Some(&finality)).await?;
            pass.finalized += f;
            pass.reverted += r;
        }
        Ok(pass)
    }

    /// Follows the tip until `shutdown` resolves. A failed pass moves no cursor; it is logged
    /// and tried again after a pause, so an outage of the node or the database only delays.
    /// Streams another process holds are left to it; this one takes them over when their
    /// lease expires.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut failures = 0u32;
        loop {
            let pause = match self.pass().await {
                Ok(_) => {
                    failures = 0;
                    self.config.poll
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    self.metrics.pass_failures.inc();
                    tracing::error!(error = %e, failures, "indexer pass failed; nothing past the last commit was stored");
                    self.config.poll * failures.min(10)
                }
            };
            tokio::select! {
                _ = &mut shutdown => {
                    // A clean stop hands the streams over at once instead of at expiry.
                    if let Err(e) = self.release_leases().await {
                        tracing::warn!(error = %e, "could not release the stream leases; they expire by themselves");
                    }
                    return;
                }
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn fetch(
        &self,
        listed: &Listed,
        program: &Pubkey,
    ) -> Result<Option<DecodedTx>, IndexerError> {
        let Some(fetched) = self.source.transaction(&listed.signature).await? else {
            return Ok(None);
        };
        Ok(Some(match decode_transaction(&fetched) {
            Ok(t) => t,
            Err(e) => {
                // Not even the envelope decodes: keep the whole answer, parked.
                tracing::warn!(signature = %listed.signature, error = %e, "transaction parked");
                DecodedTx {
                    signature: listed.signature,
                    slot: listed.slot,
                    block_time: fetched.block_time,
                    failed: false,
                    fee: 0,
                    instructions: Vec::new(),
                    events: Vec::new(),
                    token_changes: Vec::new(),
                    parked: vec![Parked {
                        ix_index: 0,
                        inner_index: -1,
                        program: *program,
                        reason: e.to_string(),
                        raw: serde_json::to_vec(&fetched).unwrap_or_default(),
                    }],
                }
            }
        }))
    }

    /// Ingests the new transactions of one program, as the only writer (tests and tools).
    /// Returns (transactions, events) stored.
    pub async fn ingest(&self, program: &Pubkey) -> Result<(usize, usize), IndexerError> {
        self.ingest_with(program, None).await
    }

    /// Ingests the new transactions of one program, each batch committed only while `lease`
    /// (when given) is held. Returns (transactions, events) stored.
    pub async fn ingest_with(
        &self,
        program: &Pubkey,
        lease: Option<&store::Lease>,
    ) -> Result<(usize, usize), IndexerError> {
        let from = store::cursor(&self.pool, program)
            .await?
            .unwrap_or(self.config.from_slot);
        let listed = self.source.signatures_since(program, from).await?;
        let Some(last) = listed.last().cloned() else {
            return Ok((0, 0));
        };
        let all: Vec<_> = listed.iter().map(|l| (l.signature, l.slot)).collect();
        let known = store::landed(&self.pool, &all).await?;
        // The listing starts at the cursor's slot, which was stored before it was archived
        // (`kassa archive`); a transaction past the cursor in an archived range is not skipped
        // but refused by name when stored.
        let archived = store::archived_below(&self.pool).await?;
        let todo: Vec<Listed> = listed
            .into_iter()
            .filter(|l| {
                let stored = known.contains(&(l.signature, l.slot));
                let archived_at_cursor = l.slot < archived && l.slot <= from;
                !stored && !archived_at_cursor
            })
            .collect();
        let bar = if self.config.progress && todo.len() > self.config.batch_size {
            let bar = ProgressBar::new(todo.len() as u64).with_style(
                ProgressStyle::with_template(
                    "{prefix} {bar:40} {pos}/{len} transactions ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_prefix(format!("backfill {}", &program.to_string()[..8]));
            bar
        } else {
            ProgressBar::hidden()
        };
        let (mut txs, mut events) = (0, 0);
        let program_id = *program;
        let batches =
            stream::iter(todo.chunks(self.config.batch_size.max(1))).then(|chunk| async move {
                let fetches: Vec<_> = chunk
                    .iter()
                    .map(|l| async move { self.fetch(l, &program_id).await })
                    .collect();
                let batch: Vec<DecodedTx> = stream::iter(fetches)
                    .buffered(self.config.concurrency.max(1))
                    .try_filter_map(|t| async move { Ok(t) })
                    .try_collect()
                    .await?;
                let cursor = CursorUpdate {
                    program: program_id,
                    slot: chunk.last().map_or(from, |l| l.slot),
                    signature: chunk.last().map(|l| l.signature),
                };
                Ok((batch, cursor))
            });
        apply_in_order(&self.pool, batches, lease, |applied, cursor| {
            self.metrics.record(applied);
            self.metrics.set_cursor(&program_id, cursor.slot);
            txs += applied.transactions;
            events += applied.events;
            bar.inc(applied.transactions as u64);
        })
        .await?;
        bar.finish_and_clear();
        // Everything listed is stored: the cursor reaches the newest listed slot.
        let cursor = CursorUpdate {
            program: *program,
            slot: last.slot,
            signature: Some(last.signature),
        };
        let mut db = self.pool.acquire().await.map_err(StoreError::from)?;
        store::apply_batch(&mut db, &Batch::prepare(Vec::new()), Some(&cursor), lease).await?;
        self.metrics.set_cursor(program, last.slot);
        Ok((txs, events))
    }

    /// Marks finalized what the cluster finalized and rolls back what it forgot, each write
    /// committed only while `lease` (when given) is held. Returns (finalized, reverted
    /// entities).
    pub async fn finality(
        &self,
        lease: Option<&store::Lease>,
    ) -> Result<(u64, usize), IndexerError> {
        let finalized_slot = self.source.slot(CommitmentConfig::finalized()).await?;
        let (mut finalized, mut gone) = (0, Vec::new());
        let mut after: Option<(solana_sdk::signature::Signature, u64)> = None;
        // Every stored confirmed transaction the cluster could have finalized, page by page
        // (still-pending ones are passed over, not fetched again).
        loop {
            let page =
                store::unfinalized(&self.pool, finalized_slot, after.as_ref(), 1_000).await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            let sigs: Vec<_> = page.iter().map(|(s, _)| *s).collect();
            let statuses = self.source.status(&sigs).await?;
            let mut done = Vec::new();
            for (landed, status) in page.into_iter().zip(statuses) {
                match status {
                    Status::Finalized(slot) if slot == landed.1 => done.push(landed),
                    // Finalized in another slot: the landing stored here was on a fork that
                    // was abandoned (the other landing is a row of its own).
                    Status::Finalized(_) | Status::Unknown => gone.push(landed),
                    Status::Pending => {}
                }
            }
            finalized += store::mark_finalized(&self.pool, &done, lease).await?;
            after = Some(last);
        }
        let reverted = if gone.is_empty() {
            0
        } else {
            self.metrics.reverted.inc_by(gone.len() as u64);
            store::revert(&self.pool, &gone, lease).await?
        };
        Ok((finalized, reverted))
    }
}
