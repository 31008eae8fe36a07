//! Cost as the database grows: the indexer's apply rate on the lifecycle workload and the API's
//! hot reads (a payment by id, a merchant's payments page, a payment's timeline) with
//! `KASSA_BENCH_STORED` events already stored (default `100000,1000000,10000000`), each stage
//! beside the first one measured in the same run.
//!
//! ```sh
//! cargo bench -p kassa-api --bench growth     # DATABASE_URL, or a private cluster
//! ```
//!
//! - **The history.** Payment lifecycles (opened, paid, captured, one instruction per
//!   transaction) are recorded on a local node and decoded by the indexer. The first stage's
//!   history is applied through the indexer itself; the later ones multiply it in SQL: each
//!   copy gets its own signatures (SHA-512 of the copy number and the signature) and entity
//!   addresses (SHA-256 of the copy number and the address), later slots and times, and is
//!   finalized, as old history is. The copies' JSON and account lists still name the template's
//!   addresses: the rows have the real size and shape, not new content. One copy per
//!   statement, so each copy's rows lie on disk in the order the indexer wrote them. The
//!   queues the workers drain (the webhook outbox, the settlement and compliance inboxes) are
//!   emptied after each stage, as a running deployment keeps them. Tables are vacuumed and
//!   analyzed, as autovacuum would have done, and the writes flushed (`CHECKPOINT`, `sync`)
//!   before anything is measured.
//! - **Partitions.** The raw tables are partitioned by slot; the bench sets the partition width
//!   so that a partition holds `KASSA_BENCH_PARTITION_EVENTS` events (default 1,000,000) of
//!   this history's density, as an operator sizes it from the chain's event rate
//!   (docs/operations.md).
//! - **The apply.** At each stage a fresh lifecycle workload of `KASSA_BENCH_EVENTS` events
//!   (default 100,000) under new random addresses, in the slots after the stored history (as
//!   new transactions land at the tip), goes through the indexer's pipeline (`apply_in_order`,
//!   batches of `KASSA_BENCH_BATCH`), with everything the apply writes. Twice: first right
//!   after the history was written ("cold": the random-keyed indexes over the whole history
//!   that every batch touches, `chain.entity_seq`'s and `chain.payment`'s keys, mostly on
//!   disk), then again after `pg_prewarm` read those two indexes into the kernel's cache, as
//!   a running indexer keeps them. Each apply prints its costliest statements
//!   (`pg_stat_statements`, when the server preloads it) and each stage the bytes per event of
//!   the largest tables.
//! - **The reads.** `KASSA_BENCH_READS` requests each (default 2,000), one at a time, through
//!   the API's router in process (no socket: what is measured is the handler and its queries),
//!   with an operator's key, on payments picked at random over the whole table: the payment,
//!   its timeline, and the merchant's page of 50 that starts at it (the `cursor` a client
//!   paging through its history sends).

use axum::body::Body;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http_body_util::BodyExt;
use kassa_api::{ApiConfig, AppState};
use kassa_localnet::server::{start, LocalnetConfig};
use kassa_sdk::api::types::Role;
use kassa_testkit::{
    bench::{millis, p50_p99},
    postgres::knob as env,
    workload::{chunks, record, workload},
};
use sqlx::PgPool;
use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};
use tower::ServiceExt;

/// The tables the workers drain: emptied between stages.
const QUEUES: &str = "webhooks.outbox, settlement.inbox, compliance.inbox";

/// What one stage measured.
struct Stage {
    stored: i64,
    /// The apply right after the history was written and flushed.
    cold: f64,
    cold_statements: Vec<(f64, i64, String)>,
    /// What `prewarm` read into memory before the second apply (empty: nothing).
    warmed: String,
    /// The second apply, with the indexes every batch touches in memory.
    rate: f64,
    /// p50 and p99 of a payment by id, a merchant's page, a timeline: right after the
    /// history was written, then with the tables they read in the kernel's cache.
    cold_reads: [(Duration, Duration); 3],
    /// GB of tables and indexes `prewarm_reads` read (0: no `pg_prewarm`).
    read_warmed: f64,
    warm_reads: [(Duration, Duration); 3],
    bytes: i64,
    /// Partitions of the raw tables, and the events in the newest one.
    partitions: i64,
    current: i64,
    /// The apply's costliest statements: server time per event applied, blocks read into
    /// shared buffers (from the kernel's cache or the disk) and the statement.
    statements: Vec<(f64, i64, String)>,
    /// The largest tables (a partitioned one with all its partitions) with their indexes and
    /// TOAST: name, table bytes, index bytes.
    tables: Vec<(String, i64, i64)>,
    /// Events stored once the stage's applies are in (what `tables` holds).
    after: i64,
}

