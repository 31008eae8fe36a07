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

use anchor_spl::token_2022::spl_token_2022;
use kassa_indexer::{
    decode::{decode_transaction, DecodedTx, KassaEvent},
    pg::PgCluster,
    source::Source,
    store::{self, CursorUpdate},
};
use kassa_localnet::server::{start, LocalnetConfig};
use kassa_payments::{instructions::ConfigInitArgs, state::MerchantPolicy};
use kassa_sdk::{
    decode::PaymentsEvent,
    payments::{OrderId, Payments},
};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    instruction::Instruction,
    pubkey::Pubkey,
    signature::{Keypair, Signer},
    transaction::Transaction,
};
use sqlx::{postgres::PgPoolCopyExt, PgPool};
use std::{net::SocketAddr, time::Instant};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn send(
    rpc: &RpcClient,
    ixs: &[Instruction],
    payer: &Keypair,
    signers: &[&Keypair],
) -> String {
    let bh = rpc.get_latest_blockhash().await.expect("blockhash");
    let mut all = vec![payer];
    all.extend_from_slice(signers);
    let tx = Transaction::new_signed_with_payer(ixs, Some(&payer.pubkey()), &all, bh);
    rpc.send_and_confirm_transaction(&tx)
        .await
        .expect("lands")
        .to_string()
}

/// Records `n` transactions of four invoice openings each and decodes them.
async fn record(n: usize) -> Vec<DecodedTx> {
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    })
    .await
    .expect("localnet");
    let rpc = RpcClient::new_with_commitment(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let admin = Keypair::new();
    let sig = rpc
        .request_airdrop(&admin.pubkey(), 100_000_000_000)
        .await
        .unwrap();
    rpc.poll_for_signature(&sig).await.unwrap();
    let p = Payments::default();
    let me = admin.pubkey();
    let init = p
        .config_init(
            &me,
            &me,
            None,
            ConfigInitArgs {
                compliance_authority: me,
                arbiter: me,
                fee_receiver: me,
                protocol_fee_bps: 30,
            },
        )
        .unwrap();
    send(&rpc, &[init], &admin, &[]).await;
    let mint = Keypair::new();
    let rent = rpc
        .get_minimum_balance_for_rent_exemption(82)
        .await
        .unwrap();
    let create = solana_system_interface::instruction::create_account(
        &me,
        &mint.pubkey(),
        rent,
        82,
        &anchor_spl::token::ID,
    );
    let init_mint = spl_token_2022::instruction::initialize_mint2(
        &anchor_spl::token::ID,
        &mint.pubkey(),
        &me,
        None,
        6,
    )
    .unwrap();
    send(&rpc, &[create, init_mint], &admin, &[&mint]).await;
    let policy = MerchantPolicy {
        authorization_window: 86_400,
        auto_capture_delay: 0,
        refund_window: 86_400,
        dispute_window: 86_400,
        require_kyt: false,
    };
    let (register, merchant) = p
        .merchant_register(&me, &mint.pubkey(), &me, policy)
        .unwrap();
    send(&rpc, &[register], &admin, &[]).await;
    let kyb = p.merchant_kyb_attest(&me, &merchant, [1; 32]).unwrap();
    send(&rpc, &[kyb], &admin, &[]).await;
    let now = rpc
        .get_block_time(rpc.get_slot().await.unwrap())
        .await
        .unwrap();
    let mut sigs = Vec::with_capacity(n);
    for i in 0..n {
        let ixs: Vec<Instruction> = (0..4)
            .map(|j| {
                p.invoice_open(
                    &me,
                    &merchant,
                    &OrderId::new(&format!("B-{i}-{j}")).unwrap(),
                    1_000_000 + i as u64,
                    now + 86_400,
                )
                .unwrap()
                .0
            })
            .collect();
        sigs.push(send(&rpc, &ixs, &admin, &[]).await);
    }
    let source = Source::new(&net.rpc_url);
    let mut out = Vec::with_capacity(n);
    for s in sigs {
        let tx = source.transaction(&s).await.unwrap().expect("stored");
        out.push(decode_transaction(&tx).expect("decodes"));
    }
    out
}

/// A copy of `tx` under a fresh signature, each payment under a fresh address.
fn replicate(tx: &DecodedTx) -> DecodedTx {
    let mut t = tx.clone();
    t.signature =
        bs58::encode((0..64).map(|_| rand::random::<u8>()).collect::<Vec<u8>>()).into_string();
    for e in &mut t.events {
        let fresh = Pubkey::new_unique();
        if let KassaEvent::Payments(PaymentsEvent::InvoiceOpened(o)) = &mut e.event {
            o.header.entity = fresh;
        }
        e.data["header"]["entity"] = serde_json::json!(fresh.to_string());
    }
    t
}

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
    let recorded = record(env("KASSA_BENCH_RECORD", 500)).await;
    let per_round: usize = recorded.iter().map(|t| t.events.len()).sum();
    let mut workload = Vec::new();
    while workload
        .iter()
        .map(|t: &DecodedTx| t.events.len())
        .sum::<usize>()
        < events_wanted
    {
        workload.extend(recorded.iter().map(replicate));
    }
    let events: usize = workload.iter().map(|t| t.events.len()).sum();
    println!(
        "workload: {} transactions, {events} events ({per_round} recorded from localnet, replicated)",
        workload.len()
    );

    let (_cluster, admin) = match std::env::var("DATABASE_URL") {
        Ok(url) => (None, url),
        Err(_) => {
            let c = PgCluster::start().expect("private Postgres");
            let url = c.url.clone();
            (Some(c), url)
        }
    };
    let batch = env("KASSA_BENCH_BATCH", 500);

    // Apply: raw rows + projections + cursor, one database transaction per batch.
    let pool = fresh(&admin, "kassa_bench_apply").await;
    let t0 = Instant::now();
    for chunk in workload.chunks(batch) {
        let cursor = CursorUpdate {
            program: kassa_payments::ID,
            slot: chunk.last().unwrap().slot,
            signature: Some(chunk.last().unwrap().signature.clone()),
        };
        store::apply(&pool, chunk, Some(&cursor)).await.unwrap();
    }
    let apply = t0.elapsed();
    let payments: i64 = sqlx::query_scalar("SELECT count(*) FROM payments")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(payments as usize, events, "every event projected");

    // Baseline: the very rows the apply wrote (transactions, instructions, events, payment
    // projections, cursor), exported with COPY TO and timed loading back with COPY FROM into
    // tables with the same constraints and indexes.
    let tables = [
        "transactions",
        "instructions",
        "events",
        "payments",
        "ingest_cursor",
    ];
    let mut dumps = Vec::new();
    for t in tables {
        let mut conn = pool.acquire().await.unwrap();
        let mut stream = conn
            .copy_out_raw(&format!("COPY {t} TO STDOUT"))
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
    let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM events_copy")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(copied as usize, events);

    let apply_rate = events as f64 / apply.as_secs_f64();
    let copy_rate = events as f64 / copy.as_secs_f64();
    println!(
        "apply (events + projections + cursor)  {events} events in {:>6.2} s = {apply_rate:>8.0} events/s",
        apply.as_secs_f64()
    );
    println!(
        "COPY of the same rows                  {events} events in {:>6.2} s = {copy_rate:>8.0} events/s",
        copy.as_secs_f64()
    );
    println!(
        "apply / COPY = {:.2}; batches of {batch} transactions; {} cores",
        apply_rate / copy_rate,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    pool.close().await;
}
