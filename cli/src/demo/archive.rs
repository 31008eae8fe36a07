//! The demo's last act: the morning's raw history leaves the database for files
//! (`kassa archive`), and what merchants and operators read stays: the mirror still matches
//! the chain account for account.

use super::report::Checks;
use anyhow::Result;
use kassa_indexer::{reconcile::reconcile, store, Indexer};
use std::time::Duration;

/// The demo cuts partitions of this many slots (2 s at 400 ms; the local node packs the
/// day into a few dozen slots), so that its own morning, the protocol's setup, lies in a
/// partition of its own, old enough to archive by the end; a deployment sizes them for its
/// volume (docs/operations.md).
pub const WIDTH: i64 = 5;

pub async fn run(indexer: &Indexer, checks: &mut Checks) -> Result<()> {
    let pool = &indexer.pool;
    println!("\nThe raw history archived (`kassa archive`), the projections kept:");
    // The oldest partition that holds history.
    let Some((lower, upper)): Option<(i64, i64)> = sqlx::query_as(
        "SELECT p.lower, p.upper FROM chain.partition p
         WHERE p.archived_at IS NULL AND EXISTS (
             SELECT 1 FROM chain.transaction t WHERE t.slot >= p.lower AND t.slot < p.upper)
         ORDER BY p.lower LIMIT 1",
    )
    .fetch_optional(pool)
    .await?
    else {
        checks.check(false, "there is raw history to archive".into());
        return Ok(());
    };
    let dir = std::env::temp_dir().join(format!("kassa-demo-archive-{}", std::process::id()));
    // The finality pass and the workers finish those slots within seconds of the tip; the
    // demo books the ledger's inbox itself, as a deployment's booking worker does.
    let mut waited = 0;
    let archived = loop {
        match store::archive(pool, upper as u64, &dir, |_| {}).await {
            Ok(a) => break Ok(a),
            Err(
                e @ (store::ArchiveError::NotSettled { .. }
                | store::ArchiveError::Queued { .. }
                | store::ArchiveError::Changed { .. }),
            ) if waited < 60 => {
                if waited == 0 {
                    println!("  waiting: {e}");
                }
                kassa_settlement::book::pass(pool).await?;
                waited += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => break Err(e),
        }
    };
    let archived = match archived {
        Ok(a) => a,
        Err(e) => {
            checks.check(false, format!("the oldest partition is archived: {e}"));
            return Ok(());
        }
    };
    let mut events = 0;
    for a in &archived {
        println!(
            "  slots [{}, {}): {} entities checkpointed",
            a.lower, a.upper, a.checkpoints
        );
        for (path, rows) in &a.files {
            println!("    {rows:>6} rows  {}", path.display());
        }
        events += a.files[2].1;
    }
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM chain.transaction WHERE slot < $1")
        .bind(upper)
        .fetch_one(pool)
        .await?;
    checks.check(
        archived.len() == 1 && archived[0].lower == lower as u64 && events > 0 && left == 0,
        format!("slots [{lower}, {upper}) archived to files, {events} events, none left behind"),
    );
    // The indexer lists each program from its cursor's slot: what it finds there again in the
    // archived range it had stored, and it goes on.
    let pass = indexer.pass().await;
    checks.check(
        pass.is_ok(),
        format!("the indexer goes on past the archived slots: {pass:?}"),
    );
    let report = reconcile(pool, &indexer.source, &indexer.metrics).await?;
    println!(
        "  Mirror check after archiving: {} program accounts, {} differences",
        report.checked,
        report.differences.len()
    );
    checks.check(
        report.differences.is_empty() && report.checked > 0,
        "the mirror still matches the chain after archiving".into(),
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
