//! The demo's settlement: a bakery paid in euros. Its settlement wallet is the treasury's, so its
//! captures leave it a payable in the ledger, pending until final; the day's payout batch
//! converts its posted balance at the day's rate and pays it to its bank account in a
//! `pain.001.001.09` file; the demo then plays the bank, writes the `camt.053.001.08`
//! statement the bank would send back, imports it, and reconciles the ledger with the chain
//! and the bank to the cent; the same statement carries a customer's transfer that buys USDC
//! through the on-ramp, paid from the treasury. The files are written into `kassa-demo-settlement/` in the working
//! directory.

use super::report::Checks;
use anyhow::{Context, Result};
use kassa_settlement::{
    accounts,
    bank::BankAccount,
    book, mass, onramp, payout,
    rates::FileRates,
    reconcile, report,
    setup::{self, Mode},
    statement::{self, BankLine, BankStatement},
    Ledger,
};
use kassa_testkit::demo_day::{caught_up, shop_policy, Scenario, USD};
use solana_sdk::signature::{Keypair, Signer};
use sqlx::PgPool;
use std::{path::PathBuf, time::Duration};
use time::OffsetDateTime;

const KASSA_IBAN: &str = "NL91ABNA0417164300";
/// 250,000.00 EUR.
const OPENING: i64 = 25_000_000;

/// Where the demo writes the payout and statement files.
pub fn folder() -> PathBuf {
    PathBuf::from("kassa-demo-settlement")
}

/// The day's rate file (USDC in EUR, EUR in USDC), written before the server's settings are read.
pub fn write_rates() -> Result<PathBuf> {
    let dir = folder();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("rates.csv");
    let today = OffsetDateTime::now_utc().date();
    std::fs::write(
        &path,
        format!(
            "date,base,quote,rate\n# The treasury desk's daily rates: USDC in EUR, EUR in USDC\n\
             {today},USDC,EUR,0.9231\n{today},EUR,USDC,1.0812\n"
        ),
    )?;
    Ok(path)
}

fn eur(minor: i64) -> String {
    payout::format_amount(minor, 2)
}

fn usdc(minor: i64) -> String {
    format!("{:.2}", minor as f64 / USD as f64)
}

