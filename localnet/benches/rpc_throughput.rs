//! Localnet throughput: payment transactions (`payment_pay`) sent concurrently over JSON-RPC,
//! each confirmed through `getSignatureStatuses`. Reports confirmed transactions per second and
//! p50/p99 confirmation latency, beside a baseline of plain SOL transfers measured in the same
//! run. `cargo bench -p kassa-localnet --bench rpc_throughput` (`KASSA_BENCH_TX`, default 2,000;
//! `KASSA_BENCH_CLIENTS`, default 16).

mod common;

use kassa_localnet::server::{start, LocalnetConfig};
use kassa_sdk::{
    payments::{OrderId, Payments},
    rpc::KassaClient,
};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    instruction::Instruction,
    signature::{Keypair, Signer},
    transaction::Transaction,
};
use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

/// One client's work: instructions signed by its own payer.
struct Client {
    payer: Keypair,
    instructions: Vec<Instruction>,
}

/// Each client signs every transaction just before sending it, against a blockhash it refreshes
/// every 30 s (a blockhash lives 150 blocks, 60 s, as on a cluster), sends it and waits for it
/// to confirm; clients run concurrently.
async fn run(kassa: Arc<KassaClient>, clients: Vec<Client>) -> (Duration, Vec<Duration>) {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for client in clients {
        let kassa = kassa.clone();
        tasks.push(tokio::spawn(async move {
            let rpc = &kassa.rpc;
            let mut latencies = Vec::with_capacity(client.instructions.len());
            let mut blockhash = rpc.get_latest_blockhash().await.expect("blockhash");
            let mut fetched = Instant::now();
            for ix in client.instructions {
                let t0 = Instant::now();
                if fetched.elapsed() > Duration::from_secs(30) {
                    blockhash = rpc.get_latest_blockhash().await.expect("blockhash");
                    fetched = Instant::now();
                }
                let tx = Transaction::new_signed_with_payer(
                    &[ix],
                    Some(&client.payer.pubkey()),
                    &[&client.payer],
                    blockhash,
                );
                let sig = rpc.send_transaction(&tx).await.expect("sent");
                loop {
                    let status = rpc
                        .get_signature_statuses(&[sig])
                        .await
                        .expect("status")
                        .value[0]
                        .clone();
                    if let Some(s) = status {
                        assert!(s.err.is_none(), "{:?}", s.err);
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                latencies.push(t0.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    (started.elapsed(), latencies)
}

fn report(name: &str, total: Duration, mut latencies: Vec<Duration>) -> f64 {
    latencies.sort();
    let pct = |p: usize| latencies[(latencies.len() * p / 100).min(latencies.len() - 1)];
    let tps = latencies.len() as f64 / total.as_secs_f64();
    println!(
        "{name:<28} {:>6} tx in {:>6.2} s = {tps:>7.0} tx/s   p50 {:>6.2} ms   p99 {:>6.2} ms",
        latencies.len(),
        total.as_secs_f64(),
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3
    );
    tps
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    if std::env::var_os("RUST_LOG").is_none() {
        // The bank logs every instruction at debug level otherwise.
        std::env::set_var("RUST_LOG", "error");
    }
    let n = common::knob("KASSA_BENCH_TX", 2_000);
    let clients = common::knob("KASSA_BENCH_CLIENTS", 16);
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        slot_interval: Duration::from_millis(400),
        ..Default::default()
    })
    .await
    .expect("localnet starts");
    let client = Arc::new(KassaClient::new(
        net.rpc_url.clone(),
        CommitmentConfig::confirmed(),
    ));
    let rpc = &client.rpc;
    let admin = Keypair::new();
    rpc.poll_for_signature(
        &rpc.request_airdrop(&admin.pubkey(), 900_000_000_000)
            .await
            .unwrap(),
    )
    .await
    .unwrap();
    let p = Payments::default();
    let me = admin.pubkey();
    let mint = Keypair::new();
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(common::MINT_SIZE as usize)
        .await
        .unwrap();
    let setup = common::protocol(&p, &me, &mint.pubkey(), rent);
    for (i, ixs) in setup.transactions.iter().enumerate() {
        let extra: Vec<&Keypair> = if i == 1 { vec![&mint] } else { Vec::new() };
        client
            .send(ixs, &admin, &extra)
            .await
            .expect("setup transaction lands");
    }
    let (usdc, merchant) = (setup.usdc, setup.merchant);

    // One payer per client, funded; one open invoice per payment.
    let payers: Vec<Keypair> = (0..clients).map(|_| Keypair::new()).collect();
    for payer in &payers {
        let fund = common::fund(
            &me,
            &payer.pubkey(),
            &usdc,
            10_000_000_000,
            1_000_000_000_000,
        );
        client
            .send(&fund, &admin, &[])
            .await
            .expect("setup transaction lands");
    }
    let expires = rpc
        .get_block_time(rpc.get_slot().await.unwrap())
        .await
        .unwrap()
        + 86_000;
    let mut invoices = Vec::with_capacity(n);
    for chunk in (0..n).collect::<Vec<_>>().chunks(8) {
        let mut ixs = Vec::new();
        for i in chunk {
            let (ix, payment) = p
                .invoice_open(
                    &me,
                    &merchant,
                    &OrderId::new(&format!("B-{i}")).unwrap(),
                    1_000_000,
                    expires,
                )
                .unwrap();
            ixs.push(ix);
            invoices.push(payment);
        }
        client
            .send(&ixs, &admin, &[])
            .await
            .expect("setup transaction lands");
    }

    // Baseline: SOL transfers, the cheapest transaction the node lands.
    let sink = Keypair::new().pubkey();
    // The sink is rent-exempt first, so each small transfer is valid on its own.
    client
        .send(
            &[solana_system_interface::instruction::transfer(
                &me,
                &sink,
                1_000_000_000,
            )],
            &admin,
            &[],
        )
        .await
        .expect("setup transaction lands");
    let transfers = payers
        .iter()
        .enumerate()
        .map(|(c, payer)| Client {
            payer: payer.insecure_clone(),
            instructions: (0..n / clients)
                .map(|i| {
                    solana_system_interface::instruction::transfer(
                        &payer.pubkey(),
                        &sink,
                        1_000 + (c * n + i) as u64,
                    )
                })
                .collect(),
        })
        .collect();
    let (total, lat) = run(client.clone(), transfers).await;
    let baseline = report("SOL transfer (baseline)", total, lat);

    let pays = payers
        .iter()
        .enumerate()
        .map(|(c, payer)| Client {
            payer: payer.insecure_clone(),
            instructions: invoices
                .iter()
                .skip(c)
                .step_by(clients)
                .map(|payment| {
                    p.payment_pay(&payer.pubkey(), &merchant, payment, &usdc, None)
                        .unwrap()
                })
                .collect(),
        })
        .collect();
    let (total, lat) = run(client.clone(), pays).await;
    let payments = report("payment_pay", total, lat);
    println!(
        "payments/baseline ratio {:.2}; {} clients; {} cores",
        payments / baseline,
        clients,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
