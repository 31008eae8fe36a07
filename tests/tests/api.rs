//! The HTTP API over real TLS on loopback, against a real Postgres filled by the indexer from
//! localnet (the demo day plus merchants of the tests' own): every route's success and error
//! paths, merchant isolation, idempotency races, keys, Solana Pay transaction requests signed
//! as a wallet signs them, a database that goes away and comes back, and requests generated
//! from the served OpenAPI document that must never get a 5xx. Every JSON answer is validated
//! against the schema the document gives for its route and status.

use base64::{engine::general_purpose::STANDARD, Engine};
use kassa_api::{tls::LocalTls, ApiConfig, AppState};
use kassa_indexer::{source::Source, Indexer, IndexerConfig};
use kassa_localnet::{
    node::NodeConfig,
    server::{start, LocalnetConfig},
};
use kassa_payments::state::MerchantPolicy;
use kassa_sdk::api::{
    types::{
        CaptureRequest, CreateAccount, CreateInvoice, Page, PayLabel, PayTransaction, Payment,
        RefundRequest, Role, SettlementState, SettlementStatus, VoidRequest,
    },
    Client,
};
use kassa_testkit::demo_day::{run_scenario, USD};
use reqwest::{Method, StatusCode};
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
    collections::BTreeSet,
    net::SocketAddr,
    sync::{Arc, OnceLock},
    time::Duration,
};

const DAY: i64 = 86_400;

/// One merchant the API knows: its PDA, its key, and (for the tests' own merchants) the key
/// that controls it on chain.
pub(crate) struct TestMerchant {
    pub(crate) address: Pubkey,
    pub(crate) key: String,
    pub(crate) owner: Option<Keypair>,
}

/// The environment every test here shares: built once, on a runtime of its own that outlives
/// the tests' runtimes.
pub(crate) struct ApiEnv {
    pub(crate) url: String,
    pub(crate) ca: Vec<u8>,
    pub(crate) rpc_url: String,
    pub(crate) db_url: String,
    pub(crate) operator: String,
    pub(crate) consumer: String,
    /// The demo day's three merchants, then "Api Shop" and "Kyt Shop" (KYT required).
    pub(crate) merchants: Vec<TestMerchant>,
    pub(crate) customer: Keypair,
    pub(crate) compliance: Keypair,
    pub(crate) usdc: Pubkey,
    pub(crate) usdt: Pubkey,
    /// The OpenAPI document as served.
    pub(crate) doc: Value,
    /// The x402 facilitator's fee payer.
    pub(crate) x402_fee_payer: Pubkey,
    /// The facilitator as the API runs it, and the operator keys it holds (for a second API
    /// process over the same database, as after a restart).
    pub(crate) x402: kassa_api::x402::X402Config,
    pub(crate) operator_dir: std::path::PathBuf,
    /// The local node's own CAIP-2 id.
    pub(crate) caip2: String,
}

static ENV: OnceLock<ApiEnv> = OnceLock::new();

pub(crate) fn env() -> &'static ApiEnv {
    ENV.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let env = build().await;
                tx.send(env).expect("send env");
                std::future::pending::<()>().await;
            });
        });
        rx.recv().expect("the API environment starts")
    })
}

async fn build() -> ApiEnv {
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        slot_interval: Duration::from_millis(50),
        node: NodeConfig::default(),
    })
    .await
    .expect("localnet starts");
    let mut s = run_scenario(&net.rpc_url).await.expect("the demo day runs");
    let own = s
        .merchant("Api Shop", policy(false))
        .await
        .expect("Api Shop registers");
    let kyt = s
        .merchant("Kyt Shop", policy(true))
        .await
        .expect("Kyt Shop registers");
    let customer = Keypair::new();
    s.fund(&customer).await.expect("the customer is funded");
    let x402_fee_payer = Keypair::new();
    s.fund(&x402_fee_payer)
        .await
        .expect("the x402 fee payer is funded");
    let genesis = RpcClient::new(net.rpc_url.clone())
        .get_genesis_hash()
        .await
        .expect("the genesis hash");
    let caip2 = kassa_sdk::x402::caip2(&genesis.to_string());

    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL (scripts/test sets it)");
    let (pool, db_url) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");
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
    wait_for(&pool, "SELECT count(*) FROM chain.merchant", 5).await;

    let tls_dir = std::env::temp_dir().join(format!("kassa-api-test-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tls_dir);
    let local = LocalTls::ensure(&tls_dir).expect("a local CA");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "https://localhost:{}",
        listener.local_addr().unwrap().port()
    );
    let api_pool = kassa_api::connect(&db_url, 4)
        .await
        .expect("the API's pool");
    let state = AppState::new(
        api_pool,
        ApiConfig {
            public_url: url.clone(),
            rpc_url: net.rpc_url.clone(),
            compliance_key: Some(Arc::new(s.proto.payer.insecure_clone())),
            operator_keys: Some(Arc::new(
                kassa_api::operator_keys::OperatorKeys::load(&tls_dir.join("operators"))
                    .expect("the operator key directory"),
            )),
            webhooks: Some({
                let mut c =
                    kassa_webhooks::Config::new(kassa_webhooks::SealingKey::from_bytes(&[11; 32]));
                c.allow_private = true;
                c
            }),
            // The tests hammer the API from one address and a few keys.
            rate_per_sec: 5_000,
            burst: 5_000,
            // The local node under its own id, and as devnet for the official clients.
            x402: Some(kassa_api::x402::X402Config {
                fee_payer: Arc::new(x402_fee_payer.insecure_clone()),
                networks: vec![caip2.clone(), kassa_sdk::x402::SOLANA_DEVNET.into()],
            }),
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

    let (_, operator) =
        kassa_api::auth::create_account(&pool, "Test operator", Role::Operator, None)
            .await
            .expect("operator");
    let (_, consumer) =
        kassa_api::auth::create_account(&pool, "Test consumer", Role::Consumer, None)
            .await
            .expect("consumer");
    let addresses: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT address FROM chain.merchant")
        .fetch_all(&pool)
        .await
        .unwrap();
    let mut merchants = Vec::new();
    for (a,) in addresses {
        let address = Pubkey::try_from(a.as_slice()).unwrap();
        let name = s.names.get(&address).cloned().unwrap_or_default();
        let (_, key) =
            kassa_api::auth::create_account(&pool, &name, Role::Merchant, Some(&address))
                .await
                .expect("merchant account");
        let owner = [&own, &kyt]
            .into_iter()
            .find(|m| m.address == address)
            .map(|m| m.owner.insecure_clone());
        merchants.push(TestMerchant {
            address,
            key: key.secret,
            owner,
        });
    }
    merchants.sort_by_key(|m| s.position(&m.address));
    assert_eq!(merchants.len(), 5);

    let ca = std::fs::read(&local.ca_cert).unwrap();
    let http = http_client(&ca);
    let doc: Value = http
        .get(format!("{url}/v1/openapi.json"))
        .send()
        .await
        .expect("the document is served")
        .json()
        .await
        .expect("JSON");
    let rpc_url = net.rpc_url.clone();
    std::mem::forget(net);
    ApiEnv {
        url,
        ca,
        rpc_url,
        db_url,
        operator: operator.secret,
        consumer: consumer.secret,
        merchants,
        customer,
        compliance: s.proto.payer.insecure_clone(),
        usdc: s.proto.usdc.mint,
        usdt: s.proto.usdt.mint,
        doc,
        x402_fee_payer: x402_fee_payer.pubkey(),
        x402: kassa_api::x402::X402Config {
            fee_payer: Arc::new(x402_fee_payer.insecure_clone()),
            networks: vec![caip2.clone(), kassa_sdk::x402::SOLANA_DEVNET.into()],
        },
        operator_dir: tls_dir.join("operators"),
        caip2,
    }
}

/// Serves `state` over plain HTTP on a free loopback port (for tests that need an API of their
/// own configuration beside the shared one); returns its base URL.
pub(crate) fn serve_plain(state: AppState) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    tokio::spawn(kassa_api::serve(
        listener,
        None,
        kassa_api::router(state),
        std::future::pending(),
        Duration::from_secs(1),
    ));
    base
}

pub(crate) fn policy(require_kyt: bool) -> MerchantPolicy {
    MerchantPolicy {
        authorization_window: 7 * DAY,
        auto_capture_delay: 0,
        refund_window: 30 * DAY,
        dispute_window: 7 * DAY,
        require_kyt,
    }
}

pub(crate) async fn wait_for(pool: &PgPool, sql: &'static str, at_least: i64) {
    for _ in 0..600 {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(pool).await.unwrap_or(0);
        if n >= at_least {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{sql} never reached {at_least}");
}

pub(crate) fn http_client(ca: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca).unwrap())
        .build()
        .unwrap()
}

/// One answer, validated against the document.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: Value,
    raw: Vec<u8>,
}

impl ApiEnv {
    pub(crate) fn client(&self, key: &str) -> Client {
        Client::with_ca(&self.url, key, &self.ca).unwrap()
    }

    pub(crate) async fn pool(&self) -> PgPool {
        PgPool::connect(&self.db_url).await.unwrap()
    }