pub async fn run(
    pool: &PgPool,
    s: &mut Scenario,
    rpc_url: &str,
    rates_path: &std::path::Path,
    checks: &mut Checks,
) -> Result<()> {
    println!("\nSettlement in euros: Linden Bakery is paid to its bank account, not in USDC");
    let err = |e: kassa_settlement::SettlementError| anyhow::anyhow!("{e}");
    let usdc_mint = s.proto.usdc;
    let treasury = Keypair::new();
    setup::set_currency(pool, &usdc_mint.mint, "USDC", 6)
        .await
        .map_err(err)?;
    setup::set_treasury(pool, &treasury.pubkey())
        .await
        .map_err(err)?;
    let today = OffsetDateTime::now_utc().date();
    setup::add_bank_account(
        pool,
        "eur-main",
        "EUR",
        &BankAccount::new("Kassa Payments B.V.", KASSA_IBAN, "ABNANL2A")?,
        OPENING,
        today,
    )
    .await
    .map_err(err)?;
    let cafe = s
        .merchant_owned_by("Linden Bakery", shop_policy(), treasury.insecure_clone())
        .await?;
    caught_up(pool, &s.signatures).await?;
    let bank = BankAccount::new(
        "Linden Bakery GmbH",
        "DE89 3704 0044 0532 0130 00",
        "COBADEFFXXX",
    )?;
    setup::set_merchant(
        pool,
        &cafe.address,
        &Mode::Fiat {
            currency: "EUR".into(),
            via: "eur-main".into(),
            account: bank,
            spread_bps: 50,
        },
    )
    .await
    .map_err(err)?;
    let guest = Keypair::new();
    s.fund(&guest).await?;
    let mut first = None;
    for (order, amount) in [
        ("BREAD-1", 120 * USD),
        ("BREAD-2", 45 * USD + USD / 2),
        ("BREAD-3", 80 * USD),
    ] {
        let p = s.invoice(&cafe, order, amount).await?;
        s.pay(&cafe, &p, &guest, &usdc_mint).await?;
        s.capture(&cafe, &p, amount, None).await?;
        first.get_or_insert(p);
    }
    // A refund the treasury pays for the bakery: its payable is still pending (not final), so
    // it is a receivable, netted when the bakery is paid out.
    if let Some(p) = first {
        s.refund(&cafe, &p, &guest.pubkey(), 15 * USD).await?;
    }
    caught_up(pool, &s.signatures).await?;
    // Final on the demo's node at once; the indexer's finality pass marks it, then it is booked.
    for _ in 0..300 {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM chain.transaction WHERE commitment = 'confirmed'",
        )
        .fetch_one(pool)
        .await?;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let booked = book::drain(pool).await.map_err(err)?;
    let ledger = Ledger::new(pool.clone());
    let posted = |id: String| {
        let ledger = ledger.clone();
        async move {
            Ok::<i64, anyhow::Error>(
                ledger
                    .account(&id)
                    .await?
                    .map(|a| a.balance.posted(a.kind) as i64)
                    .unwrap_or(0),
            )
        }
    };
    let payable = posted(accounts::payable(&cafe.address, "USDC").id).await?;
    let receivable = posted(accounts::receivable(&cafe.address, "USDC").id).await?;
    let gross = 120 * USD + 45 * USD + USD / 2 + 80 * USD;
    let fee = [120 * USD, 45 * USD + USD / 2, 80 * USD]
        .iter()
        .map(|a| a * 30 / 10_000)
        .sum::<u64>();
    println!(
        "  3 captures of {} USDC (fees {}), 1 refund of 15.00 paid by the treasury: the ledger booked \
         {} chain events; the bakery's payable: {} USDC, its receivable (the refund): {} USDC",
        usdc(gross as i64),
        usdc(fee as i64),
        booked.written,
        usdc(payable),
        usdc(receivable)
    );
    checks.check(
        payable - receivable == (gross - fee - 15 * USD) as i64,
        "Settlement: the bakery's balance is its captures less fees less the refund".into(),
    );

    let rates = FileRates::load(rates_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let cut = payout::cut(pool, &rates, "eur-main", today)
        .await
        .map_err(err)?;
    let sent = payout::send(pool, &cut.batch, today).await.map_err(err)?;
    let dir = folder();
    let pain = dir.join(format!("{}.pain.001.001.09.xml", sent.batch));
    std::fs::write(&pain, &sent.file)?;
    let po = payout::list(pool, Some(&sent.batch)).await.map_err(err)?;
    let po = po.first().context("the batch pays the bakery")?;
    println!(
        "  Payout batch {}: {} EUR to {} ({}), the refund netted, converted at 0.9231 less 50 bps, \
         end-to-end id {}",
        sent.batch,
        eur(po.amount),
        po.holder,
        po.iban,
        po.end_to_end_id
    );
    println!("    {}", pain.display());

    // A customer buys USDC by bank transfer: registered with its wallet, it wires 50.00 EUR
    // with its reference, which the statement shows.
    let mira = Keypair::new();
    let reference = onramp::register(pool, &mira.pubkey(), &usdc_mint.mint, "Mira Jansen", 50)
        .await
        .map_err(err)?;
    // The bank executes the payout and sends its statement back.
    let camt = statement::write_camt053(&BankStatement {
        message_id: format!("ABNA-{}", today),
        statement_id: format!("EURMAIN-{}", today),
        iban: KASSA_IBAN.into(),
        currency: "EUR".into(),
        opening: OPENING,
        date: today,
        lines: vec![
            BankLine {
                amount: po.amount,
                credit: false,
                booking_date: today,
                bank_ref: "ABNA0000001".into(),
                end_to_end_id: Some(po.end_to_end_id.clone()),
                return_reason: None,
                remittance: Some(format!("Kassa payout {}", po.id)),
            },
            BankLine {
                amount: 5_000,
                credit: true,
                booking_date: today,
                bank_ref: "ABNA0000002".into(),
                end_to_end_id: None,
                return_reason: None,
                remittance: Some(format!("{reference} Mira Jansen")),
            },
        ],
    })
    .map_err(err)?;
    let camt_path = dir.join(format!("EURMAIN-{today}.camt.053.001.08.xml"));
    std::fs::write(&camt_path, &camt)?;
    let imported = statement::import_with(pool, camt.as_bytes(), Some(&rates))
        .await
        .map_err(err)?;
    println!(
        "  Bank statement imported: {} lines, {} payout settled, {} on-ramp purchase, {} exceptions",
        imported.lines,
        imported.settled,
        imported.onramp,
        imported.exceptions.len()
    );
    println!("    {}", camt_path.display());
    checks.check(
        imported.settled == 1 && imported.onramp == 1 && imported.exceptions.is_empty(),
        "Settlement: the bank's statement settles the payout by its end-to-end id".into(),
    );
    // The on-ramp pays Mira from the treasury; booked once final.
    let rpc = solana_rpc_client::nonblocking::rpc_client::RpcClient::new(rpc_url.to_string());
    let mut bought = 0;
    for id in onramp::unsent(pool).await.map_err(err)? {
        mass::send(pool, &rpc, &treasury, &id).await.map_err(err)?;
        for _ in 0..100 {
            let s = mass::settle(pool, &rpc, &id).await.map_err(err)?;
            if s.done {
                bought += s.paid;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let expected = kassa_settlement::money::convert(5_000, 2, 6, "1.0812".parse()?, 50)? as i64;
    println!(
        "  On-ramp: Mira wired 50.00 EUR with {reference}; the treasury sent her {} USDC \
         (1.0812 less 50 bps)",
        usdc(bought)
    );
    checks.check(
        bought == expected,
        "Settlement: an on-ramp credit is paid in USDC from the treasury and booked".into(),
    );
    checks.check(
        po.amount
            == kassa_settlement::money::convert(
                gross - fee - 15 * USD,
                6,
                2,
                "0.9231".parse()?,
                50,
            )? as i64,
        "Settlement: the payout is the balance net of the refund, at the day's rate less the spread"
            .into(),
    );

    let r = reconcile::run(pool, &rpc).await.map_err(err)?;
    println!("  Reconciliation (ledger against chain and bank):");
    for l in &r.lines {
        let (ledger, external) = if l.source == "bank" {
            (
                format!("{} EUR", eur(l.ledger)),
                format!("{} EUR", eur(l.external)),
            )
        } else {
            (
                format!("{} USDC", usdc(l.ledger)),
                format!("{} USDC", usdc(l.external)),
            )
        };
        println!(
            "    {:<18} {:>16}  {:<40} {:>16}  difference {}",
            l.account, ledger, l.what, external, l.difference
        );
    }
    checks.check(
        r.clean(),
        "Settlement: the ledger reconciles with the chain and the bank to the cent".into(),
    );
    let unbooked = book::open_exceptions(pool).await.map_err(err)?;
    checks.check(
        unbooked.is_empty(),
        format!(
            "Settlement: every money-moving event of the day was booked ({} exceptions)",
            unbooked.len()
        ),
    );
    let tb = report::trial_balance(pool).await.map_err(err)?;
    checks.check(
        tb.balanced(),
        "Settlement: the trial balance is zero in every currency".into(),
    );
    Ok(())
}