fn main() {
    kassa_testkit::bench::run_on_two_workers(run());
}

async fn run() {
    let stages: Vec<i64> = std::env::var("KASSA_BENCH_STORED")
        .unwrap_or_else(|_| "100000,1000000,10000000".into())
        .split(',')
        .map(|s| {
            s.trim()
                .parse()
                .expect("KASSA_BENCH_STORED: event counts, comma-separated")
        })
        .collect();
    let events = env("KASSA_BENCH_EVENTS", 100_000);
    let batch = env(
        "KASSA_BENCH_BATCH",
        kassa_indexer::IndexerConfig::default().batch_size,
    );
    let reads = env("KASSA_BENCH_READS", 2_000);
    let per_partition = env("KASSA_BENCH_PARTITION_EVENTS", 1_000_000);

    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    })
    .await
    .expect("localnet");
    // A payment's three steps two batches apart, as in the apply bench.
    let recorded = record(&net.rpc_url, 0, env("KASSA_BENCH_LIFECYCLES", 2 * batch)).await;
    let (_cluster, admin) =
        kassa_testkit::postgres::server_from_env().expect("DATABASE_URL or a private Postgres");
    let (pool, url) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");
    sqlx::query("INSERT INTO api.mint (address, decimals, token_program) VALUES ($1, 6, $2)")
        .bind(&recorded.mint.to_bytes()[..])
        .bind(&anchor_spl::token::ID.to_bytes()[..])
        .execute(&pool)
        .await
        .unwrap();
    // The recorded slots, which every copy of the workload reuses: the first stage's history
    // is `stages[0]` events over them.
    let first_slot = recorded.lifecycle.iter().map(|t| t.slot).min().unwrap();
    let span = recorded.lifecycle.iter().map(|t| t.slot).max().unwrap() - first_slot + 1;
    let width = (span as usize * per_partition)
        .div_ceil(stages[0] as usize)
        .max(1);
    sqlx::query("UPDATE chain.partitioning SET width = $1")
        .bind(width as i64)
        .execute(&pool)
        .await
        .unwrap();
    let (_, key) = kassa_api::auth::create_account(&pool, "Bench operator", Role::Operator, None)
        .await
        .unwrap();
    let api = kassa_api::router(AppState::new(
        kassa_api::connect(&url, 4).await.unwrap(),
        ApiConfig {
            rpc_url: net.rpc_url.clone(),
            rate_per_sec: 1_000_000,
            burst: 1_000_000,
            ..ApiConfig::default()
        },
        None,
    ));

    let mut done: Vec<Stage> = Vec::new();
    for target in stages {
        // History up to the stage: the indexer's own apply the first time, copies after.
        let stored = count(&pool).await;
        if stored == 0 {
            let t = Instant::now();
            apply(
                &pool,
                &workload(&recorded.lifecycle, target as usize),
                batch,
            )
            .await;
            println!(
                "history: {} events applied by the indexer in {:.1} s",
                count(&pool).await,
                t.elapsed().as_secs_f64()
            );
            template(&pool).await;
        } else if stored < target {
            let t = Instant::now();
            multiply(&pool, target).await;
            println!(
                "history: {} events stored after copies ({:.1} s)",
                count(&pool).await,
                t.elapsed().as_secs_f64()
            );
        }
        settle(&pool).await;
        let stored = count(&pool).await;

        // The apply as it runs right after the copies (its random-keyed indexes mostly on
        // disk), then with those indexes in memory, as a running indexer keeps them (it
        // touches them on every batch).
        let (cold, cold_statements) =
            apply_fresh(&pool, &recorded, first_slot, events, batch).await;
        let warmed = prewarm(&pool).await;
        let (rate, statements) = apply_fresh(&pool, &recorded, first_slot, events, batch).await;
        settle(&pool).await;

        // The reads as they come after the history was written (what they touch mostly on
        // disk: the database is larger than the machine's memory at 10 M), then again on other
        // payments once the tables they read were read into the kernel's cache, as a deployment
        // answering such reads all day keeps them when its memory holds them.
        let merchant = recorded.merchant.to_string();
        let cold_reads = read_pass(&pool, &api, &key.secret, &merchant, reads).await;
        let read_warmed = prewarm_reads(&pool).await;
        let warm_reads = read_pass(&pool, &api, &key.secret, &merchant, reads).await;
        let bytes: i64 = sqlx::query_scalar("SELECT pg_database_size(current_database())")
            .fetch_one(&pool)
            .await
            .unwrap();
        // How many partitions hold the history, and how full the one written to is.
        let (partitions, current): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM chain.partition),
                    (SELECT count(*) FROM chain.event
                     WHERE tableoid = (SELECT tableoid FROM chain.event ORDER BY slot DESC LIMIT 1))",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        // Where the bytes are: each table with its partitions, heap (and TOAST) beside indexes.
        let tables: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT coalesce(p.inhparent, c.oid)::regclass::text AS t,
                    sum(pg_table_size(c.oid))::int8, sum(pg_indexes_size(c.oid))::int8
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_inherits p ON p.inhrelid = c.oid
             WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
             GROUP BY 1 ORDER BY sum(pg_total_relation_size(c.oid)) DESC LIMIT 8",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        let stage = Stage {
            after: count(&pool).await,
            cold,
            cold_statements,
            warmed,
            statements,
            tables,
            stored,
            rate,
            cold_reads,
            read_warmed,
            warm_reads,
            bytes,
            partitions,
            current,
        };
        report(&stage, done.first());
        done.push(stage);
    }
    println!(
        "{} cores; apply batches of {batch} transactions; {events} events applied per stage; {reads} reads of each kind; partitions of {width} slots (about {per_partition} events)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    drop(api);
    pool.close().await;
    kassa_testkit::postgres::drop_database(&admin, &url).await;
}

