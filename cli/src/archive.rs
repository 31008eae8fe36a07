//! `kassa archive`: the raw tables' slot partitions below a slot, exported to CSV files and
//! dropped (docs/operations.md, "Archiving raw history").

use crate::settings::{Settings, SettingsArgs};
use anyhow::{Context, Result};
use kassa_indexer::store;
use secrecy::ExposeSecret as _;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Archive the partitions whose slots all lie below this one (a partition still holding a
    /// transaction that is not finalized stops the run).
    #[arg(long)]
    pub before_slot: u64,
    /// Directory for the files, one CSV per raw table and partition (ship it to object storage).
    #[arg(long)]
    pub to: PathBuf,
}

pub async fn run(args: Args) -> Result<()> {
    let settings = Settings::load(&args.settings, &[])?;
    let pool = store::connect_with(settings.database_url()?.expose_secret(), 2)
        .await
        .context("cannot open the database")?;
    // Each partition is printed as it is committed, so a run that stops early still lists
    // the files it wrote.
    let archived = store::archive(&pool, args.before_slot, &args.to, |a| {
        println!(
            "slots [{}, {}) archived ({} entities checkpointed):",
            a.lower, a.upper, a.checkpoints
        );
        for (path, rows) in &a.files {
            println!("  {rows:>10} rows  {}", path.display());
        }
    })
    .await?;
    if archived.is_empty() {
        println!("no partition lies wholly below slot {}", args.before_slot);
    }
    let live = store::archive::partitions(&pool).await?;
    println!(
        "{} live partitions{}",
        live.len(),
        live.first()
            .map(|(lo, _)| format!(", from slot {lo}"))
            .unwrap_or_default()
    );
    Ok(())
}
