//! The API's hot read: `GET /v1/payments/{address}` on a database of `KASSA_BENCH_PAYMENTS`
//! payments (default 1,000,000), requests per second and latency percentiles under
//! `KASSA_BENCH_CONNECTIONS` concurrent keep-alive connections (default 32) for
//! `KASSA_BENCH_SECS` seconds (default 5), beside a trivial axum handler driven the same way in
//! the same run (the ratio is the API's cost over the HTTP stack's floor). Then a payment list
//! page deep in the table (the cursor past 90% of the rows) beside the first page.
//!
//! ```sh
//! cargo bench -p kassa-api --bench read      # DATABASE_URL, or a private cluster
//! ```
//!
//! The load generator runs in the same process as the server and Postgres on the same
//! machine: on 2 cores the three share them, as they would on a one-box deployment. Both
//! servers are plain HTTP on loopback (TLS adds its record encryption to both alike).

use axum::{routing::get, Router};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use kassa_api::{ApiConfig, AppState};
use kassa_sdk::api::types::Role;
use kassa_testkit::postgres::knob as env;
use sqlx::PgPool;
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

/// `n` captured payments across 20 merchants, one USDC-like mint, opened a second apart.
async fn fill(pool: &PgPool, n: usize) {
    let mint = [7u8; 32];
    sqlx::query("INSERT INTO api.mint (address, decimals, token_program) VALUES ($1, 6, $2)")
        .bind(&mint[..])
        .bind(&anchor_spl::token::ID.to_bytes()[..])
        .execute(pool)
        .await
        .unwrap();
    let started = Instant::now();
    // Addresses are the row number as 32 big-endian bytes with a prefix, so they spread like
    // hashes would not; the B-tree does not care.
    sqlx::query(
        "INSERT INTO chain.payment
         SELECT decode(md5(i::text) || md5('a' || i), 'hex'),
                decode(md5('m' || (i % 20)) || md5('n' || (i % 20)), 'hex'),
                md5(i::text) || md5('o' || i),
                $1, 1000000 + i, 'captured',
                decode(md5('p' || i) || md5('q' || i), 'hex'),
                1000000 + i, 1000000 + i, 0, 0, 0, 1000000 + i, 0, NULL, 0, NULL, NULL, false,
                1700000000 + i + 900, 1700000000 + i + 604800, 1700000000 + i + 2592000,
                1700000000 + i + 604800, NULL, 1700000000 + i, 1700000000 + i, false, 3
         FROM generate_series(1, $2) AS i",
    )
    .bind(&mint[..])
    .bind(n as i64)
    .execute(pool)
    .await
    .unwrap();
    // As a table that has lived: hint bits set and statistics current, not fresh from a load.
    sqlx::query("VACUUM (ANALYZE) chain.payment")
        .execute(pool)
        .await
        .unwrap();
    println!(
        "filled {n} payments in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

struct Load {
    requests: usize,
    secs: f64,
    p50: Duration,
    p99: Duration,
}

impl Load {
    fn rate(&self) -> f64 {
        self.requests as f64 / self.secs
    }
}

/// Drives `paths` (round robin) over `connections` keep-alive HTTP/1.1 connections for
/// `secs`. The generator is hyper's bare connection API, so that as little of the two cores as
/// possible goes to the client: it is not what is measured.
async fn drive(
    base: &str,
    key: &str,
    paths: Arc<Vec<String>>,
    connections: usize,
    secs: u64,
) -> Load {
    use http_body_util::{BodyExt, Empty};
    use hyper::body::Bytes;
    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let addr = base.trim_start_matches("http://").to_string();
    let auth = format!("Bearer {key}");
    let mut tasks = Vec::new();
    for c in 0..connections {
        let (addr, auth, paths) = (addr.clone(), auth.clone(), paths.clone());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(conn);
            let mut latencies = Vec::new();
            let mut i = c * 7919;
            while Instant::now() < deadline {
                let path = &paths[i % paths.len()];
                i += 1;
                let request = hyper::Request::get(path.as_str())
                    .header("host", addr.as_str())
                    .header("authorization", auth.as_str())
                    .body(Empty::<Bytes>::new())
                    .unwrap();
                let t = Instant::now();
                sender.ready().await.unwrap();
                let r = sender
                    .send_request(request)
                    .await
                    .expect("the server answers");
                assert!(r.status().is_success(), "{path}: {}", r.status());
                r.into_body().collect().await.unwrap();
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Load {
        requests: all.len(),
        secs,
        p50: pct(0.50),
        p99: pct(0.99),
    }
}

/// Sequential latencies of one path: (median, p99).
async fn latency(base: &str, key: &str, path: &str, n: usize) -> (Duration, Duration) {
    let http = reqwest::Client::new();
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = http
            .get(format!("{base}{path}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        r.bytes().await.unwrap();
        all.push(t.elapsed());
    }
    all.sort();
    (all[n / 2], all[(n * 99 / 100).min(n - 1)])
}

fn serve(router: Router) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(kassa_api::serve(
        listener,
        None,
        router,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    url
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let n = env("KASSA_BENCH_PAYMENTS", 1_000_000);
    let connections = env("KASSA_BENCH_CONNECTIONS", 32);
    let secs = env("KASSA_BENCH_SECS", 5) as u64;
    let (_cluster, admin) =
        kassa_testkit::postgres::server_from_env().expect("DATABASE_URL or a private Postgres");
    let (fresh, url) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");
    fresh.close().await;
    let pool = kassa_api::connect(&url, env("KASSA_BENCH_POOL", 4) as u32)
        .await
        .unwrap();
    fill(&pool, n).await;
    let (_, key) = kassa_api::auth::create_account(&pool, "Bench", Role::Operator, None)
        .await
        .unwrap();
    let key = key.secret;

    // Payment addresses spread over the table.
    let addresses: Vec<(Vec<u8>,)> =
        sqlx::query_as("SELECT address FROM chain.payment TABLESAMPLE SYSTEM (1) LIMIT 5000")
            .fetch_all(&pool)
            .await
            .unwrap();
    let paths: Arc<Vec<String>> = Arc::new(
        addresses
            .iter()
            .map(|(a,)| format!("/v1/payments/{}", bs58::encode(a).into_string()))
            .collect(),
    );

    let api = serve(kassa_api::router(AppState::new(
        pool.clone(),
        ApiConfig {
            rate_per_sec: 1_000_000,
            burst: 1_000_000,
            ..ApiConfig::default()
        },
        None,
    )));
    let trivial = serve(Router::new().route(
        "/v1/payments/{address}",
        get(|| async { axum::Json(serde_json::json!({"status": "captured"})) }),
    ));

    // Warm both (connections, prepared statements, the key and mint caches).
    drive(&api, &key, paths.clone(), connections, 1).await;
    drive(&trivial, &key, paths.clone(), connections, 1).await;
    let base = drive(&trivial, &key, paths.clone(), connections, secs).await;
    // The API's own stack (request id, metrics, routing) without the database.
    let stack = drive(
        &api,
        &key,
        Arc::new(vec!["/healthz".to_string()]),
        connections,
        secs,
    )
    .await;
    let got = drive(&api, &key, paths.clone(), connections, secs).await;
    println!(
        "machine: {} cores; {n} payments; {connections} connections for {secs} s each",
        std::thread::available_parallelism().map_or(0, |p| p.get())
    );
    println!(
        "trivial axum handler    {:>8.0} req/s  p50 {}  p99 {}",
        base.rate(),
        ms(base.p50),
        ms(base.p99)
    );
    println!(
        "GET /healthz (API stack) {:>7.0} req/s  p50 {}  p99 {}   ({:.2} of the trivial handler's rate)",
        stack.rate(),
        ms(stack.p50),
        ms(stack.p99),
        stack.rate() / base.rate()
    );
    println!(
        "GET /v1/payments/{{id}}  {:>8.0} req/s  p50 {}  p99 {}   ({:.2} of the trivial handler's rate)",
        got.rate(),
        ms(got.p50),
        ms(got.p99),
        got.rate() / base.rate()
    );

    // The first page and a page past 90% of the rows.
    let deep: (i64, Vec<u8>) = sqlx::query_as(
        "SELECT opened_at, address FROM chain.payment ORDER BY opened_at DESC, address DESC
         OFFSET $1 LIMIT 1",
    )
    .bind((n as i64) * 9 / 10)
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut c = deep.0.to_be_bytes().to_vec();
    c.extend_from_slice(&deep.1);
    let cursor = URL_SAFE_NO_PAD.encode(c);
    let first = latency(&api, &key, "/v1/payments?limit=50", 300).await;
    let deep_page = latency(
        &api,
        &key,
        &format!("/v1/payments?limit=50&cursor={cursor}"),
        300,
    )
    .await;
    println!(
        "first page of 50        median {}  p99 {}",
        ms(first.0),
        ms(first.1)
    );
    println!(
        "page past {} rows  median {}  p99 {}   ({:.2} of the first page's median)",
        n * 9 / 10,
        ms(deep_page.0),
        ms(deep_page.1),
        deep_page.0.as_secs_f64() / first.0.as_secs_f64()
    );
    // The million rows go with the bench.
    pool.close().await;
    kassa_testkit::postgres::drop_database(&admin, &url).await;
}