/// Where the apply's time goes, from `pg_stat_statements` when the server preloads it
/// (`shared_preload_libraries`); nothing otherwise.
struct Statements(bool);

impl Statements {
    async fn reset(pool: &PgPool) -> Self {
        let on = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(pool)
            .await
            .is_ok()
            && sqlx::query("SELECT pg_stat_statements_reset()")
                .execute(pool)
                .await
                .is_ok();
        Self(on)
    }

    async fn top(self, pool: &PgPool, events: usize) -> Vec<(f64, i64, String)> {
        if !self.0 {
            return Vec::new();
        }
        sqlx::query_as(
            "SELECT total_exec_time * 1000 / $1, shared_blks_read,
                    left(regexp_replace(query, '\\s+', ' ', 'g'), 70)
             FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database
                                                   WHERE datname = current_database())
             ORDER BY total_exec_time DESC LIMIT 7",
        )
        .bind(events as f64)
        .fetch_all(pool)
        .await
        .unwrap_or_default()
    }
}

/// A fresh lifecycle workload under new random addresses, in the slots after everything
/// stored (as new transactions land at the tip), through the indexer's pipeline: its rate in
/// events per second and where its time went.
async fn apply_fresh(
    pool: &PgPool,
    recorded: &kassa_testkit::workload::Recorded,
    first_slot: u64,
    events: usize,
    batch: usize,
) -> (f64, Vec<(f64, i64, String)>) {
    let top: i64 = sqlx::query_scalar("SELECT max(slot) FROM chain.transaction")
        .fetch_one(pool)
        .await
        .unwrap();
    let mut fresh = workload(&recorded.lifecycle, events);
    for t in &mut fresh {
        t.slot = t.slot - first_slot + top as u64 + 1;
    }
    let n: usize = fresh.iter().map(|t| t.events.len()).sum();
    let statements = Statements::reset(pool).await;
    let t = Instant::now();
    apply(pool, &fresh, batch).await;
    let rate = n as f64 / t.elapsed().as_secs_f64();
    (rate, statements.top(pool, n).await)
}

