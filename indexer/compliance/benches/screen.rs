//! Pre-payment screening latency and monitoring throughput at scale.
//!
//! The database holds a list of `KASSA_BENCH_LIST` wallets (default 100,000, imported through
//! the real import path), `KASSA_BENCH_PAYMENTS` authorizations already monitored (default
//! 1,000,000, from 200,000 payers to 1,000 merchants), 300,000 wallet-to-wallet edges (one in a
//! hundred touching a listed wallet) and the exposure precomputed from them. Screening is then timed for 20,000 wallets (listed ones,
//! exposed ones, payers with history, unknown wallets), one at a time, each recorded as the
//! API records it; the baseline in the same run is a primary-key lookup of one payment. Then
//! `KASSA_BENCH_AUTHORIZATIONS` new authorizations (default 50,000) are stored as the indexer
//! stores them and the monitor runs until it has read them all, with the default rules; its
//! baseline is the same rows inserted into the payers' history with nothing evaluated.
//!
//! ```sh
//! cargo bench -p kassa-compliance --bench screen   # DATABASE_URL, or a private cluster
//! ```

use kassa_compliance::{
    graph::{self, ExposurePolicy},
    lists::{self, Actor, Files, Format},
    monitor::{self, MonitorConfig},
    screen::{self, ScreenPolicy},
};
use kassa_testkit::postgres::knob;
use sha2::{Digest, Sha256};
use solana_sdk::pubkey::Pubkey;
use std::time::{Duration, Instant};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

