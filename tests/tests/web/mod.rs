//! The web pages in a real browser: Debian's headless Chromium, driven through ChromeDriver,
//! against `kassa localnet`, the indexer and the API over TLS. A customer pays from the
//! checkout's QR code (read back out of a screenshot) and sees the page turn without a reload;
//! pays in another stablecoin within a locked quote and is refused a stale one; sees expired
//! and cancelled invoices, both Chinese pages and a phone's width, each audited with axe-core
//! (from npm). A merchant signs in, finds a payment, captures it through a wallet injected into
//! the page (Wallet Standard), and watches the timeline change; another merchant's payment is
//! out of reach, and a form without its CSRF token is refused. Screenshots of every page are
//! kept in `$CARGO_TARGET_DIR/web-screenshots/`.

mod driver;

use crate::api::{http_client, idem, indexed, wait_for};
use base64::{engine::general_purpose::STANDARD, Engine};
use driver::{Browser, Driver};
use kassa_api::{tls::LocalTls, ApiConfig, AppState};
use kassa_indexer::{source::Source, Indexer, IndexerConfig};
use kassa_localnet::{
    node::NodeConfig,
    server::{start, LocalnetConfig},
};
use kassa_payments::state::MerchantPolicy;
use kassa_sdk::{
    api::{
        types::{CreateInvoice, PayTransaction, Role},
        Client,
    },
    payments::{OrderId, Payments},
    solana_pay::TransactionRequest,
};
use kassa_testkit::demo_day::{bare, Scenario, USD};
use serde_json::{json, Value};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    pubkey::Pubkey,
    signature::{Keypair, Signer},
    transaction::Transaction,
};
use sqlx::PgPool;
use std::{
    net::SocketAddr,
    path::PathBuf,
    str::FromStr,
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

const DAY: i64 = 86_400;
/// The checkout's quote lock in these tests (the default is 30 s).
const LOCK: Duration = Duration::from_secs(6);

struct Shop {
    address: Pubkey,
    key: String,
    owner: Keypair,
}

struct WebEnv {
    url: String,
    ca: Vec<u8>,
    rpc_url: String,
    db_url: String,
    shop: Shop,
    other: Shop,
    operator: String,
    usdt: Pubkey,
    /// The driver every test opens its browsers from.
    driver: Driver,
    /// What each test funds its customers from (the demo's issuer, through the scenario).
    scenario: tokio::sync::Mutex<Scenario>,
}

static ENV: OnceLock<WebEnv> = OnceLock::new();
static RT: OnceLock<tokio::runtime::Handle> = OnceLock::new();

/// The environment, built once on a runtime of its own that outlives the tests'.
fn env() -> &'static WebEnv {
    ENV.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            let _ = RT.set(rt.handle().clone());
            rt.block_on(async move {
                let env = build().await;
                tx.send(env).expect("send env");
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("the web environment starts")
    })
}

fn policy() -> MerchantPolicy {
    MerchantPolicy {
        authorization_window: 7 * DAY,
        auto_capture_delay: 0,
        refund_window: 30 * DAY,
        dispute_window: 7 * DAY,
        require_kyt: false,
    }
}

