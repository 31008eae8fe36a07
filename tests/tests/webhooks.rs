//! Webhooks end to end: a local node, the indexer filling a fresh database, the outbox fanned
//! out and delivered to receivers on loopback that verify every signature. Each test has a
//! world of its own (node, database, service clock), so one test's clock or workers never
//! touch another's deliveries. The clock is the service's: a test lets days pass by advancing
//! it and stepping the workers, not by sleeping.

use kassa_localnet::{
    node::NodeConfig,
    server::{start, Localnet, LocalnetConfig},
};
use kassa_sdk::{
    api::types::{CreateWebhookEndpoint, UpdateWebhookEndpoint},
    webhook::{verify, Secret},
};
use kassa_testkit::{
    demo_day::{bare, caught_up, shop_policy, Merchant, Scenario, USD},
    receiver::{Behaviour, Received, Receiver},
};
use kassa_webhooks::{endpoints, worker::Worker, Config, SealingKey, Webhooks};
use serde_json::{json, Value};
use solana_sdk::signature::Keypair;
use sqlx::PgPool;
use std::{
    collections::{BTreeMap, HashMap},
    net::SocketAddr,
    sync::Arc,
    time::Duration,
};

struct World {
    net: Localnet,
    s: Scenario,
    pool: PgPool,
    db_url: String,
    hooks: Webhooks,
}

fn config() -> Config {
    let mut c = Config::new(SealingKey::from_bytes(&[42; 32]));
    c.allow_private = true;
    c.request_timeout = Duration::from_secs(2);
    c.poll = Duration::from_millis(20);
    c
}

