//! Indexer apply rate: decoded events stored per second (raw rows, projections and cursor in
//! one database transaction per batch), beside a raw `COPY` of the same rows (every row the
//! apply wrote, in every table) into tables with the same constraints and indexes, measured in
//! the same run on the same database.
//!
//! ```sh
//! cargo bench -p kassa-indexer --bench apply     # DATABASE_URL, or a private cluster
//! ```
//!
//! The workload is recorded from localnet: `KASSA_BENCH_RECORD` transactions (default 500),
//! each opening four invoices, are sent, fetched back with `getTransaction` and decoded by the
//! indexer. The decoded transactions are then replicated under fresh signatures and payment
//! addresses until `KASSA_BENCH_EVENTS` events (default 100,000) are reached, so that every
//! event creates its own payment projection, as a busy day of invoices does.

use kassa_indexer::{decode::DecodedTx, store, IndexerConfig};
use kassa_localnet::server::{start, LocalnetConfig};
use kassa_testkit::{postgres::knob as env, workload::workload};
use solana_sdk::pubkey::Pubkey;
use sqlx::{postgres::PgPoolCopyExt, PgPool};
use std::{collections::HashSet, net::SocketAddr, time::Instant};

async fn fresh(admin: &str, name: &str) -> PgPool {
    let pool = PgPool::connect(admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name}"
    )))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (base, query) = admin.split_once('?').unwrap_or((admin, ""));
    let base = &base[..base.rfind('/').unwrap()];
    let url = if query.is_empty() {
        format!("{base}/{name}")
    } else {
        format!("{base}/{name}?{query}")
    };
    store::connect(&url).await.unwrap()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    let events_wanted = env("KASSA_BENCH_EVENTS", 100_000);
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    })
    .await
    .expect("localnet");
    let batch = env("KASSA_BENCH_BATCH", IndexerConfig::default().batch_size);
    // A payment's three steps are two batches apart (the lifecycles are recorded open, then
    // paid, then captured), so two events in three update a payment an earlier batch stored.
    let recorded = kassa_testkit::workload::record(
        &net.rpc_url,
        env("KASSA_BENCH_RECORD", 500),
        env("KASSA_BENCH_LIFECYCLES", 2 * batch),
    )
    .await;
    let (_cluster, admin) =
        kassa_testkit::postgres::server_from_env().expect("DATABASE_URL or a private Postgres");
    let rounds = env("KASSA_BENCH_ROUNDS", 3).max(1);
    for (name, recorded) in [
        ("invoices", &recorded.invoices),
        ("lifecycle", &recorded.lifecycle),
    ] {
        if std::env::var("KASSA_BENCH_WORKLOAD").is_ok_and(|w| w != name) {
            continue;
        }
        let workload = workload(recorded, events_wanted);
        let events: usize = workload.iter().map(|t| t.events.len()).sum();
        let rows: usize = workload
            .iter()
            .map(|t| 1 + t.instructions.len() + t.events.len() + t.token_changes.len())
            .sum();
        println!(
            "{name}: {} transactions, {events} events, {rows} rows ({} transactions recorded from localnet, replicated)",
            workload.len(),
            recorded.len()
        );
        let mut results = Vec::new();
        for round in 1..=rounds {
            let (apply, copy) = measure(&admin, &workload, batch).await;
            let (apply_rate, copy_rate) = (
                events as f64 / apply.as_secs_f64(),
                events as f64 / copy.as_secs_f64(),
            );
            println!(
                "  round {round}: apply {:>5.2} s = {apply_rate:>6.0} events/s; COPY {:>5.2} s = {copy_rate:>6.0} events/s; apply / COPY = {:.2}",
                apply.as_secs_f64(),
                copy.as_secs_f64(),
                apply_rate / copy_rate
            );
            results.push((apply_rate, copy_rate, apply_rate / copy_rate));
        }
        let median = |f: fn(&(f64, f64, f64)) -> f64| {
            let mut v: Vec<f64> = results.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "  median of {rounds}: apply {:.0} events/s; COPY of the same rows {:.0} events/s; apply / COPY {:.2}",
            median(|r| r.0),
            median(|r| r.1),
            median(|r| r.2)
        );
    }
    println!(
        "batches of {batch} transactions; {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let last = kassa_testkit::postgres::with_database(&admin, "kassa_bench_apply");
    kassa_testkit::postgres::drop_database(&admin, &last).await;
}

/// One round on a fresh database: the apply, then a `COPY` of exactly the rows it wrote.
async fn measure(
    admin: &str,
    workload: &[DecodedTx],
    batch: usize,
) -> (std::time::Duration, std::time::Duration) {
    // Apply: raw rows + projections + cursor, one database transaction per batch, through
    // the indexer's pipeline (the next batch is prepared while the current one is applied).
    let pool = fresh(admin, "kassa_bench_apply").await;
    let chunks = kassa_testkit::workload::chunks(workload, batch);
    let t0 = Instant::now();
    kassa_indexer::apply_in_order(
        &pool,
        futures_util::stream::iter(chunks.into_iter().map(Ok)),
        None,
        |_, _| {},
    )
    .await
    .unwrap();
    let apply = t0.elapsed();
    let entities: HashSet<Pubkey> = workload
        .iter()
        .flat_map(|t| t.events.iter().map(|e| e.event.header().entity))
        .collect();
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM chain.payment")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(payments as usize, entities.len(), "every payment projected");
    let events = workload.iter().map(|t| t.events.len()).sum::<usize>();

    // Baseline: the very rows the apply wrote (transactions, instructions, events and their
    // (entity, seq) keys, payment projections, cursor, the webhook outbox, the settlement and
    // compliance inboxes), exported with COPY TO and timed loading back with COPY FROM into
    // tables with the same constraints and indexes (not partitioned: the baseline is the plain
    // cost of the rows).
    let tables = [
        "chain.transaction",
        "chain.instruction",
        "chain.event",
        "chain.entity_seq",
        "chain.token_balance_change",
        "chain.payment",
        "chain.cursor",
        "webhooks.outbox",
        "settlement.inbox",
        "compliance.inbox",
    ];
    let mut dumps = Vec::new();
    for t in tables {
        let mut conn = pool.acquire().await.unwrap();
        let mut stream = conn
            .copy_out_raw(&format!("COPY (SELECT * FROM {t}) TO STDOUT"))
            .await
            .unwrap();
        let mut bytes = Vec::new();
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            bytes.extend_from_slice(&chunk.unwrap());
        }
        drop(stream);
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE {t}_copy (LIKE {t} INCLUDING ALL)"
        )))
        .execute(&pool)
        .await
        .unwrap();
        dumps.push((t, bytes));
    }
    let t0 = Instant::now();
    for (t, bytes) in &dumps {
        let mut copy = pool
            .copy_in_raw(&format!("COPY {t}_copy FROM STDIN"))
            .await
            .unwrap();
        copy.send(bytes.as_slice()).await.unwrap();
        copy.finish().await.unwrap();
    }
    let copy = t0.elapsed();
    let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM chain.event_copy")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(copied as usize, events);
    pool.close().await;
    (apply, copy)
}
