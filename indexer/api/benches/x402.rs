//! x402 paid calls, measured end to end on a local node (`docs/x402.md` has the figures): a
//! merchant's axum server priced with the paywall, Kassa's API as facilitator, agents using
//! `kassa_sdk::x402::client`, the node at 400 ms slots (a cluster's), Postgres, loopback HTTP.
//!
//! 1. **Baseline**: the same handler unpriced, `KASSA_BENCH_CALLS` (default 200) sequential
//!    calls.
//! 2. **`kassa-escrow`**: one session opened, then `KASSA_BENCH_CALLS` sequential paid calls
//!    (reserve, serve, deliver; the capture follows delivery off the call's path), and the time
//!    from a call's answer to its capture confirmed on chain.
//! 3. **`exact`**: `KASSA_BENCH_EXACT` (default 40) sequential paid calls (verify, simulate,
//!    serve, co-sign, send, confirm: a slot's wait is on the call's path).
//! 4. **Throughput**: `KASSA_BENCH_AGENTS` (default 8) agents at once, each making
//!    `KASSA_BENCH_CALLS / 4` escrow calls, then `KASSA_BENCH_EXACT / 2` exact calls: paid calls
//!    per second for each scheme.
//!
//! ```sh
//! cargo bench -p kassa-api --bench x402     # DATABASE_URL, or a private cluster
//! ```

use axum::{routing::get, Router};
use kassa_api::{
    x402::paywall::{gate, Facilitator, Paywall, Price},
    ApiConfig, AppState,
};
use kassa_sdk::{
    api::types::{CreateOperatorKey, Role},
    x402::client::{AssetLimit, Client, Policy},
};
use kassa_testkit::{
    bench::{millis as ms, p50_p99 as summary},
    postgres::knob,
};
use solana_sdk::signature::{Keypair, Signer};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

const PRICE: u64 = 1_000;

fn main() {
    kassa_testkit::bench::run_on_two_workers(run());
}

async fn timed(client: &Client, url: &str, n: usize, paid: bool) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = client.get(url).await.unwrap();
        out.push(t.elapsed());
        assert_eq!(r.status, 200, "{url}");
        assert_eq!(r.receipt.is_some(), paid, "{url}");
    }
    out
}