/// A wallet from a number: the same on the Rust and the SQL side (SHA-256 of its 8 bytes).
fn wallet(tag: &str, i: u64) -> Pubkey {
    let mut h = Sha256::new();
    h.update(tag.as_bytes());
    h.update(i.to_be_bytes());
    Pubkey::new_from_array(h.finalize().into())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn run() {
    let list_n = knob("KASSA_BENCH_LIST", 100_000) as u64;
    let payments_n = knob("KASSA_BENCH_PAYMENTS", 1_000_000) as u64;
    let auth_n = knob("KASSA_BENCH_AUTHORIZATIONS", 50_000) as u64;
    let payers = 200_000u64;
    let (_cluster, admin) =
        kassa_testkit::postgres::server_from_env().expect("DATABASE_URL or a private Postgres");
    let (pool, _) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");

    // The list, through the import path.
    let mut csv = String::from("address,currency,name,reason\n");
    for i in 0..list_n {
        csv.push_str(&format!("{},SOL,Listed {i},bench\n", wallet("listed", i)));
    }
    lists::create(&pool, "bench", "Bench list", Format::Internal, "refuse")
        .await
        .unwrap();
    let t = Instant::now();
    let imported = lists::import(
        &pool,
        "bench",
        &Files::one(csv.as_bytes()),
        &Actor::Process("bench".into()),
    )
    .await
    .unwrap();
    let import_time = t.elapsed();
    assert_eq!(imported.entries as u64, list_n);

    // The history: payments, payers, edges (one in a hundred to a listed wallet).
    let t = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE OR REPLACE FUNCTION pg_temp.w(tag text, i int8) RETURNS bytea LANGUAGE sql IMMUTABLE AS
             $$ SELECT sha256(convert_to(tag, 'UTF8') || int8send(i)) $$;
         INSERT INTO compliance.payment_seen (payment, payer, merchant, mint, amount, units, at, seq, signature)
         SELECT pg_temp.w('payment', i), pg_temp.w('payer', i % {payers}),
                pg_temp.w('merchant', i % 1000), pg_temp.w('mint', 0),
                (i % 900 + 1) * 1000000, i % 900 + 1, 1700000000 + i * 3, i,
                pg_temp.w('sig', i) || pg_temp.w('sig2', i)
         FROM generate_series(1::int8, {payments_n}) i;
         INSERT INTO compliance.edge (a, b, transfers, first_signature, last_slot)
         SELECT least(x, y), greatest(x, y), 1, pg_temp.w('s', i) || pg_temp.w('t', i), i
         FROM (SELECT i,
                      CASE WHEN i % 100 = 0 THEN pg_temp.w('listed', (i * 7919) % {list_n})
                           ELSE pg_temp.w('payer', (i * 104729) % {payers}) END AS x,
                      pg_temp.w('payer', (i * 15485863) % {payers}) AS y
               FROM generate_series(1::int8, 300000) i) e
         WHERE x <> y
         ON CONFLICT DO NOTHING;
         ANALYZE;"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let fill_time = t.elapsed();
    let t = Instant::now();
    let exposed = graph::rebuild_exposure(&pool, ExposurePolicy::default(), true)
        .await
        .unwrap()
        .unwrap_or(0);
    let exposure_time = t.elapsed();
    sqlx::query("ANALYZE").execute(&pool).await.unwrap();

    // Screening: a mix of listed, exposed, known and unknown wallets.
    let exposed_wallets: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT wallet FROM compliance.exposure ORDER BY wallet LIMIT 2000")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut targets = Vec::new();
    for i in 0..20_000u64 {
        targets.push(match i % 10 {
            0 => wallet("listed", (i * 31) % list_n),
            1 | 2 if !exposed_wallets.is_empty() => {
                Pubkey::try_from(exposed_wallets[(i as usize) % exposed_wallets.len()].as_slice())
                    .unwrap()
            }
            3 => wallet("unknown", i),
            _ => wallet("payer", (i * 7) % payers),
        });
    }
    let policy = ScreenPolicy::default();
    // Warm-up, then the timed runs: the baseline and screening, interleaved per wallet so both
    // see the same cache state.
    for t in targets.iter().take(500) {
        screen::screen(&pool, t, None, "bench", &policy)
            .await
            .unwrap();
    }
    let mut base = Vec::with_capacity(targets.len());
    let mut lat = Vec::with_capacity(targets.len());
    let mut refused = 0;
    for (i, t) in targets.iter().enumerate() {
        let key = wallet("payment", i as u64 + 1).to_bytes();
        let s = Instant::now();
        let _: Option<i64> =
            sqlx::query_scalar("SELECT seq FROM compliance.payment_seen WHERE payment = $1")
                .bind(&key[..])
                .fetch_optional(&pool)
                .await
                .unwrap();
        base.push(s.elapsed());
        let s = Instant::now();
        let r = screen::screen(&pool, t, None, "bench", &policy)
            .await
            .unwrap();
        lat.push(s.elapsed());
        refused += usize::from(r.decision == screen::Decision::Refuse);
    }
    base.sort();
    lat.sort();

    // Monitoring: new authorizations stored as the indexer stores them, then monitored.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE OR REPLACE FUNCTION pg_temp.w(tag text, i int8) RETURNS bytea LANGUAGE sql IMMUTABLE AS
             $$ SELECT sha256(convert_to(tag, 'UTF8') || int8send(i)) $$;
         INSERT INTO api.mint (address, decimals, token_program)
         VALUES (pg_temp.w('mint', 0), 6, pg_temp.w('token', 0));
         SELECT chain.ensure_partitions(ARRAY[10000001, 10000000 + {auth_n}]::int8[]);
         INSERT INTO chain.transaction (signature, slot, block_time, failed, fee, commitment)
         SELECT pg_temp.w('new-sig', i) || pg_temp.w('new-sig2', i), 10000000 + i,
                1800000000 + i / 10, false, 5000, 'confirmed'
         FROM generate_series(1::int8, {auth_n}) i;
         INSERT INTO chain.event (signature, ix_index, inner_index, slot, program, name, entity, seq,
                                  ts, actor, data, raw)
         SELECT pg_temp.w('new-sig', i) || pg_temp.w('new-sig2', i), 0, 0, 10000000 + i,
                pg_temp.w('program', 0), 'PaymentAuthorized', pg_temp.w('new-payment', i), 1,
                1800000000 + i / 10, pg_temp.w('payer', i % {payers}),
                jsonb_build_object(
                    'payer', chain.base58(pg_temp.w('payer', i % {payers})),
                    'merchant', chain.base58(pg_temp.w('merchant', i % 1000)),
                    'mint', chain.base58(pg_temp.w('mint', 0)),
                    'received', ((i % 1200 + 1) * 1000000)::text),
                '\\x00'
         FROM generate_series(1::int8, {auth_n}) i;
         INSERT INTO compliance.inbox (signature, ix_index, inner_index, slot, phase)
         SELECT pg_temp.w('new-sig', i) || pg_temp.w('new-sig2', i), 0, 0, 10000000 + i,
                'confirmed'
         FROM generate_series(1::int8, {auth_n}) i ORDER BY i;
         ANALYZE;"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let config = MonitorConfig::default();
    let t = Instant::now();
    let mut monitored = 0;
    let mut alerts = 0;
    loop {
        let p = monitor::pass(&pool, None, &config).await.unwrap();
        monitored += p.monitored;
        alerts += p.alerts;
        if p.monitored + p.reverted == 0 {
            break;
        }
    }
    let monitor_time = t.elapsed();
    assert_eq!(monitored as u64, auth_n);
    // Baseline: the same rows written into a copy of the history table, nothing evaluated.
    sqlx::raw_sql("CREATE TABLE bench_seen (LIKE compliance.payment_seen INCLUDING ALL);")
        .execute(&pool)
        .await
        .unwrap();
    let t = Instant::now();
    sqlx::raw_sql(
        "INSERT INTO bench_seen SELECT * FROM compliance.payment_seen WHERE at >= 1800000000",
    )
    .execute(&pool)
    .await
    .unwrap();
    let base_time = t.elapsed();

    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("kassa-compliance screen bench ({cores} cores)");
    println!(
        "  setup: list of {list_n} imported in {:.1} s; {payments_n} payments and edges in {:.1} s; exposure of {exposed} wallets in {:.1} s",
        import_time.as_secs_f64(),
        fill_time.as_secs_f64(),
        exposure_time.as_secs_f64()
    );
    println!(
        "  screening, {} wallets ({refused} refused): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap())
    );
    println!(
        "  baseline, a primary-key lookup: p50 {:.2} ms, p99 {:.2} ms; screening p99 / baseline p99 = {:.1}",
        ms(percentile(&base, 0.5)),
        ms(percentile(&base, 0.99)),
        percentile(&lat, 0.99).as_secs_f64() / percentile(&base, 0.99).as_secs_f64()
    );
    let rate = auth_n as f64 / monitor_time.as_secs_f64();
    println!(
        "  monitoring: {auth_n} authorizations in {:.1} s = {rate:.0}/s with the default rules ({alerts} alerts)",
        monitor_time.as_secs_f64()
    );
    println!(
        "  baseline, the same rows inserted with no rule: {:.0}/s; monitoring / baseline = {:.2}",
        auth_n as f64 / base_time.as_secs_f64(),
        base_time.as_secs_f64() / monitor_time.as_secs_f64()
    );
}