/// The indexes with random keys over the whole history that every batch writes (an entity's
/// live keys, the payments' addresses) read into the kernel's cache with `pg_prewarm`, as they
/// are in a deployment that has been applying for a while: each batch touches thousands of
/// their pages. The names of what was read, or nothing without the extension.
async fn prewarm(pool: &PgPool) -> String {
    const HOT: [&str; 2] = ["chain.entity_seq_pkey", "chain.payment_pkey"];
    if sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .execute(pool)
        .await
        .is_err()
    {
        return String::new();
    }
    for index in HOT {
        sqlx::query("SELECT pg_prewarm($1::regclass, 'read')")
            .bind(index)
            .execute(pool)
            .await
            .unwrap();
    }
    HOT.join(", ")
}

/// `txs` through the indexer's pipeline, in batches of `batch`.
async fn apply(pool: &PgPool, txs: &[kassa_indexer::decode::DecodedTx], batch: usize) {
    kassa_indexer::apply_in_order(
        pool,
        futures_util::stream::iter(chunks(txs, batch).into_iter().map(Ok)),
        None,
        |_, _| {},
    )
    .await
    .unwrap();
}

async fn count(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM chain.event")
        .fetch_one(pool)
        .await
        .unwrap()
}

/// The queues emptied as the workers would, then vacuumed and analyzed as autovacuum would,
/// and the writes flushed: a history months old is on disk, not in the checkpoint and the
/// kernel's write-back queue the bench's minutes of copies leave behind, which would
/// otherwise compete with what is measured next for the disk and the two cores.
async fn settle(pool: &PgPool) {
    sqlx::query(sqlx::AssertSqlSafe(format!("TRUNCATE {QUEUES}")))
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("VACUUM (ANALYZE)").execute(pool).await.unwrap();
    if let Err(e) = sqlx::query("CHECKPOINT").execute(pool).await {
        println!("(no CHECKPOINT: {e}; the measures below include the flush of the copies)");
    }
    // The server's files when it runs on this machine (the private cluster, or a local one).
    let _ = std::process::Command::new("sync").status();
}