/// Paid calls per second with every agent calling `url` `each` times at once.
async fn in_parallel(clients: &[Arc<Client>], url: &str, each: usize) -> f64 {
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in clients {
        let (c, url) = (c.clone(), url.to_string());
        tasks.push(tokio::spawn(
            async move { timed(&c, &url, each, true).await },
        ));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (clients.len() * each) as f64 / t.elapsed().as_secs_f64()
}

async fn run() {
    let calls = knob("KASSA_BENCH_CALLS", 200);
    let exact_calls = knob("KASSA_BENCH_EXACT", 40);
    let agents = knob("KASSA_BENCH_AGENTS", 8);
    let (_cluster, admin, pool, url, net, mut s) = kassa_testkit::bench::world().await.parts();
    let indexer = Arc::new(kassa_indexer::Indexer::new(
        pool.clone(),
        kassa_indexer::source::Source::new(&net.rpc_url),
        kassa_indexer::IndexerConfig::default(),
    ));
    let indexing = {
        let indexer = indexer.clone();
        tokio::spawn(async move { indexer.run(std::future::pending()).await })
    };
    let m = s
        .merchant("Bench Weather", kassa_testkit::demo_day::shop_policy())
        .await
        .unwrap();
    kassa_testkit::demo_day::caught_up(&pool, &s.signatures)
        .await
        .unwrap();
    let fee_payer = Keypair::new();
    s.fund(&fee_payer).await.unwrap();
    let genesis = solana_rpc_client::nonblocking::rpc_client::RpcClient::new(net.rpc_url.clone())
        .get_genesis_hash()
        .await
        .unwrap();
    let network = kassa_sdk::x402::caip2(&genesis.to_string());
    let operators = std::env::temp_dir().join(format!("kassa-x402-bench-{}", std::process::id()));
    let (_, key) =
        kassa_api::auth::create_account(&pool, "Bench Weather", Role::Merchant, Some(&m.address))
            .await
            .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let api_url = format!("http://127.0.0.1:{port}");
    let state = AppState::new(
        kassa_api::connect(&url, 8).await.unwrap(),
        ApiConfig {
            public_url: api_url.clone(),
            rpc_url: net.rpc_url.clone(),
            rate_per_sec: 100_000,
            burst: 100_000,
            operator_keys: Some(Arc::new(
                kassa_api::operator_keys::OperatorKeys::load(&operators).unwrap(),
            )),
            x402: Some(kassa_api::x402::X402Config {
                fee_payer: Arc::new(fee_payer.insecure_clone()),
                networks: vec![network.clone()],
            }),
            ..ApiConfig::default()
        },
        None,
    );
    tokio::spawn(kassa_api::serve(
        listener,
        None,
        kassa_api::router(state.clone()),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    kassa_api::x402::escrow::spawn_recovery(state, Duration::from_secs(2), stop_rx);
    // The merchant lets Kassa hold an operator key (escrow sessions need it).
    let merchant_api = kassa_sdk::api::Client::new(&api_url, &key.secret).unwrap();
    let prepared = merchant_api
        .create_operator_key(
            &m.address.to_string(),
            &CreateOperatorKey {
                fund_lamports: Some(2_000_000_000),
            },
            "bench-operator",
        )
        .await
        .unwrap();
    merchant_api
        .sign_and_submit(&prepared, &[&m.owner], "bench-operator-set")
        .await
        .unwrap();

    // The merchant's server.
    let shop = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", shop.local_addr().unwrap().port());
    let paywall = Paywall::new(
        Facilitator::new(
            reqwest::Client::new(),
            &format!("{api_url}/x402"),
            &key.secret,
        ),
        &base,
    );
    let usdc = s.proto.usdc.mint;
    let wallet = m.owner.pubkey();
    let mut exact = Price::new(PRICE, usdc, wallet, "a forecast");
    exact.escrow = false;
    let handler = || async { axum::Json(serde_json::json!({ "forecast": "sunny" })) };
    let app = Router::new()
        .route("/free", get(handler))
        .route(
            "/escrow",
            get(handler).route_layer(axum::middleware::from_fn_with_state(
                paywall.price(Price::new(PRICE, usdc, wallet, "a forecast")),
                gate,
            )),
        )
        .route(
            "/exact",
            get(handler).route_layer(axum::middleware::from_fn_with_state(
                paywall.price(exact),
                gate,
            )),
        );
    tokio::spawn(async move { axum::serve(shop, app).await });
    let policy = Policy {
        assets: vec![AssetLimit {
            network: network.clone(),
            asset: usdc,
            per_call: PRICE,
            per_recipient: 1_000_000_000,
        }],
    };
    let agent = |budget_calls: usize| {
        let policy = policy.clone();
        let rpc_url = net.rpc_url.clone();
        async move {
            let k = Keypair::new();
            let mut limits = policy;
            limits.assets[0].per_recipient = (budget_calls as u64) * PRICE;
            (k, rpc_url, limits)
        }
    };
    println!("node at 400 ms slots; indexer at its defaults; 2 cores; loopback HTTP");

    // 1. Baseline.
    let (k, rpc_url, limits) = agent(calls).await;
    s.fund(&k).await.unwrap();
    let client = Client::new(reqwest::Client::new(), &rpc_url, k, limits);
    let _ = timed(&client, &format!("{base}/free"), 10, false).await;
    let mut free = timed(&client, &format!("{base}/free"), calls, false).await;
    let (free50, free99) = summary(&mut free);

    // 2. Escrow: the first call opens the session (timed apart), then the calls.
    let t = Instant::now();
    let _ = timed(&client, &format!("{base}/escrow"), 1, true).await;
    let opening = t.elapsed();
    let t = Instant::now();
    let mut escrow = timed(&client, &format!("{base}/escrow"), calls - 1, true).await;
    let escrow_rate = (calls - 1) as f64 / t.elapsed().as_secs_f64();
    let (e50, e99) = summary(&mut escrow);
    // Answer to capture confirmed, over the last calls.
    let mut to_capture = Vec::new();
    for r in client.receipts().iter().rev().take(20) {
        let t = Instant::now();
        for _ in 0..600 {
            if client.call_status(r).await.unwrap().status == "captured" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        to_capture.push(t.elapsed());
    }
    let captured_by: Duration = to_capture.iter().copied().max().unwrap_or_default();
    client.close_sessions().await.unwrap();

    // 3. Exact.
    let (k, rpc_url, limits) = agent(exact_calls).await;
    s.fund(&k).await.unwrap();
    let exact_client = Client::new(reqwest::Client::new(), &rpc_url, k, limits);
    let t = Instant::now();
    let mut exact_times = timed(&exact_client, &format!("{base}/exact"), exact_calls, true).await;
    let exact_rate = exact_calls as f64 / t.elapsed().as_secs_f64();
    let (x50, x99) = summary(&mut exact_times);

    // 4. Agents at once.
    let mut clients = Vec::new();
    for _ in 0..agents {
        let (k, rpc_url, limits) = agent(calls).await;
        s.fund(&k).await.unwrap();
        clients.push(Arc::new(Client::new(
            reqwest::Client::new(),
            &rpc_url,
            k,
            limits,
        )));
    }
    let escrow_parallel =
        in_parallel(&clients, &format!("{base}/escrow"), (calls / 4).max(1)).await;
    for c in &clients {
        c.close_sessions().await.unwrap();
    }
    let exact_parallel =
        in_parallel(&clients, &format!("{base}/exact"), (exact_calls / 2).max(1)).await;
    let _ = stop_tx.send(true);

    println!();
    println!("| call | p50 | p99 | added p50 over unpaid | paid calls/s, 1 agent | paid calls/s, {agents} agents |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| unpaid (baseline) | {} | {} | — | — | — |",
        ms(free50),
        ms(free99)
    );
    println!(
        "| kassa-escrow | {} | {} | {} ({:.1}x) | {:.0} | {:.0} |",
        ms(e50),
        ms(e99),
        ms(e50.saturating_sub(free50)),
        e50.as_secs_f64() / free50.as_secs_f64(),
        escrow_rate,
        escrow_parallel
    );
    println!(
        "| exact | {} | {} | {} ({:.0}x) | {:.1} | {:.1} |",
        ms(x50),
        ms(x99),
        ms(x50.saturating_sub(free50)),
        x50.as_secs_f64() / free50.as_secs_f64(),
        exact_rate,
        exact_parallel
    );
    println!();
    println!(
        "opening a session (ask, check, sign, authorize on chain): {}",
        ms(opening)
    );
    println!(
        "escrow: every one of the last 20 calls' captures confirmed within {} of the run's end",
        ms(captured_by)
    );
    indexing.abort();
    kassa_testkit::postgres::drop_database(&admin, &url).await;
}
