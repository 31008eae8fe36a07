//! The hosted checkout, measured (`docs/checkout.md` has the figures):
//!
//! 1. **Weight**: the checkout page of an open invoice (its QR code inline) with every asset it
//!    loads, and the same with a locked quote, against the 100 KB budget.
//! 2. **Time to first byte** of `GET /checkout/{payment}` over `KASSA_BENCH_REQUESTS` (default
//!    500) sequential keep-alive requests, beside `GET /v1/payments/{payment}` (the API's JSON
//!    read of the same payment) and `GET /healthz` in the same run.
//! 3. **Confirmation to page**: `KASSA_BENCH_INVOICES` (default 30) invoices, each watched over
//!    the page's server-sent events while a wallet pays it through its transaction request;
//!    from the moment the wallet saw the payment confirmed to the moment the page's stream said
//!    `paid`, beside the indexer's own part of it (confirmed to the payment row stored), with
//!    the indexer at its `kassa serve` default (it polls the node every 400 ms).
//!
//! ```sh
//! cargo bench -p kassa-api --bench checkout     # DATABASE_URL, or a private cluster
//! ```
//!
//! Plain HTTP on loopback (TLS adds the same record encryption to every route alike).

use base64::{engine::general_purpose::STANDARD, Engine};
use kassa_api::{ApiConfig, AppState};
use kassa_sdk::{
    api::types::{PayTransaction, Role},
    payments::{OrderId, Payments},
};
use kassa_testkit::{
    bench::{millis as ms, p50_p99 as summary},
    postgres::knob,
};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    signature::{Keypair, Signer},
    transaction::Transaction,
};
use std::{
    sync::Arc,
    time::{Duration, Instant},
};

fn main() {
    kassa_testkit::bench::run_on_two_workers(run());
}

/// Time to the response headers of `url`, `n` times on one keep-alive client.
async fn ttfb(http: &reqwest::Client, url: &str, key: Option<&str>, n: usize) -> Vec<Duration> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let mut req = http.get(url);
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let t = Instant::now();
        let r = req.send().await.unwrap();
        out.push(t.elapsed());
        assert!(r.status().is_success(), "{url}: {}", r.status());
        let _ = r.bytes().await.unwrap();
    }
    out
}