async fn world(finality_lag: u64, config: Config) -> World {
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        slot_interval: Duration::from_millis(50),
        node: NodeConfig {
            finality_lag,
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
    let indexer = Arc::new(kassa_indexer::Indexer::new(
        pool.clone(),
        kassa_indexer::source::Source::new(&net.rpc_url),
        kassa_indexer::IndexerConfig {
            poll: Duration::from_millis(50),
            ..Default::default()
        },
    ));
    tokio::spawn(async move { indexer.run(std::future::pending()).await });
    World {
        net,
        s,
        pool: pool.clone(),
        db_url,
        hooks: Webhooks::new(pool, config),
    }
}

impl World {
    /// A merchant, registered, approved and stored by the indexer.
    async fn merchant(&mut self, name: &'static str) -> Merchant {
        let m = self
            .s
            .merchant(name, shop_policy())
            .await
            .expect("merchant");
        self.caught_up().await;
        m
    }

    async fn caught_up(&self) {
        caught_up(&self.pool, &self.s.signatures)
            .await
            .expect("the indexer stores what was sent");
    }

    /// An endpoint for `m` posting to `r`, whose receiver knows its secret.
    async fn endpoint(&self, m: &Merchant, r: &Receiver, req: CreateWebhookEndpoint) -> String {
        let created = endpoints::create(
            &self.hooks,
            &m.address,
            &CreateWebhookEndpoint {
                url: r.url.clone(),
                ..req
            },
        )
        .await
        .expect("the endpoint registers");
        assert!(created.secret.starts_with("whsec_"));
        r.set_secrets(vec![Secret::parse(&created.secret).unwrap()]);
        created.endpoint.id
    }

    fn worker(&self) -> Worker {
        Worker::new(self.hooks.clone(), "test").unwrap()
    }

    /// Opens, pays and captures one invoice of `m`.
    async fn sale(&mut self, m: &Merchant, customer: &Keypair, order: &str) -> String {
        let payment = self.s.invoice(m, order, 5 * USD).await.unwrap();
        let usdc = self.s.proto.usdc;
        self.s.pay(m, &payment, customer, &usdc).await.unwrap();
        self.s.capture(m, &payment, 5 * USD, None).await.unwrap();
        payment.to_string()
    }
}

/// Drains the worker until `done` holds of what `r` received (or 30 s pass).
async fn deliver_until(worker: &Worker, r: &Receiver, done: impl Fn(&[Received]) -> bool) {
    for _ in 0..600 {
        worker.drain().await.expect("a worker round");
        if done(&r.received()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "not delivered in time; received {:?}",
        r.received().iter().map(Received::kind).collect::<Vec<_>>()
    );
}

/// Checks a notification's body against the schema the OpenAPI document gives it, and that
/// its type is one the document's `webhooks` section lists.
fn validate_payload(doc: &Value, body: &Value) {
    let kind = body["type"].as_str().expect("a type");
    assert!(
        doc["webhooks"].get(kind).is_some(),
        "{kind} is not in the document's webhooks"
    );
    let schema = if kind.starts_with("webhook") {
        "EndpointNotification"
    } else {
        "ChainNotification"
    };
    let mut root = doc.clone();
    let o = root.as_object_mut().unwrap();
    o.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    o.insert(
        "$ref".into(),
        json!(format!("#/components/schemas/{schema}")),
    );
    let validator = jsonschema::validator_for(&root).expect("the document's schemas compile");
    let errors: Vec<String> = validator.iter_errors(body).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{kind}: {errors:?}\n{body}");
}

/// Runs `localnet/js/verify_webhook.mjs` (the `standardwebhooks` npm package) on a message.
async fn verify_in_node(secret: &str, r: &Received, body: &[u8]) -> Result<String, String> {
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("node")
        .arg("verify_webhook.mjs")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../localnet/js"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs (scripts/test installs localnet/js)");
    let input = json!({
        "secret": secret,
        "id": r.id,
        "timestamp": r.timestamp,
        "signature": r.signature,
        "body": String::from_utf8_lossy(body),
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn document() -> Value {
    serde_json::to_value(kassa_api::openapi_document()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_are_told_in_order_at_confirmed_then_finalized_signed_and_as_documented() {
    let mut w = world(8, config()).await;
    let m = w.merchant("Hook Shop").await;
    let everything = Receiver::start().await.unwrap();
    let final_only = Receiver::start().await.unwrap();
    let captures = Receiver::start().await.unwrap();
    let secret = {
        let created = endpoints::create(
            &w.hooks,
            &m.address,
            &CreateWebhookEndpoint {
                url: everything.url.clone(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        everything.set_secrets(vec![Secret::parse(&created.secret).unwrap()]);
        created.secret
    };
    w.endpoint(
        &m,
        &final_only,
        CreateWebhookEndpoint {
            confirmed: Some(false),
            ..Default::default()
        },
    )
    .await;
    w.endpoint(
        &m,
        &captures,
        CreateWebhookEndpoint {
            event_types: Some(vec!["payment.captured".into()]),
            ..Default::default()
        },
    )
    .await;
    let customer = Keypair::new();
    w.s.fund(&customer).await.unwrap();
    let a = w.sale(&m, &customer, "HOOK-1").await;
    let b = w.sale(&m, &customer, "HOOK-2").await;
    w.caught_up().await;

    let worker = w.worker();
    let base = [
        "merchant.registered",
        "merchant.kyb_changed",
        "payment.opened",
        "payment.authorized",
        "payment.captured",
    ];
    // Each base notification at confirmed and again at finalized.
    let expected = 2 * (2 + 2 * 3);
    deliver_until(&worker, &everything, |r| r.len() >= expected).await;
    deliver_until(&worker, &final_only, |r| r.len() >= expected / 2).await;
    deliver_until(&worker, &captures, |r| r.len() >= 4).await;

    let doc = document();
    let got = everything.received();
    assert_eq!(got.len(), expected, "no duplicates without failures");
    let mut confirmed_ids = HashMap::new();
    let mut seen_seq: BTreeMap<String, i64> = BTreeMap::new();
    for r in &got {
        assert!(r.verified, "signature of {}", r.id);
        assert!(r.id.starts_with("msg_"));
        let body = r.json();
        validate_payload(&doc, &body);
        let kind = r.kind();
        let data = &body["data"];
        assert_eq!(data["merchant"], m.address.to_string());
        let base_kind = kind.trim_end_matches(".finalized");
        assert!(base.contains(&base_kind), "{kind}");
        if kind.ends_with(".finalized") {
            assert_eq!(data["commitment"], "finalized");
            // The follow-up names the notification it confirms, which came first.
            let confirms = data["finalizes"].as_str().unwrap();
            assert!(
                confirmed_ids.contains_key(confirms),
                "{kind} before its confirmation"
            );
        } else {
            assert_eq!(data["commitment"], "confirmed");
            confirmed_ids.insert(r.id.clone(), kind.clone());
            // One payment's confirmed notifications arrive in its sequence order.
            let entity = data["entity"].as_str().unwrap().to_string();
            let seq = data["seq"].as_i64().unwrap();
            if let Some(prev) = seen_seq.insert(entity.clone(), seq) {
                assert!(seq > prev, "{entity}: {seq} after {prev}");
            }
        }
    }
    for p in [&a, &b] {
        let kinds: Vec<String> = got
            .iter()
            .filter(|r| r.json()["data"]["payment"] == p.as_str())
            .map(Received::kind)
            .filter(|k| !k.ends_with(".finalized"))
            .collect();
        assert_eq!(
            kinds,
            ["payment.opened", "payment.authorized", "payment.captured"],
            "{p}"
        );
        let captured = got
            .iter()
            .find(|r| r.json()["data"]["payment"] == p.as_str() && r.kind() == "payment.captured")
            .unwrap()
            .json();
        assert_eq!(captured["data"]["details"]["amount"], (5 * USD).to_string());
    }
    // The Standard Webhooks library for JavaScript verifies what Kassa sent, and refuses it
    // tampered.
    let sample = got.iter().find(|r| r.kind() == "payment.captured").unwrap();
    assert_eq!(
        verify_in_node(&secret, sample, &sample.body)
            .await
            .as_deref(),
        Ok("payment.captured")
    );
    let mut tampered = sample.body.clone();
    let at = tampered.len() - 3;
    tampered[at] ^= 1;
    assert!(verify_in_node(&secret, sample, &tampered).await.is_err());

    // An endpoint that does not want `confirmed` gets only the finalized follow-ups; one that
    // chose a type gets only that type.
    assert!(final_only
        .received()
        .iter()
        .all(|r| r.kind().ends_with(".finalized") && r.verified));
    let mut capture_kinds: Vec<String> = captures.received().iter().map(Received::kind).collect();
    capture_kinds.sort();
    assert_eq!(
        capture_kinds,
        [
            "payment.captured",
            "payment.captured",
            "payment.captured.finalized",
            "payment.captured.finalized"
        ]
    );
    // Every outbox row left the outbox exactly once: one delivery per endpoint and message.
    let (outbox, dupes): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM webhooks.outbox),
                (SELECT count(*) FROM (SELECT 1 FROM webhooks.delivery
                                       GROUP BY endpoint, message HAVING count(*) > 1) d)",
    )
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!((outbox, dupes), (0, 0));
    let _ = &w.db_url;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_receivers_are_retried_for_days_then_the_endpoint_is_disabled_and_the_merchant_told(
) {
    let w = world(32, config()).await;
    let mut w = w;
    let m = w.merchant("Flaky Shop").await;
    let flaky = Receiver::start().await.unwrap();
    let ops = Receiver::start().await.unwrap();
    let e = w
        .endpoint(&m, &flaky, CreateWebhookEndpoint::default())
        .await;
    w.endpoint(
        &m,
        &ops,
        CreateWebhookEndpoint {
            event_types: Some(vec!["webhook_endpoint.disabled".into()]),
            ..Default::default()
        },
    )
    .await;
    let worker = w.worker();
    let clock = w.hooks.config.clock.clone();
    // The merchant's own events first (registered, KYB), then a test event.
    deliver_until(&worker, &flaky, |r| r.len() >= 2).await;

    // A 500, then a timeout, then success: three attempts, one webhook-id.
    flaky.script(&[
        Behaviour::Status(500),
        Behaviour::Hang(Duration::from_secs(5)),
    ]);
    let d = endpoints::send_test(&w.hooks, Some(&m.address), &e)
        .await
        .unwrap();
    let id = endpoints::parse_delivery_id(&d.id).unwrap();
    worker.drain().await.unwrap();
    // Not due again until the backoff has passed.
    worker.drain().await.unwrap();
    let view = endpoints::delivery_view(&w.hooks, None, id).await.unwrap();
    assert_eq!((view.state.as_str(), view.attempts), ("pending", 1));
    assert_eq!(view.last_status, Some(500));
    clock.advance(Duration::from_secs(7));
    worker.drain().await.unwrap();
    clock.advance(Duration::from_secs(20));
    worker.drain().await.unwrap();
    let view = endpoints::delivery_view(&w.hooks, None, id).await.unwrap();
    assert_eq!(view.state, "delivered", "{view:?}");
    let log: Vec<(Option<u16>, Option<String>)> = view
        .attempt_log
        .iter()
        .map(|a| (a.status, a.error.clone()))
        .collect();
    assert_eq!(log[0].0, Some(500));
    assert!(
        log[1].1.as_deref().unwrap().contains("timed out"),
        "{log:?}"
    );
    assert_eq!(log[2], (Some(204), None));
    let same: Vec<Received> = flaky
        .received()
        .into_iter()
        .filter(|r| r.id == view.message_id)
        .collect();
    assert_eq!(same.len(), 3);
    assert!(same.iter().all(|r| r.verified));

    // A redirect is a failure, never followed.
    flaky.script(&[Behaviour::Redirect]);
    let d = endpoints::send_test(&w.hooks, Some(&m.address), &e)
        .await
        .unwrap();
    worker.drain().await.unwrap();
    let view =
        endpoints::delivery_view(&w.hooks, None, endpoints::parse_delivery_id(&d.id).unwrap())
            .await
            .unwrap();
    assert!(view
        .last_error
        .unwrap()
        .contains("redirects are not followed"));

    // Down for a simulated day: retried all day, delivered when it is back.
    flaky.down();
    let d = endpoints::send_test(&w.hooks, Some(&m.address), &e)
        .await
        .unwrap();
    let id = endpoints::parse_delivery_id(&d.id).unwrap();
    for _ in 0..24 {
        clock.advance(Duration::from_secs(3600));
        worker.drain().await.unwrap();
    }
    let view = endpoints::delivery_view(&w.hooks, None, id).await.unwrap();
    assert_eq!(view.state, "pending");
    assert!(view.attempts >= 8, "{} attempts in a day", view.attempts);
    assert!(view.last_error.unwrap().contains("connect"));
    flaky.up().await.unwrap();
    // The longest wait between attempts: 6 h, plus a quarter of jitter.
    clock.advance(Duration::from_secs(8 * 3600));
    worker.drain().await.unwrap();
    let view = endpoints::delivery_view(&w.hooks, None, id).await.unwrap();
    assert_eq!(view.state, "delivered");
    assert!(
        endpoints::get(&w.hooks, Some(&m.address), &e)
            .await
            .unwrap()
            .enabled
    );

    // Down for good: after three days the delivery fails, the endpoint is disabled, the
    // operators get an alert and the merchant's other endpoint is told.
    flaky.down();
    let d = endpoints::send_test(&w.hooks, Some(&m.address), &e)
        .await
        .unwrap();
    let id = endpoints::parse_delivery_id(&d.id).unwrap();
    for _ in 0..16 {
        clock.advance(Duration::from_secs(6 * 3600));
        worker.drain().await.unwrap();
    }
    let view = endpoints::delivery_view(&w.hooks, None, id).await.unwrap();
    assert_eq!(view.state, "failed");
    let endpoint = endpoints::get(&w.hooks, Some(&m.address), &e)
        .await
        .unwrap();
    assert!(!endpoint.enabled);
    assert!(endpoint
        .disabled_reason
        .unwrap()
        .contains("failed for 3 days"));
    let alerts = endpoints::alerts(&w.hooks).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].endpoint, e);
    assert_eq!(alerts[0].merchant, m.address.to_string());
    deliver_until(&worker, &ops, |r| {
        r.iter().any(|r| r.kind() == "webhook_endpoint.disabled")
    })
    .await;
    let told = ops
        .received()
        .into_iter()
        .find(|r| r.kind() == "webhook_endpoint.disabled")
        .unwrap();
    assert!(told.verified);
    validate_payload(&document(), &told.json());
    assert_eq!(told.json()["data"]["endpoint"], e.as_str());

    // Enabled again, the merchant replays the day it missed: it arrives.
    flaky.up().await.unwrap();
    endpoints::update(
        &w.hooks,
        Some(&m.address),
        &e,
        &UpdateWebhookEndpoint {
            enabled: Some(true),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let before = flaky.accepted().len();
    let replayed = endpoints::replay(
        &w.hooks,
        Some(&m.address),
        &e,
        Some(clock.now() - time::Duration::days(30)),
        None,
    )
    .await
    .unwrap();
    assert!(replayed >= 2, "{replayed}");
    deliver_until(&worker, &flaky, |_| {
        flaky.accepted().len() >= before + replayed as usize
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_delivery_leaves_the_message_to_another_with_the_same_webhook_id() {
    let mut c = config();
    c.request_timeout = Duration::from_secs(20);
    let mut w = world(32, c).await;
    let m = w.merchant("Crash Shop").await;
    let r = Receiver::start().await.unwrap();
    // The first request hangs: the worker is killed while it waits.
    r.script(&[Behaviour::Hang(Duration::from_secs(30))]);
    let e = w.endpoint(&m, &r, CreateWebhookEndpoint::default()).await;
    let killed = tokio::spawn(w.worker().run(std::future::pending()));
    assert!(
        r.wait_until(Duration::from_secs(30), |got| !got.is_empty())
            .await
    );
    killed.abort();
    let _ = killed.await;
    let first = r.received()[0].clone();

    // Another worker cannot take it while the lease holds; it can once the lease expired.
    let other = w.worker();
    other.drain().await.unwrap();
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhooks.delivery WHERE endpoint = $1 AND state = 'pending' AND lease_owner IS NOT NULL",
    )
    .bind(&e)
    .fetch_one(&w.pool)
    .await
    .unwrap();
    assert_eq!(pending, 1, "the dead worker's lease still holds");
    w.hooks
        .config
        .clock
        .advance(w.hooks.config.lease() + Duration::from_secs(1));
    deliver_until(&other, &r, |got| {
        got.iter().filter(|g| g.id == first.id).count() >= 2
    })
    .await;
    let again: Vec<Received> = r
        .received()
        .into_iter()
        .filter(|g| g.id == first.id)
        .collect();
    assert_eq!(again.len(), 2);
    assert_eq!(again[0].body, again[1].body);
    assert!(again.iter().all(|g| g.verified));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_on_one_database_deliver_each_message_once_and_each_payment_in_order() {
    let mut w = world(32, config()).await;
    let m = w.merchant("Busy Shop").await;
    let r = Receiver::start().await.unwrap();
    w.endpoint(&m, &r, CreateWebhookEndpoint::default()).await;
    let customer = Keypair::new();
    w.s.fund(&customer).await.unwrap();
    let mut payments = Vec::new();
    for i in 0..6 {
        payments.push(w.sale(&m, &customer, &format!("BUSY-{i}")).await);
    }
    w.caught_up().await;
    // Two workers, each on a pool of its own (separate sessions, as two processes have).
    let mut handles = Vec::new();
    for name in ["one", "two"] {
        let pool = PgPool::connect(&w.db_url).await.unwrap();
        let hooks = Webhooks::new(pool, w.hooks.config.clone());
        let worker = Worker::new(hooks, name).unwrap();
        handles.push(tokio::spawn(worker.run(std::future::pending())));
    }
    let expected = 2 + 6 * 3;
    assert!(
        r.wait_until(Duration::from_secs(60), |got| {
            got.iter()
                .filter(|g| !g.kind().ends_with(".finalized"))
                .count()
                >= expected
        })
        .await
    );
    for h in handles {
        h.abort();
    }
    let got = r.received();
    let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), n, "a message delivered twice without a failure");
    for p in &payments {
        let seqs: Vec<i64> = got
            .iter()
            .filter(|g| {
                g.json()["data"]["payment"] == p.as_str() && !g.kind().ends_with(".finalized")
            })
            .map(|g| g.json()["data"]["seq"].as_i64().unwrap())
            .collect();
        assert_eq!(seqs.len(), 3, "{p}");
        assert!(seqs.windows(2).all(|s| s[0] < s[1]), "{p}: {seqs:?}");
    }
    let workers: i64 = sqlx::query_scalar("SELECT count(DISTINCT worker) FROM webhooks.attempt")
        .fetch_one(&w.pool)
        .await
        .unwrap();
    assert!(workers >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_transaction_is_retracted_by_a_reverted_notification() {
    let mut w = world(400, config()).await;
    let m = w.merchant("Fork Shop").await;
    let r = Receiver::start().await.unwrap();
    w.endpoint(&m, &r, CreateWebhookEndpoint::default()).await;
    let worker = w.worker();
    let payment = w.s.invoice(&m, "FORK-1", 3 * USD).await.unwrap();
    let opened = *w.s.signatures.last().unwrap();
    w.caught_up().await;
    deliver_until(&worker, &r, |got| {
        got.iter().any(|g| g.kind() == "payment.opened")
    })
    .await;
    let confirmed = r
        .received()
        .into_iter()
        .find(|g| g.kind() == "payment.opened")
        .unwrap();
    // The fork that held the invoice is abandoned: it never finalizes.
    {
        let mut node = w.net.node.lock().await;
        node.drop_transaction(&opened).unwrap();
        for _ in 0..401 {
            node.advance_slot().unwrap();
        }
    }
    deliver_until(&worker, &r, |got| {
        got.iter().any(|g| g.kind() == "payment.opened.reverted")
    })
    .await;
    let reverted = r
        .received()
        .into_iter()
        .find(|g| g.kind() == "payment.opened.reverted")
        .unwrap();
    assert!(reverted.verified);
    let body = reverted.json();
    validate_payload(&document(), &body);
    assert_eq!(body["data"]["commitment"], "reverted");
    assert_eq!(body["data"]["retracts"], confirmed.id.as_str());
    assert_eq!(body["data"]["payment"], payment.to_string());
    // Nothing finalized for it, ever.
    assert!(!r
        .received()
        .iter()
        .any(|g| g.kind() == "payment.opened.finalized"));
}

/// A payment whose authorization never finalizes reads as `reverted` in the status lookup, with
/// the rolled-back signature, and `open` again as a payment: the lookup's rolled-back half
/// (in the slots its key in `chain.reverted_key` names) after its live half found nothing. Its
/// timeline lists the rolled-back authorization after the live invoice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_authorization_reads_as_reverted_in_the_status_lookup() {
    let mut w = world(400, config()).await;
    let m = w.merchant("Fork Cafe").await;
    let customer = Keypair::new();
    w.s.fund(&customer).await.unwrap();
    let payment = w.s.invoice(&m, "FORK-2", 3 * USD).await.unwrap();
    let usdc = w.s.proto.usdc;
    w.s.pay(&m, &payment, &customer, &usdc).await.unwrap();
    let paid = *w.s.signatures.last().unwrap();
    w.caught_up().await;

    let base = crate::api::serve_plain(kassa_api::AppState::new(
        kassa_api::connect(&w.db_url, 2).await.unwrap(),
        kassa_api::ApiConfig {
            rpc_url: w.net.rpc_url.clone(),
            ..kassa_api::ApiConfig::default()
        },
        None,
    ));
    let (_, key) = kassa_api::auth::create_account(
        &w.pool,
        "Status reader",
        kassa_sdk::api::types::Role::Operator,
        None,
    )
    .await
    .unwrap();
    let status = || async {
        reqwest::Client::new()
            .get(format!("{base}/v1/status?reference={payment}"))
            .bearer_auth(&key.secret)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    let st = status().await;
    assert_eq!(st["state"], "confirmed", "{st}");
    assert_eq!(st["signature"], paid.to_string());
    assert_eq!(st["payment_status"], "authorized");

    // The fork that held the payment is abandoned; the invoice before it finalizes.
    {
        let mut node = w.net.node.lock().await;
        node.drop_transaction(&paid).unwrap();
        for _ in 0..401 {
            node.advance_slot().unwrap();
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM chain.transaction
         WHERE signature = $1 AND commitment = 'reverted'",
    )
    .bind(paid.as_ref())
    .fetch_one(&w.pool)
    .await
    .unwrap()
        == 0
    {
        assert!(std::time::Instant::now() < deadline, "never rolled back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let st = status().await;
    assert_eq!(st["state"], "reverted", "{st}");
    assert_eq!(st["signature"], paid.to_string());
    assert_eq!(st["payment_status"], "open");
    // The timeline lists the rolled-back authorization after the live invoice (found through
    // `chain.reverted_key`, the live one through `chain.entity_seq`).
    let timeline = reqwest::Client::new()
        .get(format!("{base}/v1/payments/{payment}/timeline"))
        .bearer_auth(&key.secret)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let events: Vec<(&str, &str, &str)> = timeline
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap(),
                e["commitment"].as_str().unwrap(),
                e["signature"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(events.len(), 2, "{timeline}");
    assert_eq!(events[0].0, "InvoiceOpened");
    assert_ne!(events[0].1, "reverted");
    assert_eq!(
        events[1],
        ("PaymentAuthorized", "reverted", paid.to_string().as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_old_one_during_the_overlap_only() {
    let mut w = world(32, config()).await;
    let m = w.merchant("Rotate Shop").await;
    let r = Receiver::start().await.unwrap();
    let created = endpoints::create(
        &w.hooks,
        &m.address,
        &CreateWebhookEndpoint {
            url: r.url.clone(),
            event_types: Some(vec!["webhook.test".into()]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let e = created.endpoint.id.clone();
    let old = Secret::parse(&created.secret).unwrap();
    let rotated = endpoints::rotate(&w.hooks, Some(&m.address), &e, Some(3600))
        .await
        .unwrap();
    assert_eq!(rotated.version, 2);
    assert_eq!(rotated.endpoint.secrets.len(), 2);
    let new = Secret::parse(&rotated.secret).unwrap();
    let worker = w.worker();
    let check = |g: &Received, with: &Secret| {
        verify(
            std::slice::from_ref(with),
            &g.id,
            &g.timestamp,
            &g.signature,
            &g.body,
            g.timestamp.parse().unwrap(),
        )
        .is_ok()
    };
    endpoints::send_test(&w.hooks, Some(&m.address), &e)
        .await
        .unwrap();
    deliver_until(&worker, &r, |got| got.len() == 1).await;
    let during = r.received()[0].clone();
    validate_payload(&document(), &during.json());
    assert_eq!(during.signature.split(' ').count(), 2);
    assert!(check(&during, &old) && check(&during, &new));
    // After the overlap only the new secret signs.
    w.hooks.config.clock.advance(Duration::from_secs(3601));
    endpoints::send_test(&w.hooks, Some(&m.address), &e)
        .await
        .unwrap();
    deliver_until(&worker, &r, |got| got.len() == 2).await;
    let after = r.received()[1].clone();
    assert_eq!(after.signature.split(' ').count(), 1);
    assert!(check(&after, &new) && !check(&after, &old));
    // The secret is stored sealed: its bytes appear nowhere in the table.
    let sealed: Vec<Vec<u8>> = sqlx::query_scalar("SELECT sealed FROM webhooks.secret")
        .fetch_all(&w.pool)
        .await
        .unwrap();
    for s in sealed {
        for secret in [&old, &new] {
            assert!(!s.windows(32).any(|win| win == secret.as_bytes()));
        }
    }
    // Past the retention period, what was delivered leaves the database; a pending delivery
    // and its message stay.
    let count = |sql: &'static str| {
        let pool = w.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    r.down();
    let waiting = endpoints::send_test(&w.hooks, Some(&m.address), &e)
        .await
        .unwrap();
    worker.drain().await.unwrap();
    let before = count("SELECT count(*) FROM webhooks.message").await;
    assert!(before >= 3);
    w.hooks.config.clock.advance(w.hooks.config.retention);
    let pruned = endpoints::prune(&w.hooks).await.unwrap();
    assert_eq!(pruned as i64, before - 1);
    let left: Vec<String> = sqlx::query_scalar("SELECT message FROM webhooks.delivery")
        .fetch_all(&w.pool)
        .await
        .unwrap();
    assert_eq!(left, [waiting.message_id.clone()]);
    assert_eq!(count("SELECT count(*) FROM webhooks.message").await, 1);
    assert_eq!(count("SELECT count(*) FROM webhooks.attempt").await, 1);
    let _ = &mut w;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_on_private_addresses_are_refused_at_registration_and_at_connection() {
    let mut c = config();
    c.allow_private = false;
    let mut w = world(32, c).await;
    let m = w.merchant("Ssrf Shop").await;
    let r = Receiver::start().await.unwrap();
    for url in [
        format!("http://{}/hooks", r.addr),
        format!("https://{}/hooks", r.addr),
        format!("https://[::ffff:127.0.0.1]:{}/hooks", r.addr.port()),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://[::1]/hooks".to_string(),
    ] {
        let err = endpoints::create(
            &w.hooks,
            &m.address,
            &CreateWebhookEndpoint {
                url: url.clone(),
                ..Default::default()
            },
        )
        .await
        .expect_err(&url);
        assert!(
            matches!(err, kassa_webhooks::Error::Invalid(_)),
            "{url}: {err}"
        );
    }
    // A name is checked where it resolves, when it is used: localhost is loopback.
    let created = endpoints::create(
        &w.hooks,
        &m.address,
        &CreateWebhookEndpoint {
            url: format!("https://localhost:{}/hooks", r.addr.port()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let d = endpoints::send_test(&w.hooks, Some(&m.address), &created.endpoint.id)
        .await
        .unwrap();
    w.worker().drain().await.unwrap();
    let view =
        endpoints::delivery_view(&w.hooks, None, endpoints::parse_delivery_id(&d.id).unwrap())
            .await
            .unwrap();
    assert_eq!(view.state, "pending");
    let error = view.attempt_log[0].error.clone().unwrap();
    assert!(error.contains("loopback"), "{error}");
    assert!(r.received().is_empty());
    let _ = &mut w;
}

/// A backlog larger than one fan-out pass (a backfill) is fanned out pass after pass at once,
/// not one pass per poll interval: with an hour's poll, 2,500 outbox rows all arrive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_is_fanned_out_without_waiting_for_the_poll() {
    let mut c = config();
    c.poll = Duration::from_secs(3600);
    let mut w = world(32, c).await;
    let m = w.merchant("Backfill Shop").await;
    let r = Receiver::start().await.unwrap();
    w.endpoint(&m, &r, CreateWebhookEndpoint::default()).await;
    // The merchant's own events are in the outbox already; 2,500 more rows behind them.
    sqlx::query(
        "INSERT INTO webhooks.outbox (type, merchant, data)
         SELECT 'webhook_endpoint.disabled', $1,
                json_build_object('endpoint', 'we_0000000000000000', 'merchant', $2::text,
                                  'url', 'https://example.com/', 'message', 'row ' || i)
         FROM generate_series(1, 2500) AS i",
    )
    .bind(m.address.as_ref())
    .bind(m.address.to_string())
    .execute(&w.pool)
    .await
    .unwrap();
    let worker = tokio::spawn(w.worker().run(std::future::pending()));
    let all = r
        .wait_until(Duration::from_secs(60), |got| {
            got.iter()
                .filter(|g| g.kind() == "webhook_endpoint.disabled")
                .count()
                >= 2500
        })
        .await;
    worker.abort();
    assert!(all, "{} arrived", r.received().len());
    assert!(r.received().iter().all(|g| g.verified));
}