async fn build() -> WebEnv {
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        slot_interval: Duration::from_millis(50),
        node: NodeConfig::default(),
    })
    .await
    .expect("localnet starts");
    let mut s = bare(&net.rpc_url).await.expect("the protocol bootstraps");
    let shop = s.merchant("Web Shop", policy()).await.expect("Web Shop");
    let other = s
        .merchant("Other Shop", policy())
        .await
        .expect("Other Shop");

    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/test sets it)");
    let (pool, db_url) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");
    for (m, code) in [
        (s.proto.usdc.mint, "USDC"),
        (s.proto.usdt.mint, "USDT"),
        (s.proto.pyusd.mint, "PYUSD"),
    ] {
        kassa_settlement::setup::set_currency(&pool, &m, code, 6)
            .await
            .expect("a currency code");
    }
    let indexer = Arc::new(Indexer::new(
        pool.clone(),
        Source::new(&net.rpc_url),
        IndexerConfig {
            poll: Duration::from_millis(100),
            ..IndexerConfig::default()
        },
    ));
    {
        let indexer = indexer.clone();
        tokio::spawn(async move { indexer.run(std::future::pending()).await });
    }
    wait_for(&pool, "SELECT count(*) FROM chain.merchant", 2).await;
    wait_for(&pool, "SELECT count(*) FROM chain.conversion_pool", 2).await;

    let tls_dir = std::env::temp_dir().join(format!("kassa-web-test-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tls_dir);
    let local = LocalTls::ensure(&tls_dir).expect("a local CA");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let api_pool = kassa_api::connect(&db_url, 8)
        .await
        .expect("the API's pool");
    let state = AppState::new(
        api_pool,
        ApiConfig {
            public_url: url.clone(),
            rpc_url: net.rpc_url.clone(),
            compliance_key: Some(Arc::new(s.proto.payer.insecure_clone())),
            webhooks: Some(kassa_webhooks::Config::new(
                kassa_webhooks::SealingKey::from_bytes(&[7; 32]),
            )),
            rate_per_sec: 5_000,
            burst: 5_000,
            quote_lock: LOCK,
            ..ApiConfig::default()
        },
        Some(indexer.metrics.clone()),
    );
    tokio::spawn(kassa_api::serve(
        listener,
        Some(local.config().await.expect("TLS config")),
        kassa_api::router(state),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    let account = |name: &'static str, m: Pubkey| {
        let pool = pool.clone();
        async move {
            kassa_api::auth::create_account(&pool, name, Role::Merchant, Some(&m))
                .await
                .expect("merchant account")
                .1
                .secret
        }
    };
    let shop = Shop {
        key: account("Web Shop", shop.address).await,
        address: shop.address,
        owner: shop.owner,
    };
    let other = Shop {
        key: account("Other Shop", other.address).await,
        address: other.address,
        owner: other.owner,
    };
    let (_, operator) =
        kassa_api::auth::create_account(&pool, "Web operator", Role::Operator, None)
            .await
            .expect("operator");
    let rpc_url = net.rpc_url.clone();
    std::mem::forget(net);
    WebEnv {
        url,
        ca: std::fs::read(&local.ca_cert).unwrap(),
        rpc_url,
        db_url,
        shop,
        other,
        operator: operator.secret,
        usdt: s.proto.usdt.mint,
        driver: Driver::start().await,
        scenario: tokio::sync::Mutex::new(s),
    }
}

/// Runs `f` on the environment's runtime (where its servers live) and waits for it.
async fn on_env<F, T>(f: F) -> T
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    env();
    RT.get()
        .expect("the environment's runtime")
        .spawn(f)
        .await
        .expect("the task finishes")
}

impl WebEnv {
    fn client(&self, key: &str) -> Client {
        Client::with_ca(&self.url, key, &self.ca).unwrap()
    }

    async fn pool(&self) -> PgPool {
        PgPool::connect(&self.db_url).await.unwrap()
    }

    fn rpc(&self) -> RpcClient {
        RpcClient::new_with_commitment(self.rpc_url.clone(), CommitmentConfig::confirmed())
    }

    /// A customer with SOL and each stablecoin.
    async fn customer(&self) -> Keypair {
        let who = Keypair::new();
        let c = who.insecure_clone();
        on_env(async move {
            let e = env();
            e.scenario.lock().await.fund(&c).await.expect("funded");
        })
        .await;
        who
    }

    /// Opens an invoice of `shop` through the API (its owner signs) and waits until it is
    /// mirrored; answers the payment address.
    async fn invoice(&self, shop: &Shop, order: &str, amount: u64) -> String {
        let api = self.client(&shop.key);
        let unsigned = api
            .create_invoice(
                &CreateInvoice {
                    order_id: order.to_string(),
                    amount: amount.to_string(),
                    expires_in_secs: Some(900),
                    signer: None,
                },
                &idem(),
            )
            .await
            .expect("the invoice transaction");
        api.sign_and_submit(&unsigned, &[&shop.owner], &idem())
            .await
            .expect("the invoice opens");
        indexed(&self.pool().await, &unsigned.payment, "open").await;
        unsigned.payment
    }

    /// Pays through a Solana Pay transaction request as a wallet does: POST the account, sign
    /// what comes back, send it. Answers the moment the cluster confirmed it.
    async fn pay(&self, request: &str, payer: &Keypair) -> Result<Instant, (u16, String)> {
        let link = TransactionRequest::from_str(request).expect("a transaction request");
        let r = http_client(&self.ca)
            .post(link.link())
            .json(&json!({"account": payer.pubkey().to_string()}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap();
        if status != 200 {
            return Err((status, body["message"].as_str().unwrap_or("").to_string()));
        }
        let pay: PayTransaction = serde_json::from_value(body).unwrap();
        let mut tx: Transaction =
            bincode::deserialize(&STANDARD.decode(&pay.transaction).unwrap()).unwrap();
        let hash = tx.message.recent_blockhash;
        tx.try_partial_sign(&[payer], hash).unwrap();
        self.rpc()
            .send_and_confirm_transaction(&tx)
            .await
            .expect("the payment confirms");
        Ok(Instant::now())
    }
}

fn shots() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../target").to_string());
    PathBuf::from(target).join("web-screenshots")
}

/// The text of the QR code in `png`.
fn read_qr(png: &[u8]) -> String {
    let img = image::load_from_memory(png).expect("a PNG").to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare(img);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the page");
    grids[0].decode().expect("the QR code decodes").1
}

/// axe-core's audit of the page: the violations of serious or critical impact.
async fn audit(b: &Browser) -> Vec<Value> {
    let axe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/web/node_modules/axe-core/axe.min.js"
    ))
    .expect("axe-core (scripts/test installs it with npm ci --prefix tests/web)");
    // Injected by the test driver, not by the page: the page's CSP does not apply.
    b.js(&axe, vec![]).await;
    let r = b
        .js_async(
            "var done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
                .then(function (r) { done(r.violations); })
                .catch(function (e) { done([{id: 'axe-failed', impact: 'critical', help: String(e)}]); });",
            vec![],
        )
        .await;
    r.as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect()
}

