//! The time to import and reconcile a bank statement of `KASSA_BENCH_ENTRIES` entries (default
//! 100,000): one debit per sent payout, every tenth of them returned on the same statement.
//! The import reads the camt.053 file, matches every line to its payout by end-to-end id and
//! amount, books the settled and returned payouts, moves each payout's state and stores every
//! line; the reconciliation then compares the bank account's ledger balance with the
//! statement's closing balance. The baseline, in the same run on the same server, is the file
//! parsed and the same lines inserted into a table without matching or booking.
//!
//! ```sh
//! cargo bench -p kassa-settlement --bench statement   # DATABASE_URL, or a private cluster
//! ```

use kassa_settlement::{
    bank::BankAccount,
    setup,
    statement::{self, BankLine, BankStatement},
};
use kassa_testkit::postgres::knob;
use std::time::Instant;
use time::macros::date;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let n = knob("KASSA_BENCH_ENTRIES", 100_000);
    let (_cluster, admin) =
        kassa_testkit::postgres::server_from_env().expect("DATABASE_URL or a private Postgres");
    let (pool, _) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");
    let day = date!(2026 - 11 - 30);
    let iban = "NL91ABNA0417164300";
    setup::add_bank_account(
        &pool,
        "eur-main",
        "EUR",
        &BankAccount::new("Kassa Payments B.V.", iban, "ABNANL2A").unwrap(),
        i64::from(u32::MAX),
        day,
    )
    .await
    .unwrap();
    // n sent payouts to n merchants, each reserved in transit as a sent batch leaves them.
    let setup_started = Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "INSERT INTO settlement.merchant (merchant, mode, payout_currency, bank_account, holder,
             iban, bic, created_at, updated_at)
         SELECT decode(lpad(to_hex(i), 64, '0'), 'hex'), 'fiat', 'EUR', 'eur-main', 'Merchant',
                'DE89370400440532013000', 'COBADEFF', now(), now()
         FROM generate_series(1, {n}) i;
         INSERT INTO settlement.payout_batch (id, bank_account, currency, business_date, state,
             file, file_sha256, created_at, sent_at)
         VALUES ('pb_20261130_eur-main', 'eur-main', 'EUR', '2026-11-30', 'sent', '<x/>',
                 repeat('0', 64), now(), now());
         INSERT INTO settlement.payout (id, batch, merchant, currency, amount, holder, iban, bic,
             end_to_end_id, state, created_at, sent_at)
         SELECT 'po_' || lpad(to_hex(i), 24, '0'), 'pb_20261130_eur-main',
                decode(lpad(to_hex(i), 64, '0'), 'hex'), 'EUR', 1000 + i % 5000,
                'Merchant', 'DE89370400440532013000', 'COBADEFF',
                'PO-' || lpad(upper(to_hex(i)), 24, '0'), 'sent', now(), now()
         FROM generate_series(1, {n}) i;
         INSERT INTO ledger.account (id, currency, kind) VALUES
             ('payouts:in_transit:eur', 'EUR', 'liability'), ('fx:eur', 'EUR', 'equity');
         INSERT INTO ledger.transfer (id, state, description, metadata, resolved_at)
             VALUES ('bench:sent', 'posted', 'the payouts sent', '{{}}', now());
         INSERT INTO ledger.posting (transfer_id, n, account_id, currency, amount)
         SELECT 'bench:sent', 0, 'fx:eur', 'EUR', sum(amount) FROM settlement.payout
         UNION ALL
         SELECT 'bench:sent', 1, 'payouts:in_transit:eur', 'EUR', -sum(amount)
         FROM settlement.payout;
         ANALYZE;"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let payouts: Vec<(String, i64)> =
        sqlx::query_as("SELECT end_to_end_id, amount FROM settlement.payout ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut lines = Vec::with_capacity(n + n / 10);
    for (i, (e2e, amount)) in payouts.iter().enumerate() {
        let line = |credit: bool, ret: Option<&str>| BankLine {
            amount: *amount,
            credit,
            booking_date: day,
            bank_ref: format!("ABNA{i:010}{}", u8::from(credit)),
            end_to_end_id: Some(e2e.clone()),
            return_reason: ret.map(str::to_string),
            remittance: None,
        };
        lines.push(line(false, None));
        if i % 10 == 0 {
            lines.push(line(true, Some("AC04")));
        }
    }
    let file = statement::write_camt053(&BankStatement {
        message_id: "BENCH-1".into(),
        statement_id: "EURMAIN-BENCH".into(),
        iban: iban.into(),
        currency: "EUR".into(),
        opening: i64::from(u32::MAX),
        date: day,
        lines,
    })
    .unwrap();
    eprintln!(
        "{n} payouts set up in {:.1} s; the statement has {} entries, {:.1} MB",
        setup_started.elapsed().as_secs_f64(),
        n + n / 10,
        file.len() as f64 / 1e6
    );

    // Baseline: parse the same file and insert its lines into a table, nothing matched.
    let started = Instant::now();
    let parsed = statement::parse_lines(file.as_bytes()).unwrap();
    sqlx::query(
        "CREATE TABLE bench_lines (n int PRIMARY KEY, amount int8, credit bool, e2e text,
                                   reason text)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO bench_lines SELECT n::int4, a, c, e, r
         FROM unnest($1::int8[], $2::bool[], $3::text[], $4::text[])
              WITH ORDINALITY AS t(a, c, e, r, n)",
    )
    .bind(parsed.iter().map(|l| l.0).collect::<Vec<_>>())
    .bind(parsed.iter().map(|l| l.1).collect::<Vec<_>>())
    .bind(parsed.iter().map(|l| l.2.clone()).collect::<Vec<_>>())
    .bind(parsed.iter().map(|l| l.3.clone()).collect::<Vec<_>>())
    .execute(&pool)
    .await
    .unwrap();
    let baseline = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let imported = statement::import(&pool, file.as_bytes()).await.unwrap();
    let import = started.elapsed().as_secs_f64();
    assert_eq!(imported.settled, n);
    assert_eq!(imported.returned, n.div_ceil(10));
    assert!(imported.exceptions.is_empty());

    // The bank side of a reconciliation: the ledger's bank account against the closing balance.
    let started = Instant::now();
    let (ledger, closing): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT debits_posted - credits_posted FROM ledger.account_balance
                 WHERE id = 'bank:eur-main'),
                (SELECT closing FROM settlement.statement ORDER BY id DESC LIMIT 1)",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let reconcile = started.elapsed().as_secs_f64();
    assert_eq!(ledger, closing, "the ledger reconciles with the statement");

    println!(
        "statement of {} entries: import and match {import:.2} s ({:.0} entries/s), \
         reconcile {:.3} s; baseline (parse + plain insert) {baseline:.2} s; \
         import / baseline {:.1}x",
        n + n / 10,
        (n + n / 10) as f64 / import,
        reconcile,
        import / baseline
    );
}
