//! Webhook delivery, measured two ways in one run (`docs/webhooks.md` has the figures):
//!
//! 1. **Throughput**: `KASSA_BENCH_DELIVERIES` (default 5,000) queued deliveries drained by two
//!    workers (each with the default 16 in flight) to a receiver on loopback that verifies every
//!    signature, beside the floor of the same HTTP posts sent by a bare client with the same
//!    concurrency (the ratio is the cost of leasing, signing and recording each one).
//! 2. **Latency** from a transaction confirming on a local node to its notification arriving:
//!    `KASSA_BENCH_INVOICES` (default 200) invoices opened one after another, each timed from
//!    the moment the client saw it confirmed to the moment the receiver got `payment.opened`,
//!    with the indexer and the workers at their `kassa serve` defaults (the indexer polls the
//!    node every 400 ms, idle workers look for work every 100 ms; both are printed).
//!
//! ```sh
//! cargo bench -p kassa-webhooks --bench deliver     # DATABASE_URL, or a private cluster
//! ```

use kassa_sdk::{api::types::CreateWebhookEndpoint, webhook::Secret};
use kassa_testkit::{bench::percentile, postgres::knob, receiver::Receiver};
use kassa_webhooks::{endpoints, worker::Worker, Config, SealingKey, Webhooks};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

async fn run() {
    let deliveries = knob("KASSA_BENCH_DELIVERIES", 5_000);
    let invoices = knob("KASSA_BENCH_INVOICES", 200);
    let (_cluster, admin, pool, url, net, mut s) = kassa_testkit::bench::world().await.parts();
    let indexer_config = kassa_indexer::IndexerConfig::default();
    println!(
        "indexer poll {} ms, worker poll {} ms, 2 workers x {} in flight; 2 cores",
        indexer_config.poll.as_millis(),
        Config::new(SealingKey::from_bytes(&[0; 32]))
            .poll
            .as_millis(),
        Config::new(SealingKey::from_bytes(&[0; 32])).concurrency
    );
    let indexer = Arc::new(kassa_indexer::Indexer::new(
        pool.clone(),
        kassa_indexer::source::Source::new(&net.rpc_url),
        indexer_config,
    ));
    {
        let indexer = indexer.clone();
        tokio::spawn(async move { indexer.run(std::future::pending()).await });
    }
    let m = s
        .merchant("Bench Shop", kassa_testkit::demo_day::shop_policy())
        .await
        .unwrap();
    kassa_testkit::demo_day::caught_up(&pool, &s.signatures)
        .await
        .unwrap();
    let mut config = Config::new(SealingKey::from_bytes(&[5; 32]));
    config.allow_private = true;
    let hooks = Webhooks::new(pool.clone(), config.clone());
    let receiver = Receiver::start().await.unwrap();
    let created = endpoints::create(
        &hooks,
        &m.address,
        &CreateWebhookEndpoint {
            url: receiver.url.clone(),
            event_types: Some(vec!["payment.opened".into(), "webhook.test".into()]),
            confirmed: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    receiver.set_secrets(vec![Secret::parse(&created.secret).unwrap()]);
    let endpoint = created.endpoint.id;

    // 1. Throughput. The floor first: the same posts from a bare client.
    let body = serde_json::json!({"type": "webhook.test", "data": {"n": 0}}).to_string();
    let bare = reqwest::Client::new();
    let t0 = Instant::now();
    let inflight = 2 * config.concurrency;
    let per = deliveries / inflight;
    let mut tasks = Vec::new();
    for _ in 0..inflight {
        let (bare, url, body) = (bare.clone(), receiver.url.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..per {
                bare.post(&url).body(body.clone()).send().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let floor = (per * inflight) as f64 / t0.elapsed().as_secs_f64();

    // Queued deliveries of distinct messages (each its own order key, as different payments'
    // messages are), then two workers drain them.
    sqlx::query(
        "WITH m AS (
             INSERT INTO webhooks.message (id, merchant, type, order_key, body, created_at)
             SELECT 'msg_' || md5('bench' || i), $1, 'webhook.test', decode(md5('k' || i), 'hex'),
                    $2, now()
             FROM generate_series(1, $3) AS i
             RETURNING id, order_key)
         INSERT INTO webhooks.delivery (endpoint, message, order_key, state, next_attempt_at,
                                        created_at, retry_since)
         SELECT $4, id, order_key, 'pending', now(), now(), now() FROM m",
    )
    .bind(m.address.as_ref())
    .bind(&body)
    .bind(deliveries as i64)
    .bind(&endpoint)
    .execute(&pool)
    .await
    .unwrap();
    let before = receiver.received().len();
    let t0 = Instant::now();
    let mut workers = Vec::new();
    for name in ["bench-a", "bench-b"] {
        // Each worker on connections of its own, as `kassa serve` gives them.
        let own = sqlx::postgres::PgPoolOptions::new()
            .max_connections(6)
            .connect(&url)
            .await
            .unwrap();
        let w = Worker::new(Webhooks::new(own, config.clone()), name).unwrap();
        workers.push(tokio::spawn(w.run(std::future::pending())));
    }
    loop {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM webhooks.delivery WHERE state = 'pending'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = deliveries as f64 / t0.elapsed().as_secs_f64();
    let http_ms: f64 = sqlx::query_scalar("SELECT avg(duration_ms)::float8 FROM webhooks.attempt")
        .fetch_one(&pool)
        .await
        .unwrap();
    println!("mean time of one attempt's HTTP exchange: {http_ms:.1} ms");
    let got = receiver.received().len() - before;
    let verified = receiver.received()[before..].iter().all(|r| r.verified);
    println!(
        "throughput: {deliveries} deliveries by 2 workers at {rate:.0}/s; a bare client posts \
         {floor:.0}/s ({:.2} of the floor); {got} arrived, all signatures verified: {verified}",
        rate / floor
    );

    // 2. Latency, confirmation to arrival.
    let mut latencies = Vec::with_capacity(invoices);
    for i in 0..invoices {
        let payment = s.invoice(&m, &format!("LAT-{i}"), 1_000_000).await.unwrap();
        let confirmed = Instant::now();
        let p = payment.to_string();
        let arrived = receiver
            .wait_until(Duration::from_secs(30), |got| {
                got.iter().any(|g| {
                    g.kind() == "payment.opened" && g.json()["data"]["payment"] == p.as_str()
                })
            })
            .await;
        assert!(arrived, "invoice {i} was not notified within 30 s");
        let at = receiver
            .received()
            .iter()
            .find(|g| g.kind() == "payment.opened" && g.json()["data"]["payment"] == p.as_str())
            .map(|g| g.at)
            .unwrap();
        latencies.push(at.saturating_duration_since(confirmed));
    }
    latencies.sort();
    println!(
        "latency, confirmed on the node to notification received ({invoices} invoices): \
         p50 {}  p90 {}  p99 {}  max {}",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.9)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO))
    );
    for w in workers {
        w.abort();
    }
    pool.close().await;
    kassa_testkit::postgres::drop_database(&admin, &url).await;
}
