//! Ledger transfers posted per second with the balance rules on, beside a baseline measured in
//! the same run on the same server: the same rows inserted into tables without the ledger's
//! triggers and checks (the cost of the database enforcing the rules is the ratio).
//!
//! Each transfer is a capture (a debit of the treasury, credits of a merchant's payable and of
//! the fee revenue) across `KASSA_BENCH_MERCHANTS` merchants (default 100), written by
//! `KASSA_BENCH_CLIENTS` concurrent clients (default 4), one database transaction each;
//! `KASSA_BENCH_TRANSFERS` in all (default 20,000). Then the same number of two-phase payouts:
//! a pending transfer against each payable, then posted.
//!
//! ```sh
//! cargo bench -p kassa-settlement --bench post     # DATABASE_URL, or a private cluster
//! ```

use kassa_settlement::{AccountKind, Ledger, NewAccount, NewTransfer, Posting};
use kassa_testkit::postgres::knob;
use std::time::Instant;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

fn capture(i: usize, merchants: usize) -> NewTransfer {
    NewTransfer {
        id: format!("cap-{i}"),
        postings: vec![
            Posting::debit("treasury", "USDC", 1_000),
            Posting::credit(&format!("m{}:payable", i % merchants), "USDC", 970),
            Posting::credit("fees", "USDC", 30),
        ],
        pending: false,
        description: String::new(),
        metadata: serde_json::json!({}),
    }
}

fn payout(i: usize, merchants: usize) -> NewTransfer {
    NewTransfer {
        id: format!("pay-{i}"),
        postings: vec![
            Posting::debit(&format!("m{}:payable", i % merchants), "USDC", 970),
            Posting::credit("treasury", "USDC", 970),
        ],
        pending: true,
        description: String::new(),
        metadata: serde_json::json!({}),
    }
}

fn account(id: String, kind: AccountKind, no_overdraft: bool) -> NewAccount {
    NewAccount {
        id,
        currency: "USDC".into(),
        kind,
        no_overdraft,
        description: String::new(),
    }
}

async fn run() {
    let n = knob("KASSA_BENCH_TRANSFERS", 20_000);
    let clients = knob("KASSA_BENCH_CLIENTS", 4);
    let merchants = knob("KASSA_BENCH_MERCHANTS", 100);
    let (_cluster, admin) =
        kassa_testkit::postgres::server_from_env().expect("DATABASE_URL or a private Postgres");
    let (pool, _) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");
    let ledger = Ledger::new(pool.clone());
    ledger
        .open_account(&account("treasury".into(), AccountKind::Asset, false))
        .await
        .unwrap();
    ledger
        .open_account(&account("fees".into(), AccountKind::Revenue, false))
        .await
        .unwrap();
    for m in 0..merchants {
        ledger
            .open_account(&account(
                format!("m{m}:payable"),
                AccountKind::Liability,
                true,
            ))
            .await
            .unwrap();
    }
    // Ledger: captures, then two-phase payouts.
    let rate = |label: &str, count: usize, t: Instant| {
        let r = count as f64 / t.elapsed().as_secs_f64();
        println!(
            "{label:<44} {count:>7} in {:>6.2} s = {r:>8.0}/s",
            t.elapsed().as_secs_f64()
        );
        r
    };
    let run_all = |make: fn(usize, usize) -> NewTransfer, post: bool| {
        let ledger = ledger.clone();
        async move {
            let mut tasks = Vec::new();
            for c in 0..clients {
                let ledger = ledger.clone();
                tasks.push(tokio::spawn(async move {
                    for i in (c..n).step_by(clients) {
                        let t = make(i, merchants);
                        ledger.transfer(&t).await.expect("transfer");
                        if post {
                            ledger.post_pending(&t.id).await.expect("post");
                        }
                    }
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        }
    };
    let t = Instant::now();
    run_all(capture, false).await;
    let captures = rate("ledger: captures (3 postings, posted)", n, t);
    let t = Instant::now();
    run_all(payout, true).await;
    let payouts = rate("ledger: payouts (2 postings, pending then posted)", n, t);

    // Baseline: the same rows, plain tables, one database transaction per transfer.
    sqlx::raw_sql(
        "CREATE TABLE plain_transfer (id text PRIMARY KEY, state text NOT NULL);
         CREATE TABLE plain_posting (transfer_id text NOT NULL, n smallint NOT NULL,
             account_id text NOT NULL, currency text NOT NULL, amount bigint NOT NULL,
             PRIMARY KEY (transfer_id, n))",
    )
    .execute(&pool)
    .await
    .unwrap();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in (c..n).step_by(clients) {
                let tr = capture(i, merchants);
                let mut tx = pool.begin().await.unwrap();
                sqlx::query("INSERT INTO plain_transfer VALUES ($1, 'posted')")
                    .bind(&tr.id)
                    .execute(&mut *tx)
                    .await
                    .unwrap();
                let accounts: Vec<&str> = tr.postings.iter().map(|p| p.account.as_str()).collect();
                let currencies: Vec<&str> =
                    tr.postings.iter().map(|p| p.currency.as_str()).collect();
                let amounts: Vec<i64> = tr.postings.iter().map(|p| p.amount).collect();
                sqlx::query(
                    "INSERT INTO plain_posting SELECT $1, (n - 1)::smallint, a, c, v
                     FROM unnest($2::text[], $3::text[], $4::int8[]) WITH ORDINALITY AS p(a, c, v, n)",
                )
                .bind(&tr.id)
                .bind(&accounts)
                .bind(&currencies)
                .bind(&amounts)
                .execute(&mut *tx)
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let baseline = rate("baseline: the same capture rows, plain tables", n, t);
    let trial = ledger.trial_balance().await.unwrap();
    assert_eq!(
        trial,
        vec![("USDC".to_string(), 0, 0)],
        "the ledger balances"
    );
    println!(
        "captures / baseline {:.2}; payouts (two statements each) / baseline {:.2}; {clients} clients, {merchants} merchants, {} cores",
        captures / baseline,
        payouts / baseline,
        std::thread::available_parallelism().map_or(0, |c| c.get())
    );
}