/// The first stage's history, kept as the template the copies are made of.
async fn template(pool: &PgPool) {
    sqlx::query("UPDATE chain.transaction SET commitment = 'finalized'")
        .execute(pool)
        .await
        .unwrap();
    for t in [
        "transaction",
        "instruction",
        "event",
        "token_balance_change",
        "payment",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE TABLE public.template_{t} AS SELECT * FROM chain.{t}"
        )))
        .execute(pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "CREATE TABLE public.template_span AS
         SELECT (SELECT count(*) FROM template_event) AS events,
                (SELECT max(slot) - min(slot) + 1 FROM template_transaction) AS slots,
                (SELECT max(ts) - min(ts) + 1 FROM template_event) AS secs,
                0::int8 AS copies",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// Copies of the template until at least `target` events are stored, one copy per statement:
/// each copy's rows are then written in the template's order, which is the order the indexer
/// wrote them in (by slot; a payment where its last event left it), as a history the indexer
/// built over months would lie on disk. (Several copies per statement interleaved them: a
/// template row's copies side by side, so that 50 payments adjacent in time lay on 50
/// different pages.)
async fn multiply(pool: &PgPool, target: i64) {
    let (per_copy, copies): (i64, i64) = sqlx::query_as("SELECT events, copies FROM template_span")
        .fetch_one(pool)
        .await
        .unwrap();
    // A payment copy: its own address, opened and last changed a copy's span later; every
    // other column as the template's (read from the catalog, so a new column is copied too).
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT column_name::text FROM information_schema.columns
         WHERE table_schema = 'chain' AND table_name = 'payment' ORDER BY ordinal_position",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let values: Vec<String> = columns
        .iter()
        .map(|c| match c.as_str() {
            "address" => "sha256(int8send(g) || p.address)".to_string(),
            "opened_at" | "status_at" => format!("p.{c} + g * s.secs"),
            _ => format!("p.{c}"),
        })
        .collect();
    let payments = format!(
        "INSERT INTO chain.payment ({}) SELECT {}
         FROM template_payment p, template_span s, generate_series($1::int8, $2::int8) g",
        columns.join(", "),
        values.join(", ")
    );
    let mut next = copies + 1;
    // Counted once: each copy adds exactly the template's events.
    let mut stored = count(pool).await;
    while stored < target {
        let (from, to) = (next, next);
        let mut tx = pool.begin().await.unwrap();
        for sql in [
            "SELECT chain.ensure_partitions(array_agg(DISTINCT t.slot + g * s.slots))
             FROM template_transaction t, template_span s, generate_series($1::int8, $2::int8) g",
            "INSERT INTO chain.transaction (signature, slot, block_time, failed, fee, commitment)
             SELECT sha512(int8send(g) || t.signature), t.slot + g * s.slots,
                    t.block_time + g * s.secs, t.failed, t.fee, 'finalized'
             FROM template_transaction t, template_span s, generate_series($1::int8, $2::int8) g",
            "INSERT INTO chain.instruction (signature, ix_index, inner_index, program, name, args,
                                            accounts, slot)
             SELECT sha512(int8send(g) || i.signature), i.ix_index, i.inner_index, i.program,
                    i.name, i.args, i.accounts, i.slot + g * s.slots
             FROM template_instruction i, template_span s, generate_series($1::int8, $2::int8) g",
            "INSERT INTO chain.event (signature, ix_index, inner_index, slot, program, name, entity,
                                      seq, ts, actor, data, raw)
             SELECT sha512(int8send(g) || e.signature), e.ix_index, e.inner_index,
                    e.slot + g * s.slots, e.program, e.name, sha256(int8send(g) || e.entity),
                    e.seq, e.ts + g * s.secs, e.actor, e.data, e.raw
             FROM template_event e, template_span s, generate_series($1::int8, $2::int8) g",
            "INSERT INTO chain.entity_seq (entity, seq, slot)
             SELECT sha256(int8send(g) || e.entity), e.seq, e.slot + g * s.slots
             FROM template_event e, template_span s, generate_series($1::int8, $2::int8) g
             WHERE NOT e.reverted",
            "INSERT INTO chain.token_balance_change (signature, account_index, account, mint, owner,
                                                     pre, post, slot)
             SELECT sha512(int8send(g) || c.signature), c.account_index, c.account, c.mint,
                    c.owner, c.pre, c.post, c.slot + g * s.slots
             FROM template_token_balance_change c, template_span s,
                  generate_series($1::int8, $2::int8) g",
            payments.as_str(),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .bind(from)
                .bind(to)
                .execute(&mut *tx)
                .await
                .unwrap();
        }
        sqlx::query("UPDATE template_span SET copies = $1")
            .bind(to)
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        next = to + 1;
        stored += per_copy;
    }
}

/// The three reads on `reads` payments picked at random over the whole table: p50 and p99 of
/// each.
async fn read_pass(
    pool: &PgPool,
    api: &axum::Router,
    key: &str,
    merchant: &str,
    reads: usize,
) -> [(Duration, Duration); 3] {
    let picked: Vec<(Vec<u8>, i64)> =
        sqlx::query_as("SELECT address, opened_at FROM chain.payment ORDER BY random() LIMIT $1")
            .bind(reads as i64)
            .fetch_all(pool)
            .await
            .unwrap();
    let mut paths: [Vec<String>; 3] = Default::default();
    for (address, opened_at) in &picked {
        let a = bs58::encode(address).into_string();
        let mut cursor = opened_at.to_be_bytes().to_vec();
        cursor.extend_from_slice(address);
        paths[0].push(format!("/v1/payments/{a}"));
        paths[1].push(format!(
            "/v1/payments?merchant={merchant}&limit=50&cursor={}",
            URL_SAFE_NO_PAD.encode(cursor)
        ));
        paths[2].push(format!("/v1/payments/{a}/timeline"));
    }
    let mut measured = [(Duration::ZERO, Duration::ZERO); 3];
    for (m, p) in measured.iter_mut().zip(&paths) {
        *m = latencies(api, key, p).await;
    }
    measured
}

