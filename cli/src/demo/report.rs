//! What `kassa demo` prints (merchant balances, payment timelines, pools, credit) and the
//! checks it runs on the mirror: every merchant wallet's balance equals its mirrored net,
//! every payment is in the state the day left it, nothing was parked, and every program
//! account equals its projection.

use anyhow::Result;
use kassa_indexer::{projection::Key, reconcile::reconcile, store, Indexer};
use kassa_testkit::demo_day::{Scenario, USD};
use solana_sdk::pubkey::Pubkey;
use sqlx::Row;

fn usd(units: u64) -> String {
    format!("{}.{:02}", units / USD, (units % USD) / 10_000)
}

pub struct Checks {
    pub failed: Vec<String>,
    pub passed: usize,
}

impl Checks {
    pub(crate) fn check(&mut self, ok: bool, what: String) {
        if ok {
            self.passed += 1;
        } else {
            println!("  FAILED: {what}");
            self.failed.push(what);
        }
    }
}

pub async fn print_and_check(s: &Scenario, indexer: &Indexer) -> Result<Checks> {
    let pool = &indexer.pool;
    let mut checks = Checks {
        failed: Vec::new(),
        passed: 0,
    };
    let name = |k: &Pubkey| {
        s.names
            .get(k)
            .cloned()
            .unwrap_or_else(|| k.to_string()[..8].to_string())
    };

    println!("\nMerchant balances (mirrored, USDC)");
    println!(
        "  {:<14} {:>9} {:>10} {:>10} {:>9} {:>8} {:>10}",
        "merchant", "payments", "settled", "refunded", "fees", "escrow", "net"
    );
    let mut rows = sqlx::query(
        "SELECT merchant, payments, escrowed::text, settled::text, refunded::text, fees::text, net::text
         FROM chain.merchant_balance",
    )
    .fetch_all(pool)
    .await?;
    // In the order the day created them, the same on every run.
    let merchant_of = |r: &sqlx::postgres::PgRow| Pubkey::try_from(r.get::<&[u8], _>(0));
    rows.sort_by_key(|r| merchant_of(r).map(|m| s.position(&m)).ok());
    for r in &rows {
        let merchant = merchant_of(r)?;
        let n = |i: usize| r.get::<String, _>(i).parse::<u64>().unwrap_or(0);
        println!(
            "  {:<14} {:>9} {:>10} {:>10} {:>9} {:>8} {:>10}",
            name(&merchant),
            r.get::<i64, _>(1),
            usd(n(3)),
            usd(n(4)),
            usd(n(5)),
            usd(n(2)),
            usd(n(6)),
        );
        // The merchant's wallet started empty, received every settlement and paid every
        // refund: its token balance on chain must equal the mirrored net.
        let key = merchant;
        let wallet = s
            .client
            .account::<anchor_spl::token_interface::TokenAccount>(&match s.names.get(&key) {
                Some(_) => {
                    let m: kassa_payments::state::Merchant = s.client.account(&key).await?;
                    s.proto.usdc.ata(&m.settlement_wallet)
                }
                None => continue,
            })
            .await?;
        // Advances the merchant took also reached its wallet.
        let advanced: String = sqlx::query(
            "SELECT coalesce(sum(a.amount), 0)::text FROM chain.advance a
             JOIN chain.credit_line l ON l.address = a.line WHERE l.merchant = $1",
        )
        .bind(merchant.as_ref())
        .fetch_one(pool)
        .await?
        .get(0);
        let advanced: u64 = advanced.parse().unwrap_or(0);
        checks.check(
            wallet.amount == n(6) + advanced,
            format!(
                "{}: wallet holds {} on chain, mirror says net {} + advances {}",
                name(&merchant),
                usd(wallet.amount),
                usd(n(6)),
                usd(advanced)
            ),
        );
    }

    println!("\nPayment timelines");
    let mut payments = store::rows(pool, kassa_indexer::projection::Kind::Payment).await?;
    payments.sort_by_key(|r| s.position(&r.address().0));
    for row in &payments {
        let kassa_indexer::projection::Row::Payment(p) = row else {
            continue;
        };
        let events: Vec<String> =
            sqlx::query("SELECT name FROM chain.payment_timeline WHERE payment = $1 ORDER BY seq")
                .bind(p.address.0.as_ref())
                .fetch_all(pool)
                .await?
                .into_iter()
                .map(|r| r.get::<String, _>(0))
                .collect();
        let paid_in = match &p.input_mint {
            Some(m) if *m == s.proto.usdt.mint => " (paid in USDT)",
            Some(m) if *m == s.proto.pyusd.mint => " (paid in PYUSD)",
            _ => "",
        };
        println!(
            "  {:<20} {:>8} {:<10} captured {:>7} refunded {:>7} released {:>7}{paid_in}",
            name(&p.address.0),
            usd(p.amount),
            p.status,
            usd(p.captured),
            usd(p.refunded),
            usd(p.released),
        );
        println!("  {:<20} {}", "", events.join(" → "));
        if let Some(expected) = s.expected.get(&p.address.0) {
            checks.check(
                p.status == *expected,
                format!(
                    "{}: mirrored status {} but the scenario left it {expected}",
                    name(&p.address.0),
                    p.status
                ),
            );
        }
    }
    checks.check(
        payments.len() == s.expected.len(),
        format!(
            "{} payments mirrored, the scenario opened {}",
            payments.len(),
            s.expected.len()
        ),
    );

    println!("\nConversion pools");
    let label = |m: &Key| {
        if *m == s.proto.usdc.mint {
            "USDC"
        } else if *m == s.proto.usdt.mint {
            "USDT"
        } else {
            "PYUSD"
        }
    };
    let mut pools: Vec<_> = store::rows(pool, kassa_indexer::projection::Kind::Pool)
        .await?
        .into_iter()
        .filter_map(|row| match row {
            kassa_indexer::projection::Row::Pool(p) => Some(p),
            _ => None,
        })
        .collect();
    // USDC/USDT before USDC/PYUSD, as the pools were created; USDC's side first.
    pools.sort_by_key(|p| label(&p.mint_a) != "USDT" && label(&p.mint_b) != "USDT");
    for p in pools {
        let usdc_first = label(&p.mint_a) == "USDC";
        let pair = |a: u64, b: u64| if usdc_first { (a, b) } else { (b, a) };
        let other = if usdc_first { &p.mint_b } else { &p.mint_a };
        let (reserve_usdc, reserve_other) = pair(p.reserve_a, p.reserve_b);
        let (volume_usdc, volume_other) = pair(p.volume_a, p.volume_b);
        let (fees_usdc, fees_other) = pair(p.protocol_fees_a, p.protocol_fees_b);
        println!(
            "  USDC/{:<6} reserves {} / {}  swaps {}  volume {} / {}  protocol fees {} / {}",
            label(other),
            usd(reserve_usdc),
            usd(reserve_other),
            p.swaps,
            usd(volume_usdc),
            usd(volume_other),
            usd(fees_usdc),
            usd(fees_other),
        );
    }

    println!("\nCredit pool (USDC)");
    for row in store::rows(pool, kassa_indexer::projection::Kind::CreditPool).await? {
        let kassa_indexer::projection::Row::CreditPool(p) = row else {
            continue;
        };
        println!(
            "  senior {}  junior {}  cash {}  lent {}  interest earned {}  fees payable {}",
            usd(p.senior_value),
            usd(p.junior_value),
            usd(p.cash),
            usd(p.principal),
            usd(p.income_total),
            usd(p.protocol_fees + p.admin_fees),
        );
    }
    for row in store::rows(pool, kassa_indexer::projection::Kind::CreditLine).await? {
        let kassa_indexer::projection::Row::CreditLine(l) = row else {
            continue;
        };
        println!(
            "  line of {:<14} {} {}  limit {}  drawn {}  repaid {} principal + {} interest  owes {}",
            name(&l.merchant.unwrap_or(l.borrower).0),
            l.kind,
            l.status,
            usd(l.credit_limit),
            usd(l.drawn_total),
            usd(l.principal_repaid),
            usd(l.interest_paid),
            usd(l.principal),
        );
    }
    for row in store::rows(pool, kassa_indexer::projection::Kind::Advance).await? {
        let kassa_indexer::projection::Row::Advance(a) = row else {
            continue;
        };
        println!(
            "  advance on {:<20} {}  arrived from the capture {}  settled {}",
            name(&a.payment.0),
            usd(a.amount),
            usd(a.arrived),
            a.settled
        );
        checks.check(
            a.settled && a.arrived == a.amount,
            format!("advance on {} repaid by its capture", name(&a.payment.0)),
        );
    }

    let counts = sqlx::query(
        "SELECT (SELECT count(*) FROM chain.transaction),
                (SELECT count(*) FROM chain.event WHERE NOT reverted),
                (SELECT count(*) FROM chain.instruction), (SELECT count(*) FROM chain.parked)",
    )
    .fetch_one(pool)
    .await?;
    println!(
        "\nIndexed {} transactions, {} events, {} instructions; {} parked",
        counts.get::<i64, _>(0),
        counts.get::<i64, _>(1),
        counts.get::<i64, _>(2),
        counts.get::<i64, _>(3)
    );
    checks.check(
        counts.get::<i64, _>(3) == 0,
        "nothing should be parked".into(),
    );
    // The raw history is partitioned by slot (docs/operations.md, "Archiving raw history"),
    // and one live event per (entity, seq) is kept across partitions by `chain.entity_seq`.
    let (partitions, width, keys): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM chain.partition WHERE archived_at IS NULL),
                (SELECT width FROM chain.partitioning),
                (SELECT count(*) FROM chain.entity_seq)",
    )
    .fetch_one(pool)
    .await?;
    println!(
        "Raw history in {partitions} slot partitions of {width} slots (the next one made ahead); \
         {keys} live (entity, seq) keys"
    );
    checks.check(
        partitions >= 2 && keys == counts.get::<i64, _>(1),
        "the raw history is partitioned and every live event holds its (entity, seq) key".into(),
    );

    let report = reconcile(pool, &indexer.source, &indexer.metrics).await?;
    println!(
        "Mirror check: {} program accounts compared with their projections, {} differences",
        report.checked,
        report.differences.len()
    );
    for d in &report.differences {
        println!("  {d}");
    }
    checks.check(
        report.differences.is_empty(),
        "the mirror matches the chain".into(),
    );
    checks.check(
        report.checked > 0,
        "the mirror check compared accounts".into(),
    );
    Ok(checks)
}