async fn assert_accessible(b: &Browser, page: &str) {
    let bad = audit(b).await;
    assert!(
        bad.is_empty(),
        "{page}: serious accessibility violations: {}",
        serde_json::to_string_pretty(&bad).unwrap()
    );
}

async fn phase(b: &Browser) -> String {
    b.js(
        "return document.getElementById('checkout').dataset.phase;",
        vec![],
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_pays_from_the_checkout_qr_code_and_the_page_turns_paid_without_a_reload() {
    let e = env();
    let order = format!("WEB-{}", rand::random::<u32>());
    let payment = e.invoice(&e.shop, &order, 1_250 * USD / 100).await;
    let customer = e.customer().await;
    let b = e.driver.browser("en-US", 1000, 1200).await;
    let url = format!("{}/checkout/{payment}", e.url);
    b.goto(&url).await;
    assert_eq!(phase(&b).await, "waiting");
    assert_eq!(b.text("h1").await, "Web Shop");
    assert!(b.text(".amount").await.contains("12.50 USDC"));
    assert!(b.text(".facts").await.contains(&order));
    // The countdown runs (the script is there and allowed by the CSP).
    assert!(
        b.wait(
            "return /^1[45]:\\d\\d$/.test(document.getElementById('countdown').textContent);",
            5
        )
        .await
    );

    // The QR code, read back from what the browser drew, is the transaction request.
    let png = b.save(&shots(), "checkout-waiting").await;
    let request = read_qr(&png);
    assert_eq!(request, format!("solana:{}/v1/pay/{payment}", e.url));
    assert_eq!(b.content("#pay-link").await, request);
    let open = b
        .js(
            "return document.getElementById('open-wallet').getAttribute('href');",
            vec![],
        )
        .await;
    assert_eq!(open, json!(request));
    assert_accessible(&b, "checkout (waiting)").await;

    // Nothing outside this server was asked for.
    let foreign = b
        .js(
            "return performance.getEntriesByType('resource').map(function (r) { return r.name; })
                .filter(function (n) { return n.indexOf(location.origin) !== 0; });",
            vec![],
        )
        .await;
    assert_eq!(foreign, json!([]), "every asset comes from the binary");

    // Pay with a wallet through that URL; the page turns without a reload.
    b.js("window.__noReload = 1; return true;", vec![]).await;
    let confirmed = e.pay(&request, &customer).await.expect("the payment");
    assert!(
        b.wait("var p = document.getElementById('checkout').dataset.phase; return p === 'paid' || p === 'finalized';", 20)
            .await,
        "the page shows the payment"
    );
    let shown = confirmed.elapsed();
    assert_eq!(b.js("return window.__noReload;", vec![]).await, json!(1));
    assert!(b.text("#status-heading").await.starts_with("Paid"));
    assert!(
        b.exists("#pay[hidden]").await,
        "the QR code is gone once paid"
    );
    eprintln!(
        "checkout: confirmed on chain → shown on the page in {} ms",
        shown.as_millis()
    );
    b.save(&shots(), "checkout-paid").await;
    assert_accessible(&b, "checkout (paid)").await;
    // It becomes final by itself too.
    assert!(
        b.wait(
            "return document.getElementById('checkout').dataset.phase === 'finalized';",
            60
        )
        .await
    );
    // And without JavaScript the reloaded page says the same.
    let html = http_client(&e.ca)
        .get(&url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-phase=\"finalized\""));
    b.close().await;
}

/// Opens `payment`'s checkout and asks for a quote in USDT, as a customer does.
async fn ask_quote(b: &Browser, e: &WebEnv, payment: &str) {
    b.goto(&format!("{}/checkout/{payment}", e.url)).await;
    b.js(
        "var s = document.getElementById('coin'); s.value = arguments[0]; return s.value;",
        vec![json!(e.usdt.to_string())],
    )
    .await;
    let submit = b.find("form.coins button[type=submit]").await;
    b.click(&submit).await;
    assert!(
        b.wait("return document.getElementById('quote') !== null;", 10)
            .await,
        "a quote is shown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_quote_in_another_stablecoin_pays_within_the_lock_and_is_refused_after_it() {
    let e = env();
    let customer = e.customer().await;
    let pool = e.pool().await;
    let b = e.driver.browser("en-US", 1000, 1400).await;

    // Within the lock.
    let payment = e
        .invoice(
            &e.shop,
            &format!("QUOTE-{}", rand::random::<u32>()),
            20 * USD,
        )
        .await;
    ask_quote(&b, e, &payment).await;
    let quoted = b.text("#quote-amount").await;
    assert!(b.text("#quote").await.contains("USDT"));
    assert!(b.text("#quote-lock").await.contains("seconds"));
    let request = read_qr(&b.save(&shots(), "checkout-quote").await);
    assert!(
        request.contains("%3Fquote%3Dq_"),
        "the quote rides in the link: {request}"
    );
    assert_accessible(&b, "checkout (quote)").await;
    e.pay(&request, &customer)
        .await
        .expect("paid within the lock");
    assert!(b.wait("var p = document.getElementById('checkout').dataset.phase; return p === 'paid' || p === 'finalized';", 20).await);
    indexed(&pool, &payment, "authorized").await;
    let (input_mint, input_amount): (Option<Vec<u8>>, Option<rust_decimal::Decimal>) =
        sqlx::query_as("SELECT input_mint, input_amount FROM chain.payment WHERE address = $1")
            .bind(bs58::decode(&payment).into_vec().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(input_mint, Some(e.usdt.to_bytes().to_vec()), "paid in USDT");
    let spent = input_amount.unwrap();
    let quoted: rust_decimal::Decimal = quoted.replace(',', "").parse().unwrap();
    assert!(
        spent <= quoted * rust_decimal::Decimal::from(USD),
        "spent {spent} base units, at most the quote {quoted}"
    );

    // After the lock: the transaction request refuses the stale quote, and the page asks for a
    // fresh one.
    let payment = e
        .invoice(
            &e.shop,
            &format!("STALE-{}", rand::random::<u32>()),
            20 * USD,
        )
        .await;
    ask_quote(&b, e, &payment).await;
    let stale = read_qr(&b.screenshot().await);
    // The page reloads itself when the lock runs out and says the price is gone.
    assert!(
        b.wait(
            "return document.getElementById('quote-expired') !== null;",
            LOCK.as_secs() + 10
        )
        .await,
        "the page asks for a fresh quote"
    );
    assert!(!b.exists("#quote").await, "the stale quote's code is gone");
    assert_eq!(
        b.js("return document.getElementById('coin').value;", vec![])
            .await,
        json!(e.usdt.to_string()),
        "the fresh quote is offered in the coin asked for"
    );
    b.save(&shots(), "checkout-quote-expired").await;
    let refused = e
        .pay(&stale, &customer)
        .await
        .expect_err("a stale quote is refused");
    assert_eq!(refused.0, 422);
    assert!(refused.1.contains("expired"), "{}", refused.1);
    let status: String = sqlx::query_scalar("SELECT status FROM chain.payment WHERE address = $1")
        .bind(bs58::decode(&payment).into_vec().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "open", "nothing was paid");
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_cancelled_invoices_the_chinese_pages_and_a_phone_are_shown_and_accessible() {
    let e = env();
    let rpc = e.rpc();
    let p = Payments::default();

    // An invoice that expires in a few seconds, opened straight on chain.
    let order = OrderId::new(&format!("SOON-{}", rand::random::<u32>())).unwrap();
    let clock: solana_sdk::clock::Clock = bincode::deserialize(
        &rpc.get_account(&solana_sdk::sysvar::clock::ID)
            .await
            .unwrap()
            .data,
    )
    .unwrap();
    let (ix, soon) = p
        .invoice_open(
            &e.shop.owner.pubkey(),
            &e.shop.address,
            &order,
            5 * USD,
            clock.unix_timestamp + 12,
        )
        .unwrap();
    send(&rpc, &[ix], &e.shop.owner).await;
    indexed(&e.pool().await, &soon.to_string(), "open").await;
    let b = e.driver.browser("en-US", 1000, 1200).await;
    b.goto(&format!("{}/checkout/{soon}", e.url)).await;
    assert_eq!(phase(&b).await, "waiting");
    assert!(
        b.wait(
            "return document.getElementById('checkout').dataset.phase === 'expired';",
            30
        )
        .await,
        "the countdown runs out"
    );
    b.goto(&format!("{}/checkout/{soon}", e.url)).await;
    assert_eq!(phase(&b).await, "expired", "and a reload says so too");
    assert!(!b.exists("#pay").await, "no code to pay an expired invoice");
    b.save(&shots(), "checkout-expired").await;
    assert_accessible(&b, "checkout (expired)").await;

    // A cancelled one.
    let cancelled = e
        .invoice(
            &e.shop,
            &format!("CANCEL-{}", rand::random::<u32>()),
            7 * USD,
        )
        .await;
    let cancelled_key: Pubkey = cancelled.parse().unwrap();
    b.goto(&format!("{}/checkout/{cancelled}", e.url)).await;
    assert_eq!(phase(&b).await, "waiting");
    let ix = p
        .invoice_cancel(&e.shop.owner.pubkey(), &e.shop.address, &cancelled_key)
        .unwrap();
    send(&rpc, &[ix], &e.shop.owner).await;
    assert!(
        b.wait(
            "return document.getElementById('checkout').dataset.phase === 'cancelled';",
            20
        )
        .await,
        "the page learns of the cancellation live"
    );
    assert!(b.text("#status-help").await.contains("Nothing was charged"));
    b.save(&shots(), "checkout-cancelled").await;
    assert_accessible(&b, "checkout (cancelled)").await;
    b.close().await;

    // Traditional Chinese from Accept-Language, then Simplified through the switch, on a
    // phone's width.
    let payment = e
        .invoice(&e.shop, &format!("ZH-{}", rand::random::<u32>()), 88 * USD)
        .await;
    let b = e.driver.browser("zh-TW", 390, 844).await;
    b.goto(&format!("{}/checkout/{payment}", e.url)).await;
    assert_eq!(
        b.js("return document.documentElement.lang;", vec![]).await,
        json!("zh-Hant")
    );
    assert_eq!(b.text("#status-heading").await, "等待付款");
    assert!(b.text(".merchant").await.contains("收款商家"));
    assert_eq!(
        b.js(GLYPHS, vec![]).await,
        json!(true),
        "a system CJK font draws the Chinese text (Debian's fonts-noto-cjk), not empty boxes"
    );
    assert_eq!(
        b.js("return window.innerWidth;", vec![]).await,
        json!(390),
        "a phone's width"
    );
    let fits = "return document.documentElement.scrollWidth <= window.innerWidth;";
    assert_eq!(
        b.js(fits, vec![]).await,
        json!(true),
        "nothing runs off a phone's screen"
    );
    b.js(
        "document.getElementById('qr').scrollIntoView({block: 'center'}); return true;",
        vec![],
    )
    .await;
    let qr = b.save(&shots(), "checkout-zh-Hant-phone").await;
    b.js("window.scrollTo(0, 0); return true;", vec![]).await;
    assert_eq!(
        read_qr(&qr),
        format!("solana:{}/v1/pay/{payment}", e.url),
        "the code reads on a phone too"
    );
    assert_accessible(&b, "checkout (zh-Hant, phone)").await;
    let switch = b.find("footer a[hreflang='zh-Hans']").await;
    b.click(&switch).await;
    assert!(
        b.wait("return document.documentElement.lang === 'zh-Hans';", 10)
            .await
    );
    assert_eq!(b.text("#status-heading").await, "等待付款");
    assert!(b.text("#status-help").await.contains("二维码"));
    assert_eq!(b.js(fits, vec![]).await, json!(true));
    b.save(&shots(), "checkout-zh-Hans-phone").await;
    assert_accessible(&b, "checkout (zh-Hans, phone)").await;
    // The choice is remembered.
    b.goto(&format!("{}/checkout/{payment}", e.url)).await;
    assert_eq!(
        b.js("return document.documentElement.lang;", vec![]).await,
        json!("zh-Hans")
    );
    b.close().await;

    // An unknown invoice is a page that says so, not an error dump.
    let r = http_client(&e.ca)
        .get(format!("{}/checkout/{}", e.url, Pubkey::new_unique()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
}

/// Do two different Chinese characters draw differently in the page's font? Without a CJK
/// font both are the same empty box.
const GLYPHS: &str = "
  var font = getComputedStyle(document.body).fontFamily;
  function draw(ch) {
    var c = document.createElement('canvas'); c.width = 40; c.height = 40;
    var g = c.getContext('2d'); g.font = '32px ' + font; g.fillText(ch, 2, 32);
    return Array.from(g.getImageData(0, 0, 40, 40).data).join(',');
  }
  var a = draw('付'), b = draw('款'), blank = draw(' ');
  return a !== b && a !== blank && b !== blank;";

async fn send(rpc: &RpcClient, ixs: &[solana_sdk::instruction::Instruction], signer: &Keypair) {
    let hash = rpc.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(ixs, Some(&signer.pubkey()), &[signer], hash);
    rpc.send_and_confirm_transaction(&tx).await.expect("sent");
}

/// A Wallet Standard wallet holding one key, injected into the page as a browser extension
/// would: it registers with the app and signs with WebCrypto's Ed25519.
const TEST_WALLET: &str = r#"
var seed = Uint8Array.from(arguments[0]);
var address = arguments[1];
var publicKey = Uint8Array.from(arguments[2]);
var pkcs8 = new Uint8Array(48);
pkcs8.set([0x30,0x2e,0x02,0x01,0x00,0x30,0x05,0x06,0x03,0x2b,0x65,0x70,0x04,0x22,0x04,0x20]);
pkcs8.set(seed, 16);
var keyPromise = crypto.subtle.importKey('pkcs8', pkcs8, {name: 'Ed25519'}, false, ['sign']);
function shortvec(bytes, at) {
  var len = 0, size = 0;
  for (;;) { var b = bytes[at + size]; len |= (b & 0x7f) << (7 * size); size++; if ((b & 0x80) === 0) break; }
  return [len, size];
}
var account = {address: address, publicKey: publicKey, chains: ['solana:localnet'],
               features: ['solana:signTransaction']};
window.__signed = 0;
var wallet = {
  version: '1.0.0', name: 'Kassa Test Wallet', icon: 'data:image/svg+xml;base64,PHN2Zy8+',
  chains: ['solana:localnet'], accounts: [account],
  features: {
    'standard:connect': {version: '1.0.0', connect: async function () { return {accounts: [account]}; }},
    'standard:events': {version: '1.0.0', on: function () { return function () {}; }},
    'solana:signTransaction': {version: '1.0.0', supportedTransactionVersions: ['legacy', 0],
      signTransaction: async function () {
        var out = [];
        for (var i = 0; i < arguments.length; i++) {
          var tx = new Uint8Array(arguments[i].transaction);
          var n = shortvec(tx, 0), sigs = n[0], at = n[1];
          var msg = tx.slice(at + 64 * sigs);
          var m = (msg[0] & 0x80) ? 1 : 0;
          var required = msg[m];
          var keys = shortvec(msg, m + 3), start = m + 3 + keys[1];
          var index = -1;
          for (var k = 0; k < required; k++) {
            var same = true;
            for (var j = 0; j < 32; j++) if (msg[start + 32 * k + j] !== publicKey[j]) { same = false; break; }
            if (same) { index = k; break; }
          }
          if (index < 0) throw new Error('this wallet is not a signer of the transaction');
          var sig = new Uint8Array(await crypto.subtle.sign({name: 'Ed25519'}, await keyPromise, msg));
          tx.set(sig, at + 64 * index);
          window.__signed++;
          out.push({signedTransaction: tx});
        }
        return out;
      }}
  }
};
window.dispatchEvent(new CustomEvent('wallet-standard:register-wallet', {
  detail: function (api) { api.register(wallet); }
}));
return true;
"#;

async fn sign_in(b: &Browser, url: &str, key: &str) {
    b.goto(&format!("{url}/dashboard/login")).await;
    let field = b.find("#api_key").await;
    b.type_into(&field, key).await;
    let button = b.find("#signin").await;
    b.click(&button).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_signs_in_finds_a_payment_and_captures_it_with_the_wallet_in_the_page() {
    let e = env();
    let customer = e.customer().await;
    let order = format!("DASH-{}", rand::random::<u32>());
    let payment = e.invoice(&e.shop, &order, 42 * USD).await;
    e.pay(&format!("solana:{}/v1/pay/{payment}", e.url), &customer)
        .await
        .expect("paid");
    let pool = e.pool().await;
    indexed(&pool, &payment, "authorized").await;
    let theirs = e
        .invoice(&e.other, &format!("OTHER-{}", rand::random::<u32>()), USD)
        .await;

    let b = e.driver.browser("en-US", 1280, 1000).await;
    // A session id planted before signing in is worth nothing: signing in makes a new one.
    b.goto(&format!("{}/dashboard/login", e.url)).await;
    let planted = "ab".repeat(32);
    b.add_cookie("__Host-kassa_session", &planted).await;
    b.goto(&format!("{}/dashboard", e.url)).await;
    assert!(
        b.url().await.ends_with("/dashboard/login"),
        "a planted session is not a session"
    );
    assert_accessible(&b, "sign-in").await;
    // A wrong key is refused and said so.
    sign_in(
        &b,
        &e.url,
        "kassa_sk_111111111111111111111111111111111111111111",
    )
    .await;
    assert!(
        b.wait(
            "return document.getElementById('login-error') !== null;",
            10
        )
        .await
    );
    sign_in(&b, &e.url, &e.shop.key).await;
    assert!(
        b.wait("return location.pathname === '/dashboard';", 10)
            .await,
        "signed in: {}",
        b.url().await
    );
    let cookie = b
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "__Host-kassa_session")
        .expect("a session cookie");
    assert_ne!(cookie["value"], json!(planted), "the session is new");
    assert_eq!(cookie["httpOnly"], json!(true));
    assert_eq!(cookie["secure"], json!(true));
    assert_eq!(cookie["sameSite"], json!("Strict"));
    assert!(b.text("#balances").await.contains("USDC"));
    b.save(&shots(), "dashboard-overview").await;
    assert_accessible(&b, "dashboard overview").await;

    // Find the payment by its order id.
    b.goto(&format!("{}/dashboard/payments?order={order}", e.url))
        .await;
    assert!(b.text("#payments").await.contains(&order));
    b.save(&shots(), "dashboard-payments").await;
    assert_accessible(&b, "dashboard payments").await;
    let link = b.find("#payments tbody a").await;
    b.click(&link).await;
    assert!(
        b.wait("return document.getElementById('capture') !== null;", 10)
            .await
    );
    assert!(b.text("#payment-status").await.contains("Authorized"));

    // Capture through the wallet in the page; the timeline changes without a reload.
    let seed: Vec<u8> = e.shop.owner.to_bytes()[..32].to_vec();
    b.js(
        TEST_WALLET,
        vec![
            json!(seed),
            json!(e.shop.owner.pubkey().to_string()),
            json!(e.shop.owner.pubkey().to_bytes().to_vec()),
        ],
    )
    .await;
    b.js("window.__noReload = 1; return true;", vec![]).await;
    b.click_on("#capture").await;
    assert!(
        b.wait("var r = document.getElementById('action-result'); return r !== null && r.className === 'ok';", 30).await,
        "captured: {}",
        b.text("#action-result").await
    );
    assert_eq!(
        b.js("return window.__signed;", vec![]).await,
        json!(1),
        "the wallet signed once"
    );
    assert!(
        b.wait(
            "return document.getElementById('timeline').innerText.indexOf('PaymentCaptured') >= 0;",
            20
        )
        .await,
        "the timeline shows the capture"
    );
    assert!(
        b.wait(
            "return document.getElementById('payment-status').innerText.indexOf('Captured') >= 0;",
            10
        )
        .await
    );
    assert_eq!(b.js("return window.__noReload;", vec![]).await, json!(1));
    indexed(&pool, &payment, "captured").await;
    b.save(&shots(), "dashboard-payment").await;
    assert_accessible(&b, "dashboard payment").await;

    // A partial refund typed in coin units, signed by the same wallet (once everything is
    // final, so the live page does not redraw under the typing).
    let settled = "return document.getElementById('refund') !== null && document.querySelectorAll('#timeline li.c-confirmed').length === 0;";
    assert!(b.wait(settled, 30).await);
    let field = b.find("#amount").await;
    b.type_into(&field, "2.5").await;
    b.click_on("#refund").await;
    assert!(
        b.wait(
            "return document.getElementById('timeline').innerText.indexOf('PaymentRefunded') >= 0;",
            30
        )
        .await,
        "the timeline shows the refund: {}",
        b.text("#action-result").await
    );
    assert_eq!(b.js("return window.__signed;", vec![]).await, json!(2));
    let refunded: rust_decimal::Decimal =
        sqlx::query_scalar("SELECT refunded FROM chain.payment WHERE address = $1")
            .bind(bs58::decode(&payment).into_vec().unwrap())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        refunded,
        rust_decimal::Decimal::from(2_500_000),
        "2.5 USDC, exactly"
    );
    // More decimals than the coin has is refused by name, not rounded.
    assert!(b.wait(settled, 30).await);
    let field = b.find("#amount").await;
    b.js(
        "document.getElementById('amount').value = ''; return true;",
        vec![],
    )
    .await;
    b.type_into(&field, "0.0000001").await;
    b.click_on("#refund").await;
    assert!(
        b.wait("var r = document.getElementById('action-result'); return r.className === 'error' && r.innerText.indexOf('decimals') >= 0;", 10).await,
        "{}",
        b.text("#action-result").await
    );
    assert_eq!(
        b.js("return window.__signed;", vec![]).await,
        json!(2),
        "nothing to sign"
    );

    // Another merchant's payment is not there, by URL or by order id.
    b.goto(&format!("{}/dashboard/payments/{theirs}", e.url))
        .await;
    assert!(b.text("h1").await.contains("Not found"));
    let r = session_get(&b, e, &format!("/dashboard/payments/{theirs}/timeline")).await;
    assert_eq!(r.0, 404);

    // A form without its CSRF token is refused; with it, it is taken.
    b.goto(&format!("{}/dashboard/settings", e.url)).await;
    b.save(&shots(), "dashboard-settings").await;
    assert_accessible(&b, "dashboard settings").await;
    let csrf = b
        .js(
            "return document.querySelector('meta[name=csrf-token]').content;",
            vec![],
        )
        .await
        .as_str()
        .unwrap()
        .to_string();
    let form = |token: Option<&str>| {
        let mut f = vec![
            ("return_url", "https://shop.example/thanks".to_string()),
            ("cancel_url", "https://shop.example/cart".to_string()),
        ];
        if let Some(t) = token {
            f.push(("csrf", t.to_string()));
        }
        f
    };
    let (status, _) = session_post(&b, e, "/dashboard/settings", &form(None)).await;
    assert_eq!(status, 403, "no token");
    let (status, _) =
        session_post(&b, e, "/dashboard/settings", &form(Some(&"0".repeat(64)))).await;
    assert_eq!(status, 403, "a wrong token");
    let (status, body) = session_post(&b, e, "/dashboard/settings", &form(Some(&csrf))).await;
    assert_eq!(status, 200, "{body}");
    // The capture action refuses a script request without the token too.
    let r = http_client(&e.ca)
        .post(format!("{}/dashboard/payments/{payment}/void", e.url))
        .header(
            "cookie",
            format!("__Host-kassa_session={}", cookie["value"].as_str().unwrap()),
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // The checkout now links back to the shop.
    let back = e
        .invoice(&e.shop, &format!("BACK-{}", rand::random::<u32>()), USD)
        .await;
    let html = http_client(&e.ca)
        .get(format!("{}/checkout/{back}", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!(
            "https://shop.example/cart?payment={back}&#38;order_id=BACK-"
        )),
        "{}",
        html
    );

    // CSV export of the same payments.
    let (status, csv) = session_get(&b, e, &format!("/dashboard/payments.csv?order={order}")).await;
    assert_eq!(status, 200);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[1].starts_with(&format!(
        "{payment},{order},captured,USDC,42.00,42.00,42.00,"
    )));

    // The keys page; signing out ends the session for good.
    b.goto(&format!("{}/dashboard/keys", e.url)).await;
    assert!(b.text("#keys").await.contains("this session"));
    b.save(&shots(), "dashboard-keys").await;
    assert_accessible(&b, "dashboard keys").await;
    b.goto(&format!("{}/dashboard/webhooks", e.url)).await;
    b.save(&shots(), "dashboard-webhooks").await;
    assert_accessible(&b, "dashboard webhooks").await;
    let out = b.find("form.signout button").await;
    b.click(&out).await;
    assert!(
        b.wait("return location.pathname === '/dashboard/login';", 10)
            .await
    );
    let r = http_client(&e.ca)
        .get(format!("{}/dashboard", e.url))
        .header(
            "cookie",
            format!("__Host-kassa_session={}", cookie["value"].as_str().unwrap()),
        )
        .send()
        .await
        .unwrap();
    assert!(
        r.url().path().ends_with("/dashboard/login"),
        "the old cookie is dead"
    );
    b.close().await;

    // The operator pages: the queue, payouts and exceptions.
    let b = e.driver.browser("en-US", 1280, 1000).await;
    sign_in(&b, &e.url, &e.operator).await;
    assert!(
        b.wait("return location.pathname === '/operator';", 10)
            .await
    );
    assert!(b.text("main").await.contains("Compliance review queue"));
    b.save(&shots(), "operator").await;
    assert_accessible(&b, "operator").await;
    b.close().await;
}

/// GET `path` as the browser's session (its cookie, outside the browser).
async fn session_get(b: &Browser, e: &WebEnv, path: &str) -> (u16, String) {
    let cookie = session_cookie(b).await;
    let r = http_client(&e.ca)
        .get(format!("{}{path}", e.url))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// POSTs a form to `path` as the browser's session.
async fn session_post(
    b: &Browser,
    e: &WebEnv,
    path: &str,
    form: &[(&str, String)],
) -> (u16, String) {
    let cookie = session_cookie(b).await;
    let r = http_client(&e.ca)
        .post(format!("{}{path}", e.url))
        .header("cookie", cookie)
        .form(form)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

async fn session_cookie(b: &Browser) -> String {
    let c = b
        .cookies()
        .await
        .into_iter()
        .find(|c| c["name"] == "__Host-kassa_session")
        .expect("signed in");
    format!("__Host-kassa_session={}", c["value"].as_str().unwrap())
}