/// The tables the three reads touch (payments, live keys, and every partition of the events
/// and transactions), with their indexes, read into the kernel's cache with `pg_prewarm`: the
/// GB read (0 without the extension).
async fn prewarm_reads(pool: &PgPool) -> f64 {
    if sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        .execute(pool)
        .await
        .is_err()
    {
        return 0.0;
    }
    let blocks: i64 = sqlx::query_scalar(
        "WITH t AS (SELECT inhrelid AS r FROM pg_inherits
                    WHERE inhparent IN ('chain.event'::regclass, 'chain.transaction'::regclass)
                    UNION ALL SELECT 'chain.payment'::regclass
                    UNION ALL SELECT 'chain.entity_seq'::regclass)
         SELECT coalesce(sum(pg_prewarm(r::regclass, 'read')), 0)::int8
         FROM (SELECT r FROM t UNION ALL
               SELECT indexrelid FROM pg_index WHERE indrelid IN (SELECT r FROM t)) x",
    )
    .fetch_one(pool)
    .await
    .unwrap();
    blocks as f64 * 8192.0 / 1e9
}

/// Sequential latencies of `paths` through the router, after one warm-up pass over 50 of them.
async fn latencies(api: &axum::Router, key: &str, paths: &[String]) -> (Duration, Duration) {
    let get = |path: &str| {
        axum::http::Request::get(path)
            .header("authorization", format!("Bearer {key}"))
            .body(Body::empty())
            .unwrap()
    };
    for p in paths.iter().take(50) {
        api.clone().oneshot(get(p)).await.unwrap();
    }
    let mut all = Vec::with_capacity(paths.len());
    for p in paths {
        let t = Instant::now();
        let r = api.clone().oneshot(get(p)).await.unwrap();
        let status = r.status();
        let body = r.into_body().collect().await.unwrap().to_bytes();
        all.push(t.elapsed());
        assert!(
            status.is_success(),
            "{p}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    p50_p99(&mut all)
}

fn report(s: &Stage, first: Option<&Stage>) {
    let ratio = |now: Duration, then: Duration| now.as_secs_f64() / then.as_secs_f64();
    let of_first = |rate: &dyn Fn(&Stage) -> f64| {
        first.map_or(String::new(), |b| {
            format!(" ({:.2} of the first stage's)", rate(s) / rate(b))
        })
    };
    println!(
        "{} events stored ({:.1} GB, {} partitions, {} events in the newest)",
        s.stored,
        s.bytes as f64 / 1e9,
        s.partitions,
        s.current,
    );
    let statements = |list: &[(f64, i64, String)]| {
        for (us, read, query) in list {
            println!("    {us:5.1} µs/event, {read:6} blocks read: {query}");
        }
    };
    println!(
        "  apply, cold: {:.0} events/s{}",
        s.cold,
        of_first(&|s: &Stage| s.cold)
    );
    statements(&s.cold_statements);
    if s.warmed.is_empty() {
        println!("  (no pg_prewarm on this server: the second apply ran on what the first left)");
    } else {
        println!("  ({} read into memory)", s.warmed);
    }
    println!(
        "  apply: {:.0} events/s{}",
        s.rate,
        of_first(&|s: &Stage| s.rate)
    );
    statements(&s.statements);
    let per = |b: i64| b as f64 / s.after.max(1) as f64;
    println!(
        "  bytes per stored event (table + indexes): {}",
        s.tables
            .iter()
            .map(|(t, heap, idx)| format!("{t} {:.0} + {:.0}", per(*heap), per(*idx)))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let what = ["payment by id", "merchant page of 50", "timeline"];
    let reads =
        |label: &str, now: &[(Duration, Duration); 3], then: Option<&[(Duration, Duration); 3]>| {
            println!("  reads, {label}:");
            for (i, (p50, p99)) in now.iter().enumerate() {
                println!(
                    "    {:<20} p50 {}  p99 {}{}",
                    what[i],
                    millis(*p50),
                    millis(*p99),
                    then.map_or(String::new(), |b| format!(
                        " (p99 {:.2}x of the first stage's)",
                        ratio(*p99, b[i].1)
                    ))
                );
            }
        };
    reads("cold", &s.cold_reads, first.map(|b| &b.cold_reads));
    if s.read_warmed > 0.0 {
        reads(
            &format!("with the {:.1} GB they read in memory", s.read_warmed),
            &s.warm_reads,
            first.map(|b| &b.warm_reads),
        );
    } else {
        reads(
            "again (no pg_prewarm on this server)",
            &s.warm_reads,
            first.map(|b| &b.warm_reads),
        );
    }
}