    /// Sends a request and checks the answer against the OpenAPI document: a documented status
    /// for that route, and a body that matches the schema given for it. Problems must carry a
    /// request id and be `application/problem+json`; nothing may be a 5xx unless `allow_5xx`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
        idempotency: Option<&str>,
    ) -> Answer {
        let mut req = http_client(&self.ca).request(method.clone(), format!("{}{path}", self.url));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(i) = idempotency {
            req = req.header("Idempotency-Key", i);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the API answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let raw = resp.bytes().await.unwrap().to_vec();
        let body: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
        assert!(
            !status.is_server_error(),
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&raw)
        );
        validate(&self.doc, &method, path, status, &headers, &body);
        Answer {
            status,
            headers,
            body,
            raw,
        }
    }

    /// Pays `payment` as a Solana Pay wallet does: POST the account, add the customer's
    /// signature to what comes back (keeping any co-signature), send.
    async fn pay_as_wallet(&self, payment: &str) -> solana_sdk::signature::Signature {
        let answer = self
            .call(
                Method::POST,
                &format!("/v1/pay/{payment}"),
                None,
                Some(json!({"account": self.customer.pubkey().to_string()})),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let pay: PayTransaction = serde_json::from_value(answer.body).unwrap();
        let mut tx: Transaction =
            bincode::deserialize(&STANDARD.decode(&pay.transaction).unwrap()).unwrap();
        let hash = tx.message.recent_blockhash;
        tx.try_partial_sign(&[&self.customer], hash).unwrap();
        RpcClient::new_with_commitment(self.rpc_url.clone(), CommitmentConfig::confirmed())
            .send_and_confirm_transaction(&tx)
            .await
            .expect("the wallet's payment lands")
    }

    async fn get(&self, path: &str, key: &str) -> Answer {
        self.call(Method::GET, path, Some(key), None, None).await
    }
}

/// The document's path template that `path` matches (`/v1/payments/{address}`), if any.
fn template<'d>(doc: &'d Value, path: &str) -> Option<(&'d str, &'d Value)> {
    let path = path.split('?').next().unwrap_or(path);
    let parts: Vec<&str> = path.split('/').collect();
    let mut best: Option<(&str, &Value, usize)> = None;
    for (t, item) in doc["paths"].as_object()? {
        let tp: Vec<&str> = t.split('/').collect();
        if tp.len() != parts.len() {
            continue;
        }
        let mut literal = 0;
        let ok = tp.iter().zip(&parts).all(|(a, b)| {
            if a.starts_with('{') {
                !b.is_empty()
            } else {
                literal += 1;
                a == b
            }
        });
        if ok && best.is_none_or(|(_, _, l)| literal > l) {
            best = Some((t, item, literal));
        }
    }
    best.map(|(t, i, _)| (t, i))
}