async fn run() {
    let requests = knob("KASSA_BENCH_REQUESTS", 500);
    let invoices = knob("KASSA_BENCH_INVOICES", 30);
    let (_cluster, admin, pool, url, net, mut s) = kassa_testkit::bench::world().await.parts();
    let indexer_config = kassa_indexer::IndexerConfig::default();
    println!(
        "indexer poll {} ms, page watch poll {} ms; 2 cores",
        indexer_config.poll.as_millis(),
        kassa_api::web::watch::POLL.as_millis()
    );
    let indexer = Arc::new(kassa_indexer::Indexer::new(
        pool.clone(),
        kassa_indexer::source::Source::new(&net.rpc_url),
        indexer_config,
    ));
    let indexing = {
        let indexer = indexer.clone();
        tokio::spawn(async move { indexer.run(std::future::pending()).await })
    };
    let m = s
        .merchant("Bench Shop", kassa_testkit::demo_day::shop_policy())
        .await
        .unwrap();
    kassa_testkit::demo_day::caught_up(&pool, &s.signatures)
        .await
        .unwrap();
    for (mint, code) in [
        (s.proto.usdc.mint, "USDC"),
        (s.proto.usdt.mint, "USDT"),
        (s.proto.pyusd.mint, "PYUSD"),
    ] {
        kassa_settlement::setup::set_currency(&pool, &mint, code, 6)
            .await
            .unwrap();
    }
    let (_, key) =
        kassa_api::auth::create_account(&pool, "Bench Shop", Role::Merchant, Some(&m.address))
            .await
            .unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let state = AppState::new(
        kassa_api::connect(&url, 8).await.unwrap(),
        ApiConfig {
            public_url: format!("https://localhost:{port}"),
            rpc_url: net.rpc_url.clone(),
            rate_per_sec: 100_000,
            burst: 100_000,
            ..ApiConfig::default()
        },
        None,
    );
    tokio::spawn(kassa_api::serve(
        listener,
        None,
        kassa_api::router(state),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let p = Payments::default();
    let send = |ixs: Vec<solana_sdk::instruction::Instruction>, signer: Keypair| {
        let rpc = &rpc;
        async move {
            let hash = rpc.get_latest_blockhash().await.unwrap();
            let tx =
                Transaction::new_signed_with_payer(&ixs, Some(&signer.pubkey()), &[&signer], hash);
            rpc.send_and_confirm_transaction(&tx).await.unwrap();
        }
    };
    let open = |order: String| {
        let p = &p;
        let rpc = &rpc;
        let owner = m.owner.insecure_clone();
        let merchant = m.address;
        let send = &send;
        async move {
            let clock: solana_sdk::clock::Clock = bincode::deserialize(
                &rpc.get_account(&solana_sdk::sysvar::clock::ID)
                    .await
                    .unwrap()
                    .data,
            )
            .unwrap();
            let (ix, payment) = p
                .invoice_open(
                    &owner.pubkey(),
                    &merchant,
                    &OrderId::new(&order).unwrap(),
                    12_500_000,
                    clock.unix_timestamp + 3_600,
                )
                .unwrap();
            send(vec![ix], owner).await;
            payment
        }
    };
    let stored = |payment: solana_sdk::pubkey::Pubkey, status: &'static str| {
        let pool = pool.clone();
        async move {
            loop {
                let s: Option<String> =
                    sqlx::query_scalar("SELECT status FROM chain.payment WHERE address = $1")
                        .bind(&payment.to_bytes()[..])
                        .fetch_optional(&pool)
                        .await
                        .unwrap();
                if s.as_deref() == Some(status) {
                    return Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    let http = reqwest::Client::new();

    // 1. Weight.
    let first = open("W-1".into()).await;
    stored(first, "open").await;
    let page_url = format!("{base}/checkout/{first}");
    let html = http
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let mut assets = 0;
    for a in ["/assets/kassa.css", "/assets/checkout.js"] {
        assets += http
            .get(format!("{base}{a}"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .len();
    }
    let quoted = http
        .post(format!("{page_url}/quote"))
        .form(&[("mint", s.proto.usdt.mint.to_string())])
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    println!(
        "weight: checkout page {:.1} KB + stylesheet and script {:.1} KB = {:.1} KB (budget 100 KB); with a locked quote {:.1} KB + {:.1} KB = {:.1} KB",
        html.len() as f64 / 1024.0,
        assets as f64 / 1024.0,
        (html.len() + assets) as f64 / 1024.0,
        quoted.len() as f64 / 1024.0,
        assets as f64 / 1024.0,
        (quoted.len() + assets) as f64 / 1024.0,
    );

    // 2. Time to first byte.
    let warm = 20;
    ttfb(&http, &page_url, None, warm).await;
    let mut page = ttfb(&http, &page_url, None, requests).await;
    let mut json = ttfb(
        &http,
        &format!("{base}/v1/payments/{first}"),
        Some(&key.secret),
        requests,
    )
    .await;
    let mut health = ttfb(&http, &format!("{base}/healthz"), None, requests).await;
    let (pp50, pp99) = summary(&mut page);
    let (jp50, jp99) = summary(&mut json);
    let (hp50, hp99) = summary(&mut health);
    println!("time to first byte over {requests} requests (p50 / p99):");
    println!(
        "  GET /checkout/{{payment}}     {} / {}",
        ms(pp50),
        ms(pp99)
    );
    println!(
        "  GET /v1/payments/{{payment}}  {} / {}   (checkout: {:.1}x / {:.1}x of it)",
        ms(jp50),
        ms(jp99),
        pp50.as_secs_f64() / jp50.as_secs_f64(),
        pp99.as_secs_f64() / jp99.as_secs_f64()
    );
    println!("  GET /healthz                 {} / {}", ms(hp50), ms(hp99));

    // 3. Confirmation to page.
    let customer = Keypair::new();
    s.fund(&customer).await.unwrap();
    let mut to_page = Vec::new();
    let mut to_row = Vec::new();
    for i in 0..invoices {
        let payment = open(format!("L-{i}")).await;
        stored(payment, "open").await;
        // The page's stream, open before the payment as a customer's page is.
        let mut events = http
            .get(format!("{base}/checkout/{payment}/events"))
            .send()
            .await
            .unwrap();
        let mut seen = String::new();
        while !seen.contains("\"phase\":\"waiting\"") {
            let chunk = events
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        let answer: PayTransaction = http
            .post(format!("{base}/v1/pay/{payment}"))
            .json(&serde_json::json!({"account": customer.pubkey().to_string()}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut tx: Transaction =
            bincode::deserialize(&STANDARD.decode(&answer.transaction).unwrap()).unwrap();
        let hash = tx.message.recent_blockhash;
        tx.try_partial_sign(&[&customer], hash).unwrap();
        rpc.send_and_confirm_transaction(&tx).await.unwrap();
        let confirmed = Instant::now();
        let row = tokio::spawn(stored(payment, "authorized"));
        let mut seen = String::new();
        while !seen.contains("\"phase\":\"paid\"") && !seen.contains("\"phase\":\"finalized\"") {
            let chunk = events
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
        to_page.push(confirmed.elapsed());
        to_row.push(row.await.unwrap().duration_since(confirmed));
    }
    let (gp50, gp99) = summary(&mut to_page);
    let (rp50, rp99) = summary(&mut to_row);
    println!("confirmed on chain → shown, over {invoices} payments (p50 / p99):");
    println!(
        "  the page's event stream says paid   {} / {}",
        ms(gp50),
        ms(gp99)
    );
    println!(
        "  the indexer stored the payment      {} / {}   (the page adds {} / {})",
        ms(rp50),
        ms(rp99),
        ms(gp50.saturating_sub(rp50)),
        ms(gp99.saturating_sub(rp99))
    );
    drop(m);
    indexing.abort();
    kassa_testkit::postgres::drop_database(&admin, &url).await;
}
