//! Localnet memory under a long run: the node's resident size while it lands
//! `KASSA_BENCH_TX` transactions (default 1,000,000) of full payment lifecycles that also
//! close their payments (invoice, pay, void, close: the accounts they open are closed again, so
//! what remains is history, which `--limit-ledger-size` bounds, not state). Slots are sealed
//! every 400 transactions. Reports the resident size at each tenth of the run as a ratio of the
//! size after setup (the baseline, measured in the same run), with the history the node holds.
//!
//! `cargo bench -p kassa-localnet --bench ledger_memory` (`KASSA_BENCH_TX`;
//! `KASSA_BENCH_LEDGER`, transactions of history kept, default the node's).

mod common;

use kassa_localnet::node::{Node, NodeConfig, DEFAULT_LEDGER_LIMIT};
use kassa_sdk::payments::{OrderId, Payments, ReleaseRefs};
use solana_sdk::{
    instruction::Instruction,
    signature::{Keypair, Signer},
    transaction::{Transaction, VersionedTransaction},
};
use std::time::Instant;

/// Resident set size of this process, in MiB (Linux).
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Lands `ixs` signed by `signers` (the first pays), sealing a slot every 400 transactions.
fn land(node: &mut Node, ixs: &[Instruction], signers: &[&Keypair], count: &mut usize) {
    let (blockhash, _) = node.latest_blockhash();
    let tx =
        Transaction::new_signed_with_payer(ixs, Some(&signers[0].pubkey()), signers, blockhash);
    let sig = node
        .land(VersionedTransaction::from(tx))
        .expect("transaction lands");
    let meta = &node.transaction(&sig).expect("recorded").meta;
    assert!(
        meta.status.is_ok(),
        "{:?}: {:?}",
        meta.status,
        meta.log_messages
    );
    *count += 1;
    if count.is_multiple_of(400) {
        node.advance_slot().expect("slot advances");
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "error");
    }
    let total = common::knob("KASSA_BENCH_TX", 1_000_000);
    let ledger_limit = common::knob("KASSA_BENCH_LEDGER", DEFAULT_LEDGER_LIMIT);
    let mut node = Node::start(
        NodeConfig {
            ledger_limit,
            ..Default::default()
        },
        [],
    )
    .await;
    let mut count = 0usize;
    let p = Payments::default();
    let admin = Keypair::new();
    let payer = Keypair::new();
    node.airdrop(&admin.pubkey(), 900_000_000_000).unwrap();
    node.airdrop(&payer.pubkey(), 100_000_000_000).unwrap();
    let me = admin.pubkey();
    let mint = Keypair::new();
    let rent = node
        .bank()
        .get_minimum_balance_for_rent_exemption(common::MINT_SIZE as usize);
    let setup = common::protocol(&p, &me, &mint.pubkey(), rent);
    for (i, ixs) in setup.transactions.iter().enumerate() {
        let signers: Vec<&Keypair> = if i == 1 {
            vec![&admin, &mint]
        } else {
            vec![&admin]
        };
        land(&mut node, ixs, &signers, &mut count);
    }
    let (usdc, merchant) = (setup.usdc, setup.merchant);
    let fund = common::fund(&me, &payer.pubkey(), &usdc, 0, 1_000_000_000_000);
    land(&mut node, &fund, &[&admin], &mut count);

    let baseline = rss_mib();
    println!(
        "ledger limit {ledger_limit} transactions; {total} transactions of invoice, pay, void, close"
    );
    println!(
        "{:>10} {:>10} {:>8} {:>10} {:>9}",
        "landed", "RSS MiB", "ratio", "history", "tx/s"
    );
    println!(
        "{:>10} {baseline:>10.1} {:>8.2} {:>10} {:>9}",
        count, 1.0, "-", "-"
    );
    let started = Instant::now();
    let (mut since, mut at) = (Instant::now(), count);
    let expires = node.now() + 30 * 86_400;
    let mut next_report = total / 10;
    let mut order = 0u64;
    while count < total {
        order += 1;
        let id = OrderId::new(&format!("M-{order}")).unwrap();
        let (open, payment) = p
            .invoice_open(&me, &merchant, &id, 1_000_000, expires)
            .unwrap();
        land(&mut node, &[open], &[&admin], &mut count);
        let pay = p
            .payment_pay(&payer.pubkey(), &merchant, &payment, &usdc, None)
            .unwrap();
        land(&mut node, &[pay], &[&payer], &mut count);
        let refs = ReleaseRefs {
            payment,
            mint: usdc,
            payer: payer.pubkey(),
        };
        land(
            &mut node,
            &[p.payment_void(&me, &merchant, &refs).unwrap()],
            &[&admin],
            &mut count,
        );
        let close = p.payment_close(&me, &merchant, &payment, &me).unwrap();
        land(&mut node, &[close], &[&admin], &mut count);
        if count >= next_report {
            let rate = (count - at) as f64 / since.elapsed().as_secs_f64();
            let rss = rss_mib();
            println!(
                "{count:>10} {rss:>10.1} {:>8.2} {:>10} {rate:>9.0}",
                rss / baseline,
                node.history_len()
            );
            (since, at) = (Instant::now(), count);
            next_report += total / 10;
        }
    }
    println!(
        "{count} transactions in {:.0} s on {} cores",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
}