fn validate(
    doc: &Value,
    method: &Method,
    path: &str,
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
) {
    let content_type = headers
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .unwrap_or("");
    if status.is_client_error() && !path.starts_with("/v1/pay/") {
        assert!(
            content_type.starts_with("application/problem+json"),
            "{method} {path}: {status} is not a problem: {content_type}"
        );
        assert!(
            body["request_id"]
                .as_str()
                .is_some_and(|r| r.starts_with("req_")),
            "{body}"
        );
        // A replayed answer is the stored one, with the first request's id in it.
        if !headers.contains_key("idempotent-replayed") {
            assert_eq!(
                headers.get("x-request-id").and_then(|h| h.to_str().ok()),
                body["request_id"].as_str()
            );
        }
        assert!(body["type"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.kassa.dev/problems/"));
    }
    let Some((_, item)) = template(doc, path) else {
        // An unknown route: only a 404 problem is right.
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        return;
    };
    let Some(op) = item.get(method.as_str().to_lowercase()) else {
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        return;
    };
    let responses = &op["responses"];
    let code = status.as_u16().to_string();
    let class = format!("{}XX", status.as_u16() / 100);
    let Some(response) = responses.get(&code).or_else(|| responses.get(&class)) else {
        // The API's generic answers (401, 404, 429...) are problems under "4XX".
        panic!("{method} {path}: status {status} is not documented: {responses}");
    };
    let Some(schema) = response
        .pointer("/content/application~1json/schema")
        .or_else(|| response.pointer("/content/text~1plain/schema"))
    else {
        return;
    };
    if !content_type.starts_with("application/json")
        && !content_type.starts_with("application/problem+json")
    {
        return;
    }
    let mut root = doc.clone();
    root.as_object_mut().unwrap().insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    for (k, v) in schema.as_object().unwrap() {
        root.as_object_mut().unwrap().insert(k.clone(), v.clone());
    }
    let validator = jsonschema::validator_for(&root).expect("the document's schemas compile");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "{method} {path} {status}: the body does not match the document: {errors:?}\n{body}"
    );
}

pub(crate) async fn indexed(pool: &PgPool, payment: &str, status: &str) {
    let key = bs58::decode(payment).into_vec().unwrap();
    for _ in 0..300 {
        let got: Option<String> =
            sqlx::query_scalar("SELECT status FROM chain.payment WHERE address = $1")
                .bind(&key)
                .fetch_optional(pool)
                .await
                .unwrap();
        if got.as_deref() == Some(status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("payment {payment} never reached {status}");
}

pub(crate) fn idem() -> String {
    format!("test-{:032x}", rand::random::<u128>())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_page_and_match_the_mirror() {
    let e = env();
    let pool = e.pool().await;
    // Every payment exactly once across pages of 3, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/payments?limit=3&cursor={c}"),
            None => "/v1/payments?limit=3".to_string(),
        };
        let a = e.get(&path, &e.operator).await;
        assert_eq!(a.status, StatusCode::OK);
        let page: Page<Payment> = serde_json::from_value(a.body).unwrap();
        assert!(page.data.len() <= 3);
        seen.extend(page.data);
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM chain.payment")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(seen.len() as i64, stored);
    let distinct: BTreeSet<_> = seen.iter().map(|p| p.address.clone()).collect();
    assert_eq!(distinct.len(), seen.len(), "no payment twice");
    assert!(seen.windows(2).all(|w| w[0].opened_at >= w[1].opened_at));

    for p in &seen {
        // One by address equals the list's entry; amounts carry the mint's decimals.
        let one = e
            .get(&format!("/v1/payments/{}", p.address), &e.operator)
            .await;
        assert_eq!(serde_json::from_value::<Payment>(one.body).unwrap(), *p);
        assert_eq!(p.decimals, 6);
        let by_order = e
            .get(
                &format!("/v1/merchants/{}/orders/{}", p.merchant, p.order_id),
                &e.operator,
            )
            .await;
        assert_eq!(by_order.status, StatusCode::OK, "{}", p.order_id);
        assert_eq!(by_order.body["address"], json!(p.address));
        let timeline = e
            .get(&format!("/v1/payments/{}/timeline", p.address), &e.operator)
            .await;
        let events = timeline.body.as_array().unwrap();
        assert_eq!(events[0]["name"], "InvoiceOpened");
        assert!(events
            .iter()
            .all(|ev| ["confirmed", "finalized"].contains(&ev["commitment"].as_str().unwrap())));
        // Each event's transaction is there too, with the event in it.
        let sig = events[0]["signature"].as_str().unwrap();
        let tx = e.get(&format!("/v1/transactions/{sig}"), &e.operator).await;
        assert_eq!(tx.status, StatusCode::OK);
        assert!(tx.body["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|ev| ev["name"] == "InvoiceOpened"));
    }

    // Filters: status, merchant, mint, time range.
    let captured = e
        .get("/v1/payments?status=captured&limit=200", &e.operator)
        .await;
    let captured: Page<Payment> = serde_json::from_value(captured.body).unwrap();
    assert_eq!(
        captured.data.len(),
        seen.iter().filter(|p| p.status == "captured").count()
    );
    let m = &e.merchants[0].address;
    let mine = e
        .get(&format!("/v1/payments?merchant={m}&limit=200"), &e.operator)
        .await;
    let mine: Page<Payment> = serde_json::from_value(mine.body).unwrap();
    assert_eq!(
        mine.data.len(),
        seen.iter().filter(|p| p.merchant == m.to_string()).count()
    );
    let usdc = e
        .get(
            &format!("/v1/payments?mint={}&limit=200", e.usdc),
            &e.operator,
        )
        .await;
    assert_eq!(usdc.body["data"].as_array().unwrap().len(), seen.len());
    let none = e
        .get(
            "/v1/payments?from=2099-01-01T00:00:00Z&limit=200",
            &e.operator,
        )
        .await;
    assert!(none.body["data"].as_array().unwrap().is_empty());

    // Merchants, balances, pools, credit.
    let merchants = e.get("/v1/merchants", &e.consumer).await;
    assert_eq!(merchants.body["data"].as_array().unwrap().len(), 5);
    let first = &merchants.body["data"][0];
    assert_eq!(first["kyb"]["status"], "approved");
    let balances = e
        .get(&format!("/v1/merchants/{m}/balances"), &e.consumer)
        .await;
    let net: i64 = sqlx::query_scalar(
        "SELECT (sum(to_merchant) - sum(refunded))::bigint FROM chain.payment WHERE merchant = $1",
    )
    .bind(&m.to_bytes()[..])
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(balances.body[0]["net"], json!(net.to_string()));
    let pools = e.get("/v1/conversion-pools", &e.consumer).await;
    assert_eq!(pools.body.as_array().unwrap().len(), 2);
    let addr = pools.body[0]["address"].as_str().unwrap();
    assert_eq!(
        e.get(&format!("/v1/conversion-pools/{addr}"), &e.consumer)
            .await
            .status,
        StatusCode::OK
    );
    let credit = e.get("/v1/credit-pools", &e.consumer).await;
    assert_eq!(credit.body.as_array().unwrap().len(), 1);
    let addr = credit.body[0]["address"].as_str().unwrap();
    assert_eq!(
        e.get(&format!("/v1/credit-pools/{addr}"), &e.consumer)
            .await
            .status,
        StatusCode::OK
    );
    let lines = e.get("/v1/credit-lines", &e.consumer).await;
    let line = lines.body[0]["address"].as_str().unwrap().to_string();
    assert_eq!(
        e.get(&format!("/v1/credit-lines/{line}"), &e.consumer)
            .await
            .status,
        StatusCode::OK
    );
    let advances = e
        .get(&format!("/v1/advances?line={line}"), &e.consumer)
        .await;
    assert_eq!(advances.body[0]["settled"], json!(true));
    let adv = advances.body[0]["address"].as_str().unwrap();
    assert_eq!(
        e.get(&format!("/v1/advances/{adv}"), &e.consumer)
            .await
            .status,
        StatusCode::OK
    );

    // The status lookup: a paid payment is confirmed or finalized; nothing known is unknown.
    let paid = seen.iter().find(|p| p.status == "captured").unwrap();
    let st = e
        .get(
            &format!("/v1/status?reference={}", paid.address),
            &e.consumer,
        )
        .await;
    let st: SettlementStatus = serde_json::from_value(st.body).unwrap();
    assert!(matches!(
        st.state,
        SettlementState::Confirmed | SettlementState::Finalized
    ));
    let by_sig = e
        .get(
            &format!("/v1/status?signature={}", st.signature.clone().unwrap()),
            &e.consumer,
        )
        .await;
    assert_eq!(by_sig.body["payment"], json!(paid.address));
    let open = seen.iter().find(|p| p.status == "open").unwrap();
    let st = e
        .get(
            &format!("/v1/status?reference={}", open.address),
            &e.consumer,
        )
        .await;
    assert_eq!(st.body["state"], "pending");
    let st = e
        .get(
            &format!("/v1/status?reference={}", Pubkey::new_unique()),
            &e.consumer,
        )
        .await;
    assert_eq!(st.body["state"], "unknown");
    let st = e
        .get(
            &format!(
                "/v1/status?order_id=NOPE-1&merchant={}",
                e.merchants[0].address
            ),
            &e.consumer,
        )
        .await;
    assert_eq!(st.body["state"], "unknown");
    let fake_sig = bs58::encode([7u8; 64]).into_string();
    let st = e
        .get(&format!("/v1/status?signature={fake_sig}"), &e.consumer)
        .await;
    assert_eq!(st.body["state"], "unknown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_key_sees_its_own_merchant_only() {
    let e = env();
    let all: Page<Payment> =
        serde_json::from_value(e.get("/v1/payments?limit=200", &e.operator).await.body).unwrap();
    let lines = e.get("/v1/credit-lines", &e.operator).await.body;
    let advances = e.get("/v1/advances", &e.operator).await.body;
    for me in &e.merchants {
        for other in &e.merchants {
            let own = me.address == other.address;
            let expect = if own {
                StatusCode::OK
            } else {
                StatusCode::NOT_FOUND
            };
            let o = other.address;
            for path in [
                format!("/v1/merchants/{o}"),
                format!("/v1/merchants/{o}/balances"),
            ] {
                assert_eq!(e.get(&path, &me.key).await.status, expect, "{path}");
            }
            for p in all.data.iter().filter(|p| p.merchant == o.to_string()) {
                for path in [
                    format!("/v1/payments/{}", p.address),
                    format!("/v1/payments/{}/timeline", p.address),
                    format!("/v1/merchants/{o}/orders/{}", p.order_id),
                ] {
                    assert_eq!(e.get(&path, &me.key).await.status, expect, "{path}");
                }
                let tl = e
                    .get(&format!("/v1/payments/{}/timeline", p.address), &e.operator)
                    .await;
                let sig = tl.body[0]["signature"].as_str().unwrap();
                assert_eq!(
                    e.get(&format!("/v1/transactions/{sig}"), &me.key)
                        .await
                        .status,
                    expect
                );
                // The status lookup answers "unknown" rather than telling another's payment.
                let st = e
                    .get(&format!("/v1/status?reference={}", p.address), &me.key)
                    .await;
                assert_eq!(st.body["state"] == "unknown", !own, "{}", st.body);
                // Actions on another merchant's payment: 404 too.
                if !own {
                    let a = e
                        .call(
                            Method::POST,
                            &format!("/v1/payments/{}/void", p.address),
                            Some(&me.key),
                            Some(json!({})),
                            Some(&idem()),
                        )
                        .await;
                    assert_eq!(a.status, StatusCode::NOT_FOUND);
                }
            }
            // Listing with another merchant's filter shows nothing.
            let page = e.get(&format!("/v1/payments?merchant={o}"), &me.key).await;
            assert_eq!(
                page.body["data"].as_array().unwrap().is_empty(),
                !own || page.body["data"].as_array().unwrap().is_empty()
            );
            if !own {
                assert!(page.body["data"].as_array().unwrap().is_empty());
            }
        }
        // Lists show only its own.
        let page = e.get("/v1/payments?limit=200", &me.key).await;
        assert!(page.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["merchant"] == json!(me.address.to_string())));
        let ms = e.get("/v1/merchants", &me.key).await;
        assert_eq!(ms.body["data"].as_array().unwrap().len(), 1);
        for l in lines.as_array().unwrap() {
            let mine = l["merchant"] == json!(me.address.to_string());
            let got = e
                .get(
                    &format!("/v1/credit-lines/{}", l["address"].as_str().unwrap()),
                    &me.key,
                )
                .await;
            assert_eq!(got.status == StatusCode::OK, mine);
        }
        for a in advances.as_array().unwrap() {
            let got = e
                .get(
                    &format!("/v1/advances/{}", a["address"].as_str().unwrap()),
                    &me.key,
                )
                .await;
            let visible = got.status == StatusCode::OK;
            let listed = e
                .get("/v1/advances", &me.key)
                .await
                .body
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["address"] == a["address"]);
            assert_eq!(visible, listed);
        }
        // Operator routes are not a merchant's.
        let a = e
            .call(
                Method::POST,
                "/v1/accounts",
                Some(&me.key),
                Some(json!({"name": "x", "role": "operator"})),
                Some(&idem()),
            )
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
    }
}

/// Signs `unsigned` (base64) with `signers` and returns it base64 again.
fn sign(unsigned: &str, signers: &[&Keypair]) -> String {
    let mut tx: Transaction = bincode::deserialize(&STANDARD.decode(unsigned).unwrap()).unwrap();
    let hash = tx.message.recent_blockhash;
    tx.try_partial_sign(signers, hash).unwrap();
    STANDARD.encode(bincode::serialize(&tx).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_opened_paid_by_solana_pay_captured_and_refunded_through_the_api() {
    let e = env();
    let pool = e.pool().await;
    let shop = &e.merchants[3];
    let owner = shop.owner.as_ref().unwrap();
    let api = e.client(&shop.key);

    // Open: the API builds, the merchant signs, the API submits.
    let order = format!("API-{}", rand::random::<u32>());
    let unsigned = api
        .create_invoice(
            &CreateInvoice {
                order_id: order.clone(),
                amount: (12 * USD).to_string(),
                expires_in_secs: Some(600),
                signer: None,
            },
            &idem(),
        )
        .await
        .expect("the invoice transaction");
    assert_eq!(unsigned.signers, vec![owner.pubkey().to_string()]);
    let link = unsigned.solana_pay_url.clone().unwrap();
    assert_eq!(
        link,
        format!("solana:{}/v1/pay/{}", e.url, unsigned.payment)
    );
    let done = api
        .sign_and_submit(&unsigned, &[owner], &idem())
        .await
        .expect("the invoice opens");
    assert_eq!(
        done.commitment,
        kassa_sdk::api::types::Commitment::Confirmed
    );
    indexed(&pool, &unsigned.payment, "open").await;
    // The same order again is refused by name.
    let again = e
        .call(
            Method::POST,
            "/v1/payments",
            Some(&shop.key),
            Some(json!({"order_id": order, "amount": "5"})),
            Some(&idem()),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body["type"]
        .as_str()
        .unwrap()
        .ends_with("/order-exists"));

    // Pay as a Solana Pay wallet does: GET the label, POST the account, sign, send.
    let pay_path = format!("/v1/pay/{}", unsigned.payment);
    let label = e.call(Method::GET, &pay_path, None, None, None).await;
    let label: PayLabel = serde_json::from_value(label.body).unwrap();
    assert_eq!(label.label, "Api Shop");
    assert!(label.icon.starts_with("https://"));
    let icon = http_client(&e.ca).get(&label.icon).send().await.unwrap();
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
    let answer = e
        .call(
            Method::POST,
            &pay_path,
            None,
            Some(json!({"account": e.customer.pubkey().to_string()})),
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let pay: PayTransaction = serde_json::from_value(answer.body).unwrap();
    assert_eq!(pay.message.as_deref(), Some("Pay 12 to Api Shop"));
    let mut tx: Transaction =
        bincode::deserialize(&STANDARD.decode(&pay.transaction).unwrap()).unwrap();
    assert_eq!(
        tx.message.account_keys[0],
        e.customer.pubkey(),
        "the wallet pays the fee"
    );
    assert_eq!(
        tx.message.header.num_required_signatures, 1,
        "no co-signer: no KYT"
    );
    let hash = tx.message.recent_blockhash;
    tx.try_sign(&[&e.customer], hash).unwrap();
    let rpc = RpcClient::new_with_commitment(e.rpc_url.clone(), CommitmentConfig::confirmed());
    let paid_sig = rpc
        .send_and_confirm_transaction(&tx)
        .await
        .expect("the wallet's payment lands");
    indexed(&pool, &unsigned.payment, "authorized").await;
    let st = api.status_by_reference(&unsigned.payment).await.unwrap();
    assert!(matches!(
        st.state,
        SettlementState::Confirmed | SettlementState::Finalized
    ));
    assert_eq!(st.signature, Some(paid_sig.to_string()));
    // Paying twice: the invoice is no longer payable, and the wallet is told why.
    let twice = e
        .call(
            Method::POST,
            &pay_path,
            None,
            Some(json!({"account": e.customer.pubkey().to_string()})),
            None,
        )
        .await;
    assert_eq!(twice.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(twice.body["message"]
        .as_str()
        .unwrap()
        .contains("already paid"));

    // Capture 5 of 12, then build a capture of 8 (more than is left): refused by name.
    let cap = api
        .capture(
            &unsigned.payment,
            &CaptureRequest {
                amount: Some((5 * USD).to_string()),
                signer: None,
            },
            &idem(),
        )
        .await
        .unwrap();
    api.sign_and_submit(&cap, &[owner], &idem())
        .await
        .expect("captured");
    indexed(&pool, &unsigned.payment, "authorized").await;
    for _ in 0..100 {
        if api.payment(&unsigned.payment).await.unwrap().captured == (5 * USD).to_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let over = e
        .call(
            Method::POST,
            &format!("/v1/payments/{}/capture", unsigned.payment),
            Some(&shop.key),
            Some(json!({"amount": (8 * USD).to_string()})),
            Some(&idem()),
        )
        .await;
    assert_eq!(over.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(over.body["error"], "CaptureExceedsEscrow", "{}", over.body);
    assert_eq!(over.body["program"], "kassa_payments");
    // The rest, closing nothing yet (the refund window is open).
    let rest = api
        .capture(
            &unsigned.payment,
            &CaptureRequest {
                amount: None,
                signer: None,
            },
            &idem(),
        )
        .await
        .unwrap();
    let rest_tx = rest.transaction.clone();
    api.sign_and_submit(&rest, &[owner], &idem())
        .await
        .expect("captured in full");
    indexed(&pool, &unsigned.payment, "captured").await;
    // The same transaction again (a client retrying without its Idempotency-Key): the cluster
    // refuses the duplicate, and the API says so instead of pretending.
    let dup = e
        .call(
            Method::POST,
            "/v1/transactions",
            Some(&shop.key),
            Some(json!({"transaction": sign(&rest_tx, &[owner])})),
            Some(&idem()),
        )
        .await;
    assert!(
        dup.status.is_client_error() || dup.status == StatusCode::OK,
        "{}",
        dup.body
    );

    // Refund 2, then more than is refundable: refused by name before anything is signed.
    let refund = api
        .refund(
            &unsigned.payment,
            &RefundRequest {
                amount: Some((2 * USD).to_string()),
            },
            &idem(),
        )
        .await
        .unwrap();
    api.sign_and_submit(&refund, &[owner], &idem())
        .await
        .expect("refunded");
    let too_much = e
        .call(
            Method::POST,
            &format!("/v1/payments/{}/refund", unsigned.payment),
            Some(&shop.key),
            Some(json!({"amount": (100 * USD).to_string()})),
            Some(&idem()),
        )
        .await;
    assert_eq!(
        too_much.body["error"], "RefundExceedsCaptured",
        "{}",
        too_much.body
    );
    for _ in 0..100 {
        if api.payment(&unsigned.payment).await.unwrap().refunded == (2 * USD).to_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let p = api.payment(&unsigned.payment).await.unwrap();
    assert_eq!(p.captured, (12 * USD).to_string());
    assert_eq!(p.refunded, (2 * USD).to_string());
    let timeline = api.timeline(&unsigned.payment).await.unwrap();
    let names: Vec<&str> = timeline.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "InvoiceOpened",
            "PaymentAuthorized",
            "PaymentCaptured",
            "PaymentCaptured",
            "PaymentRefunded"
        ]
    );

    // A void after capture: the program's rule, by name.
    let void = e
        .call(
            Method::POST,
            &format!("/v1/payments/{}/void", unsigned.payment),
            Some(&shop.key),
            Some(json!({})),
            Some(&idem()),
        )
        .await;
    assert_eq!(void.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(void.body["program"], "kassa_payments");

    // A second invoice, paid, then voided through the API.
    let order = format!("VOID-{}", rand::random::<u32>());
    let unsigned = api
        .create_invoice(
            &CreateInvoice {
                order_id: order,
                amount: (3 * USD).to_string(),
                expires_in_secs: None,
                signer: None,
            },
            &idem(),
        )
        .await
        .unwrap();
    api.sign_and_submit(&unsigned, &[owner], &idem())
        .await
        .unwrap();
    indexed(&pool, &unsigned.payment, "open").await;
    e.pay_as_wallet(&unsigned.payment).await;
    indexed(&pool, &unsigned.payment, "authorized").await;
    let void = api
        .void(&unsigned.payment, &VoidRequest { signer: None }, &idem())
        .await
        .unwrap();
    api.sign_and_submit(&void, &[owner], &idem()).await.unwrap();
    indexed(&pool, &unsigned.payment, "voided").await;

    // Submitting something that is not signed, or not base64.
    let unsigned_again = api
        .create_invoice(
            &CreateInvoice {
                order_id: format!("U-{}", rand::random::<u32>()),
                amount: "1".into(),
                expires_in_secs: None,
                signer: None,
            },
            &idem(),
        )
        .await
        .unwrap();
    let a = e
        .call(
            Method::POST,
            "/v1/transactions",
            Some(&shop.key),
            Some(json!({"transaction": unsigned_again.transaction})),
            Some(&idem()),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body["type"]
        .as_str()
        .unwrap()
        .ends_with("/unsigned-transaction"));
    let a = e
        .call(
            Method::POST,
            "/v1/transactions",
            Some(&shop.key),
            Some(json!({"transaction": "%%%"})),
            Some(&idem()),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    // No signatures at all (every signature "verifies" vacuously): refused, not a crash.
    let mut empty: Transaction =
        bincode::deserialize(&STANDARD.decode(&unsigned_again.transaction).unwrap()).unwrap();
    empty.signatures.clear();
    empty.message.header.num_required_signatures = 0;
    let a = e
        .call(
            Method::POST,
            "/v1/transactions",
            Some(&shop.key),
            Some(json!({"transaction": STANDARD.encode(bincode::serialize(&empty).unwrap())})),
            Some(&idem()),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", a.body);
    // The operator signer when the merchant set none.
    let a = e
        .call(
            Method::POST,
            "/v1/payments",
            Some(&shop.key),
            Some(json!({"order_id": "OP-1", "amount": "1", "signer": "operator"})),
            Some(&idem()),
        )
        .await;
    assert!(a.body["type"].as_str().unwrap().ends_with("/no-operator"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kyt_merchant_is_paid_with_the_compliance_cosignature_and_a_blocked_payer_is_refused() {
    let e = env();
    let pool = e.pool().await;
    let shop = &e.merchants[4];
    let owner = shop.owner.as_ref().unwrap();
    let api = e.client(&shop.key);
    let unsigned = api
        .create_invoice(
            &CreateInvoice {
                order_id: "KYT-1".into(),
                amount: (4 * USD).to_string(),
                expires_in_secs: None,
                signer: None,
            },
            &idem(),
        )
        .await
        .unwrap();
    api.sign_and_submit(&unsigned, &[owner], &idem())
        .await
        .unwrap();
    indexed(&pool, &unsigned.payment, "open").await;
    let pay_path = format!("/v1/pay/{}", unsigned.payment);

    // A blocked wallet is refused with the specification's message.
    let blocked = Keypair::new();
    let rpc = RpcClient::new_with_commitment(e.rpc_url.clone(), CommitmentConfig::confirmed());
    let ix = kassa_sdk::payments::Payments::default()
        .blocklist_add(&e.compliance.pubkey(), &blocked.pubkey(), [9; 32])
        .unwrap();
    let hash = rpc.get_latest_blockhash().await.unwrap();
    let tx = Transaction::new_signed_with_payer(
        &[ix],
        Some(&e.compliance.pubkey()),
        &[&e.compliance],
        hash,
    );
    rpc.send_and_confirm_transaction(&tx).await.unwrap();
    for _ in 0..300 {
        let n: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(cardinality(blocked)), 0)::bigint FROM chain.config",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if n >= 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let refused = e
        .call(
            Method::POST,
            &pay_path,
            None,
            Some(json!({"account": blocked.pubkey().to_string()})),
            None,
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body["message"].is_string());

    // Kassa's own keys are never handed a transaction (it would come back fully signed).
    let own = e
        .call(
            Method::POST,
            &pay_path,
            None,
            Some(json!({"account": e.compliance.pubkey().to_string()})),
            None,
        )
        .await;
    assert_eq!(own.status, StatusCode::FORBIDDEN, "{}", own.body);

    // A screened wallet gets the transaction co-signed by the compliance key.
    let answer = e
        .call(
            Method::POST,
            &pay_path,
            None,
            Some(json!({"account": e.customer.pubkey().to_string()})),
            None,
        )
        .await;
    let pay: PayTransaction = serde_json::from_value(answer.body).unwrap();
    let mut tx: Transaction =
        bincode::deserialize(&STANDARD.decode(&pay.transaction).unwrap()).unwrap();
    assert_eq!(tx.message.header.num_required_signatures, 2);
    assert_eq!(tx.message.account_keys[0], e.customer.pubkey());
    assert_eq!(tx.message.account_keys[1], e.compliance.pubkey());
    let message = tx.message_data();
    assert!(
        tx.signatures[1].verify(e.compliance.pubkey().as_ref(), &message),
        "co-signed"
    );
    // The wallet adds its own signature and nothing else.
    let hash = tx.message.recent_blockhash;
    tx.try_partial_sign(&[&e.customer], hash).unwrap();
    rpc.send_and_confirm_transaction(&tx)
        .await
        .expect("the co-signed payment lands");
    indexed(&pool, &unsigned.payment, "authorized").await;
    let p = api.payment(&unsigned.payment).await.unwrap();
    assert!(p.kyt_cosigned);

    // Malformed Solana Pay requests get the specification's message, never a 5xx.
    for body in [json!({}), json!({"account": "nope"}), json!({"account": 5})] {
        let a = e
            .call(Method::POST, &pay_path, None, Some(body), None)
            .await;
        assert!(a.status.is_client_error());
        assert!(a.body["message"].is_string());
    }
    let a = e
        .call(Method::GET, "/v1/pay/not-a-key", None, None, None)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    let a = e
        .call(
            Method::GET,
            &format!("/v1/pay/{}", Pubkey::new_unique()),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_keys_replay_refuse_changes_and_let_one_of_concurrent_duplicates_act() {
    let e = env();
    let pool = e.pool().await;
    let shop = &e.merchants[3].key;
    let key = idem();
    let body = json!({"order_id": format!("R-{}", rand::random::<u32>()), "amount": "1000"});
    let first = e
        .call(
            Method::POST,
            "/v1/payments",
            Some(shop),
            Some(body.clone()),
            Some(&key),
        )
        .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let again = e
        .call(
            Method::POST,
            "/v1/payments",
            Some(shop),
            Some(body.clone()),
            Some(&key),
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_eq!(again.raw, first.raw, "the stored answer, byte for byte");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = e
        .call(
            Method::POST,
            "/v1/payments",
            Some(shop),
            Some(json!({"order_id": "R-other", "amount": "1000"})),
            Some(&key),
        )
        .await;
    assert_eq!(other.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(other.body["type"]
        .as_str()
        .unwrap()
        .ends_with("/idempotency-key-reused"));
    let body = json!({"name": "Missing key", "role": "consumer"});
    // Without the header: refused.
    let missing = e
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&e.operator),
            Some(body.clone()),
            None,
        )
        .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);

    // Sixteen identical requests at once: one account is created.
    let key = idem();
    let name = format!("Race {key}");
    let body = json!({"name": name, "role": "consumer"});
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (body, key) = (body.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let e = env();
            let a = e
                .call(
                    Method::POST,
                    "/v1/accounts",
                    Some(&e.operator),
                    Some(body),
                    Some(&key),
                )
                .await;
            (a.status, a.raw)
        }));
    }
    let mut created = Vec::new();
    for t in tasks {
        let (status, raw) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created.push(raw),
            StatusCode::CONFLICT => {}
            other => panic!("{other}"),
        }
    }
    assert!(!created.is_empty());
    assert!(
        created.windows(2).all(|w| w[0] == w[1]),
        "every success is the one answer"
    );
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM api.account WHERE name = $1")
        .bind(&name)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(n, 1, "one effect");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_stored_hashed_rotate_with_overlap_and_revoke_at_once() {
    let e = env();
    let pool = e.pool().await;
    let op = e.client(&e.operator);
    let made = op
        .create_account(
            &CreateAccount {
                name: "Rotating".into(),
                role: Role::Consumer,
                merchant: None,
            },
            &idem(),
        )
        .await
        .unwrap();
    let secret = made.key.secret.clone();
    assert!(secret.starts_with("kassa_sk_"));
    // Only the SHA-256 is stored.
    let stored: Vec<u8> = sqlx::query_scalar("SELECT hash FROM api.key WHERE id = $1")
        .bind(&made.key.key.id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, kassa_api::auth::hash(&secret).to_vec());
    let dump: String = sqlx::query_scalar("SELECT string_agg(k::text, ',') FROM api.key k")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!dump.contains(&secret[9..]));

    // A retry of the request that showed a secret is told it was issued; the secret is not kept.
    let key = idem();
    let body = json!({"name": "Shown once", "role": "consumer"});
    let first = e
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&e.operator),
            Some(body.clone()),
            Some(&key),
        )
        .await;
    let shown = first.body["key"]["secret"].as_str().unwrap().to_string();
    let again = e
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&e.operator),
            Some(body),
            Some(&key),
        )
        .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body["type"]
        .as_str()
        .unwrap()
        .ends_with("/already-issued"));
    assert!(!String::from_utf8_lossy(&again.raw).contains(&shown));
    let stored: String = sqlx::query_scalar(
        "SELECT coalesce(string_agg(encode(body, 'escape'), ','), '') FROM api.idempotency",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(
        !stored.contains(&shown[9..]),
        "no secret in the idempotency store"
    );
    // Key ids and names that are not text the database takes are 4xx, not 500.
    for path in ["/v1/keys/%00", "/v1/keys/key_%00"] {
        let a = e
            .call(Method::DELETE, path, Some(&e.operator), None, None)
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{path}");
    }
    let a = e
        .call(
            Method::POST,
            "/v1/accounts",
            Some(&e.operator),
            Some(json!({"name": "a\u{0}b", "role": "consumer"})),
            Some(&idem()),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);

    let me = e.client(&secret);
    me.payments("limit=1").await.expect("the key works");
    // Rotate with an overlap: both work. Rotate the old one with no overlap: it stops.
    let new = me
        .rotate_key(&made.key.key.id, Some(3600), &idem())
        .await
        .unwrap();
    me.payments("limit=1")
        .await
        .expect("old key in its overlap");
    let fresh = e.client(&new.secret);
    fresh.payments("limit=1").await.expect("new key");
    fresh
        .rotate_key(&made.key.key.id, Some(0), &idem())
        .await
        .unwrap();
    let gone = e.get("/v1/payments?limit=1", &secret).await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED);
    // Revoke: at once.
    fresh.revoke_key(&new.key.id).await.unwrap();
    assert_eq!(
        e.get("/v1/payments?limit=1", &new.secret).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A merchant cannot touch another account's keys: 404.
    let a = e
        .call(
            Method::DELETE,
            &format!("/v1/keys/{}", made.key.key.id),
            Some(&e.merchants[0].key),
            None,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    // Onboarding a merchant needs a registered one; a second account for it conflicts.
    let a = e
        .call(Method::POST, "/v1/accounts", Some(&e.operator),
              Some(json!({"name": "Ghost", "role": "merchant", "merchant": Pubkey::new_unique().to_string()})), Some(&idem()))
        .await;
    assert!(a.body["type"]
        .as_str()
        .unwrap()
        .ends_with("/merchant-not-registered"));
    let a = e
        .call(Method::POST, "/v1/accounts", Some(&e.operator),
              Some(json!({"name": "Twice", "role": "merchant", "merchant": e.merchants[0].address.to_string()})), Some(&idem()))
        .await;
    assert_eq!(a.status, StatusCode::CONFLICT);
}

/// A request and the problem it must get: method, path, key, body, status, problem name.
type Case<'a> = (
    Method,
    String,
    Option<&'a str>,
    Option<Value>,
    StatusCode,
    &'static str,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_named_4xx_problem_never_a_5xx() {
    let e = env();
    let k = Some(e.operator.as_str());
    let m = &e.merchants[3].key;
    let cases: Vec<Case> = vec![
        (
            Method::GET,
            "/v1/payments".into(),
            None,
            None,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            Method::GET,
            "/v1/payments".into(),
            Some("kassa_sk_nope"),
            None,
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        ),
        (
            Method::GET,
            "/v1/payments?cursor=zzz".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-cursor",
        ),
        (
            Method::GET,
            "/v1/payments?limit=0".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-limit",
        ),
        (
            Method::GET,
            "/v1/payments?limit=x".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-query",
        ),
        (
            Method::GET,
            "/v1/payments?status=lost".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-status",
        ),
        (
            Method::GET,
            "/v1/payments?sort=1".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-query",
        ),
        (
            Method::GET,
            "/v1/payments?from=yesterday".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-time",
        ),
        (
            Method::GET,
            "/v1/payments/0OIl".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-address",
        ),
        (
            Method::GET,
            format!("/v1/payments/{}", Pubkey::new_unique()),
            k,
            None,
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            Method::GET,
            "/v1/transactions/abc".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-signature",
        ),
        (
            Method::GET,
            "/v1/status".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-query",
        ),
        (
            Method::GET,
            "/v1/accounts/x/keys".into(),
            k,
            None,
            StatusCode::BAD_REQUEST,
            "invalid-path",
        ),
        (
            Method::GET,
            "/v1/nowhere".into(),
            k,
            None,
            StatusCode::NOT_FOUND,
            "not-found",
        ),
        (
            Method::PUT,
            "/v1/payments".into(),
            k,
            None,
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
        ),
        (
            Method::POST,
            "/v1/payments".into(),
            Some(m),
            Some(json!({"order_id": 5, "amount": "1"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
        ),
        (
            Method::POST,
            "/v1/payments".into(),
            Some(m),
            Some(json!({"order_id": "A", "amount": "1", "extra": 1})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
        ),
        (
            Method::POST,
            "/v1/payments".into(),
            Some(m),
            Some(json!({"order_id": "A", "amount": "-1"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-amount",
        ),
        (
            Method::POST,
            "/v1/payments".into(),
            Some(m),
            Some(json!({"order_id": "A", "amount": "18446744073709551616"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-amount",
        ),
        (
            Method::POST,
            "/v1/payments".into(),
            Some(m),
            Some(json!({"order_id": "", "amount": "1"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-order-id",
        ),
        (
            Method::POST,
            "/v1/payments".into(),
            Some(m),
            Some(json!({"order_id": "A", "amount": "1", "expires_in_secs": 5})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-expiry",
        ),
        (
            Method::POST,
            "/v1/payments".into(),
            k,
            Some(json!({"order_id": "A", "amount": "1"})),
            StatusCode::FORBIDDEN,
            "forbidden",
        ),
    ];
    for (method, path, key, body, status, kind) in cases {
        let a = e
            .call(method.clone(), &path, key, body, Some(&idem()))
            .await;
        assert_eq!(a.status, status, "{method} {path}: {}", a.body);
        assert!(
            a.body["type"]
                .as_str()
                .unwrap()
                .ends_with(&format!("/{kind}")),
            "{method} {path}: {}",
            a.body
        );
    }
    // Malformed JSON, a wrong content type, a huge body.
    let http = http_client(&e.ca);
    let r = http
        .post(format!("{}/v1/payments", e.url))
        .bearer_auth(m)
        .header("Idempotency-Key", idem())
        .header("content-type", "application/json")
        .body("{\"order_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = http
        .post(format!("{}/v1/payments", e.url))
        .bearer_auth(m)
        .header("Idempotency-Key", idem())
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = http
        .post(format!("{}/v1/payments", e.url))
        .bearer_auth(m)
        .header("Idempotency-Key", idem())
        .header("content-type", "application/json")
        .body(vec![b' '; 80_000])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(r.headers()["content-type"], "application/problem+json");

    // Health, readiness, metrics.
    assert_eq!(
        e.call(Method::GET, "/healthz", None, None, None)
            .await
            .status,
        StatusCode::OK
    );
    let ready = e.call(Method::GET, "/readyz", None, None, None).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.body);
    let metrics = http
        .get(format!("{}/metrics", e.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("kassa_api_requests_total{method=\"GET\",route=\"/v1/payments\""));
    assert!(metrics.contains("kassa_indexer_events_total"));
    assert!(metrics.contains("\nkassa_webhook_deliveries_pending "));
    assert!(metrics.contains("\nkassa_webhook_oldest_pending_seconds "));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_generated_from_the_openapi_document_never_get_a_5xx() {
    use proptest::{
        prelude::*,
        test_runner::{Config, TestRunner},
    };
    let e = env();
    assert!(
        e.doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "OpenAPI 3.1"
    );
    // Every operation of the document.
    let mut ops = Vec::new();
    for (path, item) in e.doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            ops.push((path.clone(), method.to_uppercase(), op.clone()));
        }
    }
    assert!(ops.len() >= 30, "{}", ops.len());
    let known = e.merchants[0].address.to_string();
    let value = prop_oneof![
        Just(known.clone()),
        Just(Pubkey::new_unique().to_string()),
        "[0-9A-Za-z_%.-]{0,70}",
        Just("1".repeat(100)),
        Just("-1".to_string()),
        Just("18446744073709551616".to_string()),
    ];
    let json_value = prop_oneof![
        Just(Value::Null),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,40}".prop_map(Value::from),
        Just(json!(known)),
        Just(json!({"nested": [1, 2]})),
    ];
    let strategy = (
        0..ops.len(),
        proptest::collection::vec(value, 4),
        proptest::collection::btree_map("[a-z_]{1,12}", json_value, 0..4),
        any::<bool>(),
    );
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let keys = [
        e.operator.clone(),
        e.merchants[3].key.clone(),
        e.consumer.clone(),
    ];
    runner
        .run(&strategy, |(i, values, fields, use_query)| {
            let (template, method, op) = &ops[i];
            let mut path = template.clone();
            let mut v = values.iter();
            while let (Some(s), Some(end)) = (path.find('{'), path.find('}')) {
                let fill: String = v.next().cloned().unwrap_or_default();
                let fill = if fill.is_empty() {
                    "x".into()
                } else {
                    fill.replace(['/', '?', '#'], "")
                };
                path.replace_range(s..=end, &fill);
            }
            let mut body = None;
            if op.get("requestBody").is_some() || method == "POST" {
                body = Some(Value::Object(fields.clone().into_iter().collect()));
            }
            if use_query {
                let q: Vec<String> = op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|p| p["in"] == "query")
                    .zip(values.iter().cycle())
                    .map(|(p, v)| format!("{}={}", p["name"].as_str().unwrap(), v))
                    .collect();
                if !q.is_empty() {
                    path = format!("{path}?{}", q.join("&"));
                }
            }
            let key = keys[i % keys.len()].clone();
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            // Solana Pay POSTs and merchant actions reach the cluster; all must stay 4xx or 2xx.
            tokio::task::block_in_place(|| {
                handle.block_on(e.call(method, &path, Some(&key), body, Some(&idem())))
            });
            Ok(())
        })
        .expect("no generated request gets a 5xx or an undocumented answer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_is_a_503_with_retry_after_and_the_api_recovers_by_itself() {
    let e = env();
    let admin = std::env::var("DATABASE_URL").unwrap();
    let (pool, url) = kassa_testkit::postgres::fresh_database(&admin)
        .await
        .unwrap();
    let (_, key) = kassa_api::auth::create_account(&pool, "Outage", Role::Consumer, None)
        .await
        .unwrap();
    let db = url
        .split('/')
        .nth(3)
        .and_then(|s| s.split('?').next())
        .unwrap()
        .to_string();
    let api_pool = kassa_api::connect(&url, 2).await.unwrap();
    let base = serve_plain(AppState::new(
        api_pool,
        ApiConfig {
            rpc_url: e.rpc_url.clone(),
            max_lag_slots: u64::MAX,
            ..ApiConfig::default()
        },
        None,
    ));
    let http = reqwest::Client::new();
    let get = |path: &'static str| {
        let (http, base, key) = (http.clone(), base.clone(), key.secret.clone());
        async move {
            http.get(format!("{base}{path}"))
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(get("/v1/payments").await.status(), StatusCode::OK);
    let admin_pool = PgPool::connect(&admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"
    )))
    .execute(&admin_pool)
    .await
    .unwrap();
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db)
        .execute(&admin_pool)
        .await
        .unwrap();
    // The key is cached for a few seconds; past that, the database is needed.
    tokio::time::sleep(kassa_api::auth::CACHE_TTL).await;
    let down = get("/v1/payments").await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.headers().contains_key("retry-after"));
    let body: Value = down.json().await.unwrap();
    assert!(body["type"].as_str().unwrap().ends_with("/unavailable"));
    assert!(
        !body["detail"].as_str().unwrap().contains(&db),
        "nothing internal: {body}"
    );
    let ready = get("/readyz").await;
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"
    )))
    .execute(&admin_pool)
    .await
    .unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if get("/v1/payments").await.status() == StatusCode::OK {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "the API recovers by itself");
    drop(pool);
}

/// `@solana/pay`'s own `fetchTransaction` and a `@solana/web3.js` wallet pay an invoice through
/// the transaction-request routes: once plainly, once for a KYT merchant (co-signed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_solana_pay_library_and_a_web3js_wallet_pay_through_the_transaction_request() {
    let e = env();
    let pool = e.pool().await;
    let ca = std::env::temp_dir().join(format!("kassa-api-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, &e.ca).unwrap();
    let payer = serde_json::to_string(&e.customer.to_bytes().to_vec()).unwrap();
    for (shop, order) in [(&e.merchants[3], "JS-1"), (&e.merchants[4], "JS-KYT-1")] {
        let owner = shop.owner.as_ref().unwrap();
        let api = e.client(&shop.key);
        let unsigned = api
            .create_invoice(
                &CreateInvoice {
                    order_id: order.into(),
                    amount: (7 * USD).to_string(),
                    expires_in_secs: None,
                    signer: None,
                },
                &idem(),
            )
            .await
            .unwrap();
        api.sign_and_submit(&unsigned, &[owner], &idem())
            .await
            .unwrap();
        indexed(&pool, &unsigned.payment, "open").await;
        let out = tokio::process::Command::new("node")
            .arg("solana_pay_wallet.mjs")
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../localnet/js"))
            .env(
                "KASSA_PAY_LINK",
                unsigned.solana_pay_url.as_deref().unwrap(),
            )
            .env("KASSA_RPC_URL", &e.rpc_url)
            .env("KASSA_PAYER", &payer)
            .env("NODE_EXTRA_CA_CERTS", &ca)
            .output()
            .await
            .expect("node runs (scripts/test installs localnet/js)");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the JavaScript wallet failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let sig = stdout
            .lines()
            .find_map(|l| l.strip_prefix("SIGNATURE "))
            .expect("a signature")
            .to_string();
        indexed(&pool, &unsigned.payment, "authorized").await;
        let st = api.status_by_signature(&sig).await.unwrap();
        assert_eq!(st.payment.as_deref(), Some(unsigned.payment.as_str()));
        assert!(matches!(
            st.state,
            SettlementState::Confirmed | SettlementState::Finalized
        ));
    }
    let _ = std::fs::remove_file(&ca);
}

/// Beyond its rate a key gets `429` with `Retry-After`, as does a Solana Pay client by address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_gets_429_with_retry_after() {
    let e = env();
    let base = serve_plain(AppState::new(
        kassa_api::connect(&e.db_url, 2).await.unwrap(),
        ApiConfig {
            rpc_url: e.rpc_url.clone(),
            rate_per_sec: 1,
            burst: 3,
            ..ApiConfig::default()
        },
        None,
    ));
    let http = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let r = http
            .get(format!("{base}/v1/merchants"))
            .bearer_auth(&e.consumer)
            .send()
            .await
            .unwrap();
        statuses.push((r.status(), r.headers().get("retry-after").cloned()));
    }
    assert_eq!(statuses[0].0, StatusCode::OK);
    let (status, retry) = statuses.last().unwrap();
    assert_eq!(*status, StatusCode::TOO_MANY_REQUESTS);
    assert!(retry.is_some());
    // Another key has its own allowance.
    let other = http
        .get(format!("{base}/v1/merchants"))
        .bearer_auth(&e.operator)
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    let mut last = StatusCode::OK;
    for _ in 0..5 {
        last = http
            .get(format!("{base}/v1/pay/{}", Pubkey::new_unique()))
            .send()
            .await
            .unwrap()
            .status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
}

/// A merchant opts in to an operator key Kassa holds; Kassa then opens, captures and voids for
/// it with that key alone, while a refund still needs the authority.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_that_opts_in_has_kassa_sign_with_the_operator_key_it_holds() {
    use kassa_sdk::api::types::CreateOperatorKey;
    let e = env();
    let pool = e.pool().await;
    let shop = &e.merchants[4];
    let owner = shop.owner.as_ref().unwrap();
    let api = e.client(&shop.key);
    // Only for its own merchant.
    let a = e
        .call(
            Method::POST,
            &format!("/v1/merchants/{}/operator", e.merchants[3].address),
            Some(&shop.key),
            Some(json!({})),
            Some(&idem()),
        )
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let opt_in = e
        .call(
            Method::POST,
            &format!("/v1/merchants/{}/operator", shop.address),
            Some(&shop.key),
            Some(
                serde_json::to_value(CreateOperatorKey {
                    fund_lamports: None,
                })
                .unwrap(),
            ),
            Some(&idem()),
        )
        .await;
    assert_eq!(opt_in.status, StatusCode::CREATED, "{}", opt_in.body);
    let prepared: kassa_sdk::api::types::PreparedTransaction =
        serde_json::from_value(opt_in.body).unwrap();
    assert_eq!(
        prepared.signers.len(),
        2,
        "the authority, then the new operator"
    );
    let operator: Pubkey = prepared.signers[1].parse().unwrap();
    api.sign_and_submit(&prepared, &[owner], &idem())
        .await
        .expect("opted in");
    let mut mirrored = None;
    for _ in 0..100 {
        mirrored = api
            .merchant(&shop.address.to_string())
            .await
            .unwrap()
            .operator;
        if mirrored.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        mirrored,
        Some(operator.to_string()),
        "the merchant's operator is Kassa's key"
    );

    // Kassa opens an invoice with the operator key alone.
    let opened = api
        .create_invoice(
            &CreateInvoice {
                order_id: "OPS-1".into(),
                amount: (9 * USD).to_string(),
                expires_in_secs: None,
                signer: Some("operator".into()),
            },
            &idem(),
        )
        .await
        .expect("opened by Kassa");
    assert_eq!(opened.signers, vec![operator.to_string()]);
    assert!(opened.submitted.is_some());
    indexed(&pool, &opened.payment, "open").await;
    // Paid through Solana Pay (co-signed: this shop requires KYT).
    e.pay_as_wallet(&opened.payment).await;
    indexed(&pool, &opened.payment, "authorized").await;
    // Kassa captures with the operator key.
    let captured = api
        .capture(
            &opened.payment,
            &CaptureRequest {
                amount: None,
                signer: Some("operator".into()),
            },
            &idem(),
        )
        .await
        .expect("captured by Kassa");
    assert!(captured.submitted.is_some());
    indexed(&pool, &opened.payment, "captured").await;
    // A refund is the authority's: Kassa builds it for the authority to sign, never signs it.
    let refund = api
        .refund(
            &opened.payment,
            &RefundRequest {
                amount: Some(USD.to_string()),
            },
            &idem(),
        )
        .await
        .unwrap();
    assert!(refund.submitted.is_none());
    assert_eq!(refund.signers, vec![owner.pubkey().to_string()]);
}

/// The API env's webhook sealing key, for the test's own worker.
const WEBHOOK_KEY: [u8; 32] = [11; 32];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_endpoints_are_each_merchants_own_and_deliveries_can_be_inspected_redelivered_and_replayed(
) {
    use kassa_testkit::receiver::Receiver;
    use kassa_webhooks::{worker::Worker, Webhooks};
    let env = env();
    let (own, other) = (&env.merchants[0], &env.merchants[1]);
    let receiver = Receiver::start().await.unwrap();
    let created = env
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(&own.key),
            Some(json!({"url": receiver.url, "description": "orders"})),
            Some(&idem()),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_string();
    let id = created.body["endpoint"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.body["endpoint"]["merchant"],
        own.address.to_string()
    );
    receiver.set_secrets(vec![kassa_sdk::webhook::Secret::parse(&secret).unwrap()]);

    // Bad input is a named 4xx.
    for (body, status, kind) in [
        (json!({"url": "ftp://example.com/"}), 422, "invalid-webhook"),
        (
            json!({"url": receiver.url, "event_types": ["payment.teleported"]}),
            422,
            "invalid-webhook",
        ),
        (
            json!({"url": receiver.url, "colour": "red"}),
            422,
            "invalid-body",
        ),
        (
            json!({"url": receiver.url, "merchant": other.address.to_string()}),
            404,
            "not-found",
        ),
    ] {
        let a = env
            .call(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(&own.key),
                Some(body.clone()),
                Some(&idem()),
            )
            .await;
        assert_eq!(a.status.as_u16(), status, "{body}: {}", a.body);
        if !kind.is_empty() {
            assert!(
                a.body["type"].as_str().unwrap().ends_with(kind),
                "{}",
                a.body
            );
        }
    }
    // An operator names the merchant; a consumer cannot manage webhooks.
    let a = env
        .call(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(&env.operator),
            Some(json!({"url": receiver.url})),
            Some(&idem()),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        env.get("/v1/webhook-endpoints", &env.consumer).await.status,
        StatusCode::FORBIDDEN
    );

    // Another merchant's key finds nothing of it.
    let path = format!("/v1/webhook-endpoints/{id}");
    assert_eq!(
        env.get(&path, &other.key).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = env.get("/v1/webhook-endpoints", &other.key).await;
    assert!(!listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == id.as_str()));
    for (method, p) in [
        (Method::PATCH, path.clone()),
        (Method::POST, format!("{path}/rotate-secret")),
        (Method::POST, format!("{path}/test")),
        (Method::POST, format!("{path}/replay")),
    ] {
        let a = env
            .call(
                method.clone(),
                &p,
                Some(&other.key),
                Some(json!({})),
                Some(&idem()),
            )
            .await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {p}: {}", a.body);
    }
    assert_eq!(
        env.get(&format!("{path}/deliveries"), &other.key)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let mine = env.get(&path, &own.key).await;
    assert_eq!(mine.status, StatusCode::OK);
    assert!(
        !mine.raw.windows(6).any(|w| w == b"whsec_"),
        "a secret shown twice"
    );
    let all = env.get("/v1/webhook-endpoints", &env.operator).await;
    assert!(all
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["id"] == id.as_str()));

    // Rotation: a new secret, both sign.
    let rotated = env
        .call(
            Method::POST,
            &format!("{path}/rotate-secret"),
            Some(&own.key),
            Some(json!({"overlap_secs": 600})),
            Some(&idem()),
        )
        .await;
    assert_eq!(rotated.status, StatusCode::CREATED, "{}", rotated.body);
    assert_eq!(rotated.body["version"], 2);
    assert_eq!(
        rotated.body["endpoint"]["secrets"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A test event, delivered by a worker of the test's own on the API's database.
    let test = env
        .call(
            Method::POST,
            &format!("{path}/test"),
            Some(&own.key),
            None,
            Some(&idem()),
        )
        .await;
    assert_eq!(test.status, StatusCode::ACCEPTED, "{}", test.body);
    let mut config =
        kassa_webhooks::Config::new(kassa_webhooks::SealingKey::from_bytes(&WEBHOOK_KEY));
    config.allow_private = true;
    let worker = Worker::new(Webhooks::new(env.pool().await, config), "api-test").unwrap();
    let test_id = test.body["message_id"].as_str().unwrap().to_string();
    for _ in 0..100 {
        worker.drain().await.unwrap();
        if receiver.accepted().iter().any(|r| r.id == test_id) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let got = receiver.accepted();
    let arrived = got
        .iter()
        .find(|r| r.id == test_id)
        .expect("the test event arrives");
    assert!(arrived.verified);
    assert_eq!(
        arrived.signature.split(' ').count(),
        2,
        "both secrets sign during the overlap"
    );
    // The merchant's own events went out too (the endpoint existed when they were fanned out).
    assert!(got.iter().any(|r| r.kind() == "payment.opened"));
    assert!(got
        .iter()
        .all(|r| r.json()["data"]["merchant"] == own.address.to_string()));

    // Deliveries, one with its attempts, redelivered with the same webhook-id.
    let page = env
        .get(&format!("{path}/deliveries?limit=2"), &own.key)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body["data"].as_array().unwrap().len(), 2);
    let next = page.body["next_cursor"].as_str().unwrap();
    let more = env
        .get(
            &format!("{path}/deliveries?limit=2&cursor={next}"),
            &own.key,
        )
        .await;
    assert_eq!(more.status, StatusCode::OK);
    assert_ne!(more.body["data"][0]["id"], page.body["data"][0]["id"]);
    let bad = env
        .get(&format!("{path}/deliveries?cursor=nonsense"), &own.key)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let dlv = test.body["id"].as_str().unwrap();
    let one = env
        .get(&format!("/v1/webhook-deliveries/{dlv}"), &own.key)
        .await;
    assert_eq!(one.body["state"], "delivered");
    assert_eq!(one.body["attempt_log"][0]["status"], 204);
    assert_eq!(
        env.get(&format!("/v1/webhook-deliveries/{dlv}"), &other.key)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let again = env
        .call(
            Method::POST,
            &format!("/v1/webhook-deliveries/{dlv}/redeliver"),
            Some(&own.key),
            None,
            Some(&idem()),
        )
        .await;
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(again.body["message_id"], test_id.as_str());
    // Replay everything of the last day.
    let since = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let replay = env
        .call(
            Method::POST,
            &format!("{path}/replay"),
            Some(&own.key),
            Some(json!({"since": since.format(&time::format_description::well_known::Rfc3339).unwrap()})),
            Some(&idem()),
        )
        .await;
    assert_eq!(replay.status, StatusCode::ACCEPTED, "{}", replay.body);
    let replayed = replay.body["deliveries"].as_i64().unwrap();
    assert!(replayed >= 3, "{replayed}");
    let before = receiver.accepted().len();
    for _ in 0..100 {
        worker.drain().await.unwrap();
        if receiver.accepted().len() >= before + 1 + replayed as usize {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(receiver.accepted().len() > before + replayed as usize);
    assert_eq!(
        receiver
            .accepted()
            .iter()
            .filter(|r| r.id == test_id)
            .count(),
        2
    );

    // Alerts are the operators'.
    assert_eq!(
        env.get("/v1/webhook-alerts", &own.key).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        env.get("/v1/webhook-alerts", &env.operator).await.status,
        StatusCode::OK
    );
    // Disabled by the merchant, with the reason shown.
    let off = env
        .call(
            Method::PATCH,
            &path,
            Some(&own.key),
            Some(json!({"enabled": false})),
            None,
        )
        .await;
    assert_eq!(off.status, StatusCode::OK, "{}", off.body);
    assert_eq!(off.body["enabled"], false);
    assert_eq!(off.body["disabled_reason"], "disabled by the merchant");
    // The SDK client reads the same.
    let listed = env.client(&own.key).webhook_endpoints().await.unwrap();
    assert!(listed.iter().any(|e| e.id == id && !e.enabled));
    let types = env.get("/v1/webhook-event-types", &own.key).await;
    assert!(types
        .body
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "credit.advance_taken"));
}

/// The read routes served from a streaming replica of the primary (a real one: a base backup
/// streaming from a private primary), the rest from the primary. With the replica's replay
/// paused, the primary is fully indexed while the API's reads (and its readiness, which reads
/// where they do) still see the replica's empty state, and a write route works; once replay
/// resumes, the reads catch up. A replica behind this build's schema is refused by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_are_served_from_a_streaming_replica_and_writes_from_the_primary() {
    use kassa_testkit::postgres::{fresh_database, with_database, PgCluster};
    let env = env();
    let primary = tokio::task::spawn_blocking(PgCluster::start)
        .await
        .unwrap()
        .expect("a private primary");
    let (pool, db_url) = fresh_database(&primary.url).await.expect("a database");
    let name = db_url
        .split('?')
        .next()
        .and_then(|u| u.rsplit('/').next())
        .unwrap()
        .to_string();
    let primary = std::sync::Arc::new(primary);
    let replica = {
        let primary = primary.clone();
        tokio::task::spawn_blocking(move || primary.start_replica())
            .await
            .unwrap()
            .expect("a streaming replica")
    };
    let replica_admin = PgPool::connect(&replica.url).await.unwrap();
    let in_recovery: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()")
        .fetch_one(&replica_admin)
        .await
        .unwrap();
    assert!(in_recovery, "the replica is a hot standby");
    let reads = kassa_api::connect_replica(&with_database(&replica.url, &name), 4)
        .await
        .expect("the replica holds the schema");
    let api_pool = kassa_api::connect(&db_url, 4).await.unwrap();
    let base = serve_plain(AppState::with_reads(
        api_pool,
        reads,
        ApiConfig {
            rpc_url: env.rpc_url.clone(),
            ..ApiConfig::default()
        },
        None,
    ));
    let (_, operator) =
        kassa_api::auth::create_account(&pool, "Replica operator", Role::Operator, None)
            .await
            .unwrap();
    let http = reqwest::Client::new();
    let merchants = |http: &reqwest::Client| {
        let (http, base, key) = (http.clone(), base.clone(), operator.secret.clone());
        async move {
            let r = http
                .get(format!("{base}/v1/merchants"))
                .bearer_auth(&key)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            r.json::<Value>().await.unwrap()["data"]
                .as_array()
                .unwrap()
                .len()
        }
    };

    // Replay paused: the primary is indexed, the replica stays as it was.
    sqlx::query("SELECT pg_wal_replay_pause()")
        .execute(&replica_admin)
        .await
        .unwrap();
    while sqlx::query_scalar::<_, String>("SELECT pg_get_wal_replay_pause_state()")
        .fetch_one(&replica_admin)
        .await
        .unwrap()
        != "paused"
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let indexer = Indexer::new(
        pool.clone(),
        Source::new(&env.rpc_url),
        IndexerConfig::default(),
    );
    while indexer.pass().await.unwrap().transactions > 0 {}
    let on_primary: i64 = sqlx::query_scalar("SELECT count(*) FROM chain.merchant")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(on_primary >= 5);
    assert_eq!(
        merchants(&http).await,
        0,
        "reads come from the paused replica"
    );
    let ready = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(
        ready.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "its lag counts"
    );
    // A write goes to the primary meanwhile.
    let created = http
        .post(format!("{base}/v1/accounts"))
        .bearer_auth(&operator.secret)
        .header("Idempotency-Key", idem())
        .json(&json!({"name": "Written on the primary", "role": "consumer"}))
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap()
    );

    // Replay resumes: the reads catch up.
    sqlx::query("SELECT pg_wal_replay_resume()")
        .execute(&replica_admin)
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(30), async {
        while merchants(&http).await as i64 != on_primary {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the replica catches up");

    // A database the primary never migrated, replicated as it is, is refused by name.
    sqlx::query("CREATE DATABASE kassa_unmigrated")
        .execute(&PgPool::connect(&primary.url).await.unwrap())
        .await
        .unwrap();
    let unmigrated = with_database(&replica.url, "kassa_unmigrated");
    let err = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match kassa_api::connect_replica(&unmigrated, 1).await {
                Err(kassa_api::ReplicaError::Behind { have, need }) => return (have, need),
                Err(kassa_api::ReplicaError::Connect(_)) => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Ok(_) => panic!("an unmigrated replica was accepted"),
            }
        }
    })
    .await
    .expect("the new database reaches the replica");
    assert_eq!(err.0, 0);
    assert!(err.1 > 0);
    drop(replica);
}
