//! `kassa index`: the indexer against any cluster URL and Postgres database.

use anyhow::{Context, Result};
use kassa_indexer::{source::Source, store, Indexer, IndexerConfig};
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Solana JSON-RPC URL of the cluster to mirror.
    #[arg(long, default_value = "http://127.0.0.1:8899")]
    pub rpc_url: String,
    /// Postgres URL; migrations are applied at start.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: String,
    /// Where a first run starts its backfill (0: the whole history).
    #[arg(long, default_value_t = 0)]
    pub from_slot: u64,
    /// Start the backfill at the slot of this transaction instead.
    #[arg(long)]
    pub from_signature: Option<String>,
    /// Transactions per database transaction.
    #[arg(long, default_value_t = 250)]
    pub batch_size: usize,
    /// `getTransaction` calls in flight.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Milliseconds between passes when following the tip.
    #[arg(long, default_value_t = 400)]
    pub poll_ms: u64,
    /// Stop after one pass (backfill, finality) instead of following the tip.
    #[arg(long)]
    pub once: bool,
}

pub async fn run(args: Args) -> Result<()> {
    let pool = store::connect(&args.database_url)
        .await
        .context("cannot open the database")?;
    let source = Source::new(&args.rpc_url);
    let from_slot = match &args.from_signature {
        None => args.from_slot,
        Some(sig) => {
            let signature: solana_sdk::signature::Signature = sig
                .parse()
                .with_context(|| format!("{sig} is not a transaction signature"))?;
            source
                .transaction(&signature)
                .await?
                .with_context(|| format!("transaction {sig} is not known to {}", args.rpc_url))?
                .slot
        }
    };
    let indexer = Indexer::new(
        pool,
        source,
        IndexerConfig {
            batch_size: args.batch_size,
            concurrency: args.concurrency,
            poll: Duration::from_millis(args.poll_ms),
            from_slot,
            progress: true,
            ..Default::default()
        },
    );
    if args.once {
        let pass = indexer.pass().await?;
        println!(
            "stored {} transactions and {} events; {} finalized, {} entities rolled back",
            pass.transactions, pass.events, pass.finalized, pass.reverted
        );
        return Ok(());
    }
    eprintln!("indexing {} (Ctrl-C stops)", args.rpc_url);
    indexer
        .run(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    Ok(())
}
