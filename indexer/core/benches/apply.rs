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
    source::Source,
    store::{self, CursorUpdate},
    Chunk, IndexerConfig,
};
use kassa_localnet::server::{start, LocalnetConfig};
use kassa_payments::{instructions::ConfigInitArgs, state::MerchantPolicy};
use kassa_sdk::{
    payments::{MintRef, OrderId, Payments, SettlementRefs},
    rpc::KassaClient,
};
use kassa_testkit::postgres::knob as env;
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    instruction::Instruction,
    pubkey::Pubkey,
    signature::{Keypair, Signature, Signer},
};
use sqlx::{postgres::PgPoolCopyExt, PgPool};
use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    time::Instant,
};

/// The two recorded workloads, decoded by the indexer.
struct Recorded {
    /// Transactions of four invoice openings each: every event creates a payment.
    invoices: Vec<DecodedTx>,
    /// Payments opened, then paid, then captured, one instruction per transaction, the three
    /// steps of a payment batches apart: most events update a stored payment and move tokens.
    lifecycle: Vec<DecodedTx>,
}

/// Records `n` transactions of four invoice openings each, and `m` payment lifecycles.
async fn record(n: usize, m: usize) -> Recorded {
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    })
    .await
    .expect("localnet");
    let client = KassaClient::new(net.rpc_url.clone(), CommitmentConfig::confirmed());
    let rpc = &client.rpc;
    let admin = Keypair::new();
    let sig = rpc
        .request_airdrop(&admin.pubkey(), 100_000_000_000)
        .await
        .unwrap();
    rpc.poll_for_signature(&sig).await.unwrap();
    let p = Payments::default();
    let me = admin.pubkey();
    // Fees go to a wallet of their own: one token account cannot be both payouts of a capture.
    let fee_receiver = Pubkey::new_unique();
    let init = p
        .config_init(
            &me,
            &me,
            None,
            ConfigInitArgs {
                compliance_authority: me,
                arbiter: me,
                fee_receiver,
                protocol_fee_bps: 30,
            },
        )
        .unwrap();
    client.send(&[init], &admin, &[]).await.expect("lands");
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
    let mint_ref = MintRef::new(mint.pubkey(), anchor_spl::token::ID).unwrap();
    let [ata, fee_ata] = [me, fee_receiver].map(|owner| anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(&me, &owner, &mint.pubkey(), &anchor_spl::token::ID));
    let fund = spl_token_2022::instruction::mint_to(
        &anchor_spl::token::ID,
        &mint.pubkey(),
        &mint_ref.ata(&me),
        &me,
        &[],
        u64::MAX / 2,
    )
    .unwrap();
    client
        .send(&[create, init_mint, ata, fee_ata, fund], &admin, &[&mint])
        .await
        .expect("lands");
    client
        .send(&[p.vault_open(&me, &mint_ref).unwrap()], &admin, &[])
        .await
        .expect("lands");
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
    client.send(&[register], &admin, &[]).await.expect("lands");
    let kyb = p.merchant_kyb_attest(&me, &merchant, [1; 32]).unwrap();
    client.send(&[kyb], &admin, &[]).await.expect("lands");
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
        sigs.push(client.send(&ixs, &admin, &[]).await.expect("lands"));
    }
    let mut opened = Vec::with_capacity(m);
    let mut lifecycle = Vec::with_capacity(3 * m);
    for i in 0..m {
        let (open, payment) = p
            .invoice_open(
                &me,
                &merchant,
                &OrderId::new(&format!("L-{i}")).unwrap(),
                2_000_000 + i as u64,
                now + 86_400,
            )
            .unwrap();
        lifecycle.push(client.send(&[open], &admin, &[]).await.expect("lands"));
        opened.push(payment);
    }
    for payment in &opened {
        let pay = p
            .payment_pay(&me, &merchant, payment, &mint_ref, None)
            .unwrap();
        lifecycle.push(client.send(&[pay], &admin, &[]).await.expect("lands"));
    }
    for (i, payment) in opened.iter().enumerate() {
        let refs = SettlementRefs {
            merchant,
            payment: *payment,
            mint: mint_ref,
            fee_receiver,
            settlement_wallet: me,
            assignee: None,
        };
        let capture = p.payment_capture(&me, &refs, 2_000_000 + i as u64).unwrap();
        lifecycle.push(client.send(&[capture], &admin, &[]).await.expect("lands"));
    }
    let source = Source::new(&net.rpc_url);
    let fetch = |sigs: Vec<Signature>| {
        let source = &source;
        async move {
            let mut out = Vec::with_capacity(sigs.len());
            for s in sigs {
                let tx = source.transaction(&s).await.unwrap().expect("stored");
                out.push(decode_transaction(&tx).expect("decodes"));
            }
            out
        }
    };
    Recorded {
        invoices: fetch(sigs).await,
        lifecycle: fetch(lifecycle).await,
    }
}

/// A copy of `tx` under a fresh signature, every entity under the address `fresh` gives it
/// (a random one the first time), in the event's bytes, its typed form and its JSON alike.
fn replicate(tx: &DecodedTx, fresh: &mut HashMap<Pubkey, Pubkey>) -> DecodedTx {
    let mut t = tx.clone();
    t.signature = Signature::from(rand::random::<[u8; 64]>());
    for e in &mut t.events {
        let entity = e.event.header().entity;
        let to = *fresh
            .entry(entity)
            .or_insert_with(|| Pubkey::new_from_array(rand::random()));
        // emit_cpi! data: 8-byte event-instruction tag, 8-byte event discriminator, then the
        // event, whose first field is its header, whose first field is the entity.
        assert_eq!(
            &e.raw[16..48],
            entity.as_ref(),
            "the header leads every event"
        );
        e.raw[16..48].copy_from_slice(to.as_ref());
        e.event = KassaEvent::from_cpi(&e.program, &e.raw).unwrap().unwrap();
        assert_eq!(e.event.header().entity, to);
        e.data["header"]["entity"] = serde_json::json!(to.to_string());
    }
    t
}

/// Copies of `recorded` under fresh signatures and entities until `events` events.
fn workload(recorded: &[DecodedTx], events: usize) -> Vec<DecodedTx> {
    let mut out = Vec::new();
    let mut n = 0;
    while n < events {
        let mut fresh = HashMap::new();
        for t in recorded {
            n += t.events.len();
            out.push(replicate(t, &mut fresh));
        }
    }
    out
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
    let recorded = record(
        env("KASSA_BENCH_RECORD", 500),
        env("KASSA_BENCH_LIFECYCLES", 500),
    )
    .await;
    let (_cluster, admin) =
        kassa_testkit::postgres::server_from_env().expect("DATABASE_URL or a private Postgres");
    let batch = env("KASSA_BENCH_BATCH", IndexerConfig::default().batch_size);
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
    let chunks: Vec<Chunk> = workload
        .chunks(batch)
        .map(|txs| {
            let last = txs.last().unwrap();
            let cursor = CursorUpdate {
                program: kassa_payments::ID,
                slot: last.slot,
                signature: Some(last.signature),
            };
            (txs.to_vec(), cursor)
        })
        .collect();
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

    // Baseline: the very rows the apply wrote (transactions, instructions, events, payment
    // projections, cursor, the webhook outbox, the settlement and compliance inboxes), exported
    // with COPY TO and timed loading back with COPY FROM into tables with the same constraints and indexes.
    let tables = [
        "chain.transaction",
        "chain.instruction",
        "chain.event",
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
    let copied: i64 = sqlx::query_scalar("SELECT count(*) FROM chain.event_copy")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(copied as usize, events);
    pool.close().await;
    (apply, copy)
}
