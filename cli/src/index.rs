//! `kassa index`: the indexer against any cluster and Postgres database, on the layered
//! settings (see `settings`).

use crate::settings::{redact, shutdown_signal, Settings, SettingsArgs};
use anyhow::{Context, Result};
use kassa_indexer::{source::Source, store, Indexer};
use secrecy::ExposeSecret;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Solana JSON-RPC URL of the cluster to mirror (rpc.url).
    #[arg(long)]
    pub rpc_url: Option<String>,
    /// Where a first run starts its backfill, 0 for the whole history (indexer.from_slot).
    #[arg(long)]
    pub from_slot: Option<u64>,
    /// Start the backfill at the slot of this transaction instead.
    #[arg(long)]
    pub from_signature: Option<String>,
    /// Transactions per database transaction (indexer.batch_size).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// `getTransaction` calls in flight (indexer.concurrency).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Milliseconds between passes when following the tip (indexer.poll_ms).
    #[arg(long)]
    pub poll_ms: Option<u64>,
    /// Stop after one pass (backfill, finality) instead of following the tip.
    #[arg(long)]
    pub once: bool,
}

impl Args {
    /// The flags that were given, as settings overrides.
    fn overrides(&self) -> Vec<(&'static str, figment::value::Value)> {
        let mut o: Vec<(&'static str, figment::value::Value)> = Vec::new();
        if let Some(v) = &self.rpc_url {
            o.push(("rpc.url", v.clone().into()));
        }
        if let Some(v) = self.from_slot {
            o.push(("indexer.from_slot", v.into()));
        }
        if let Some(v) = self.batch_size {
            o.push(("indexer.batch_size", v.into()));
        }
        if let Some(v) = self.concurrency {
            o.push(("indexer.concurrency", v.into()));
        }
        if let Some(v) = self.poll_ms {
            o.push(("indexer.poll_ms", v.into()));
        }
        o
    }
}

pub async fn run(args: Args) -> Result<()> {
    let settings = Settings::load(&args.settings, &args.overrides())?;
    let pool = store::connect_with(
        settings.database_url()?.expose_secret(),
        settings.database.max_connections,
    )
    .await
    .context("cannot open the database")?;
    let source = Source::new(&settings.rpc.url);
    let mut config = settings.indexer_config();
    config.progress = true;
    if let Some(sig) = &args.from_signature {
        let signature: solana_sdk::signature::Signature = sig
            .parse()
            .with_context(|| format!("{sig} is not a transaction signature"))?;
        config.from_slot = source
            .transaction(&signature)
            .await?
            .with_context(|| {
                format!(
                    "transaction {sig} is not known to {}",
                    redact(&settings.rpc.url)
                )
            })?
            .slot;
    }
    let indexer = Indexer::new(pool, source, config);
    if args.once {
        let pass = indexer.pass().await?;
        println!(
            "stored {} transactions and {} events; {} finalized, {} entities rolled back",
            pass.transactions, pass.events, pass.finalized, pass.reverted
        );
        indexer.release_leases().await?;
        return Ok(());
    }
    eprintln!(
        "indexing {} as {} (Ctrl-C or SIGTERM stops)",
        redact(&settings.rpc.url),
        indexer.holder
    );
    indexer.run(shutdown_signal()).await;
    Ok(())
}
