//! x402 against Kassa's facilitator on the API's shared environment (a local node, the indexer
//! and the API over TLS): a merchant's server priced with the paywall layer, paid by the Rust
//! client within its policy and by the official JavaScript clients unchanged; payloads tampered
//! with in every way the specification names, each refused with its reason and nothing moved.

use crate::api::{env, http_client, ApiEnv, TestMerchant};
use axum::{http::StatusCode, routing::get, Router};
use kassa_api::x402::paywall::{gate, Facilitator, Paywall, Price};
use kassa_sdk::{
    payments::MintRef,
    x402::{
        client::{AssetLimit, Client, Policy, X402Error},
        exact, FacilitatorRequest, PaymentPayload, PaymentRequirements, ResourceInfo,
        SettleResponse, VerifyResponse, SOLANA_DEVNET,
    },
};
use serde_json::{json, Value};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    hash::Hash,
    instruction::Instruction,
    message::{v0, VersionedMessage},
    pubkey::Pubkey,
    signature::{Keypair, Signature, Signer},
    transaction::{Transaction, VersionedTransaction},
};
use std::sync::{
    atomic::{AtomicU64, Ordering},
    Arc,
};

/// A call's price: 0.01 USDC.
const PRICE: u64 = 10_000;

fn shop(e: &ApiEnv) -> &TestMerchant {
    // "Api Shop": a merchant of the tests' own, settling in USDC to its owner's wallet.
    &e.merchants[3]
}

fn usdc(e: &ApiEnv) -> MintRef {
    MintRef::new(e.usdc, anchor_spl::token::ID).unwrap()
}

/// A policy paying USDC on the local node's own id: at most `per_call` a call and
/// `per_recipient` to one recipient.
fn usdc_policy(e: &ApiEnv, per_call: u64, per_recipient: u64) -> Policy {
    Policy {
        assets: vec![AssetLimit {
            network: e.caip2.clone(),
            asset: e.usdc,
            per_call,
            per_recipient,
        }],
    }
}

fn rpc(e: &ApiEnv) -> RpcClient {
    RpcClient::new_with_commitment(e.rpc_url.clone(), CommitmentConfig::confirmed())
}

async fn balance(e: &ApiEnv, mint: &MintRef, owner: &Pubkey) -> u64 {
    rpc(e)
        .get_token_account_balance(&mint.ata(owner))
        .await
        .map(|b| b.amount.parse().unwrap())
        .unwrap_or(0)
}

/// A new agent wallet holding `amount` of USDC (and no SOL: the facilitator pays its fees).
async fn agent(e: &ApiEnv, amount: u64) -> Keypair {
    let agent = Keypair::new();
    let m = usdc(e);
    let ixs = vec![
        anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(
            &e.customer.pubkey(), &agent.pubkey(), &m.mint, &m.token_program),
        anchor_spl::token_2022::spl_token_2022::instruction::transfer_checked(
            &m.token_program,
            &m.ata(&e.customer.pubkey()),
            &m.mint,
            &m.ata(&agent.pubkey()),
            &e.customer.pubkey(),
            &[],
            amount,
            6,
        )
        .unwrap(),
    ];
    let rpc = rpc(e);
    let hash = rpc.get_latest_blockhash().await.unwrap();
    let tx =
        Transaction::new_signed_with_payer(&ixs, Some(&e.customer.pubkey()), &[&e.customer], hash);
    rpc.send_and_confirm_transaction(&tx).await.unwrap();
    agent
}

/// The shop's server: `/weather` priced at [`PRICE`], `/broken` priced too but failing,
/// `/slow` priced with a one-second timeout but taking three, and `/free`. Answers its base URL
/// and how many times `/weather` ran.
async fn serve_shop(e: &ApiEnv, network: Option<&str>) -> (String, Arc<AtomicU64>) {
    let m = shop(e);
    serve_for(e, &m.key, m.owner.as_ref().unwrap().pubkey(), network).await
}

async fn serve_for(
    e: &ApiEnv,
    key: &str,
    wallet: Pubkey,
    network: Option<&str>,
) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let paywall = Paywall::new(
        Facilitator::new(http_client(&e.ca), &format!("{}/x402", e.url), key),
        &base,
    );
    let mut price = Price::new(PRICE, e.usdc, wallet, "Today's weather");
    price.network = network.map(str::to_string);
    let mut quick = price.clone();
    quick.max_timeout_seconds = 1;
    let served = Arc::new(AtomicU64::new(0));
    let count = served.clone();
    let priced = |p: &Price| axum::middleware::from_fn_with_state(paywall.price(p.clone()), gate);
    let app = Router::new()
        .route(
            "/weather",
            get(move || {
                let n = count.fetch_add(1, Ordering::SeqCst) + 1;
                async move { axum::Json(json!({ "forecast": "sunny", "call": n })) }
            })
            .route_layer(priced(&price)),
        )
        .route(
            "/broken",
            get(|| async { (StatusCode::INTERNAL_SERVER_ERROR, "the model is down") })
                .route_layer(priced(&price)),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                "late"
            })
            .route_layer(priced(&quick)),
        )
        .route("/free", get(|| async { "free" }));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, served)
}

async fn settlements_of(e: &ApiEnv, payer: &Pubkey) -> Vec<(String, String)> {
    let pool = sqlx::PgPool::connect(&e.db_url).await.unwrap();
    sqlx::query_as(
        "SELECT x402_settlement_id, status FROM x402.settlement WHERE payer = $1 ORDER BY created_at",
    )
    .bind(payer.to_bytes().as_slice())
    .fetch_all(&pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rust_client_pays_priced_calls_within_its_policy_and_failed_calls_cost_nothing() {
    let e = env();
    let (base, served) = serve_shop(e, None).await;
    let shop_wallet = shop(e).owner.as_ref().unwrap().pubkey();
    let m = usdc(e);
    let wallet = agent(e, 1_000_000).await;
    let payer = wallet.pubkey();
    let client = Client::new(
        reqwest::Client::new(),
        &e.rpc_url,
        wallet,
        usdc_policy(e, 20_000, 3 * PRICE),
    );

    // An unpriced route is simply answered.
    let free = client.get(&format!("{base}/free")).await.unwrap();
    assert_eq!(free.status, 200);
    assert!(free.receipt.is_none());

    // A priced one: a 402, paid, answered with the settlement.
    let first = client.get(&format!("{base}/weather")).await.unwrap();
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let body: Value = serde_json::from_slice(&first.body).unwrap();
    assert_eq!(body["forecast"], "sunny");
    let receipt = first.receipt.expect("a receipt");
    assert_eq!(receipt.amount, PRICE);
    assert_eq!(receipt.pay_to, shop_wallet);
    assert_eq!(receipt.network, e.caip2);
    assert_eq!(
        receipt.settlement.payer.as_deref(),
        Some(payer.to_string().as_str())
    );
    let sig: Signature = receipt.settlement.transaction.parse().unwrap();
    assert_eq!(
        receipt.settlement.extra["settlementId"],
        json!(sig.to_string())
    );
    assert_eq!(balance(e, &m, &payer).await, 1_000_000 - PRICE);
    // The fee was the facilitator's: the agent holds no SOL and needed none.
    assert_eq!(rpc(e).get_balance(&payer).await.unwrap(), 0);

    // A handler that fails: its answer as it is, no receipt, nothing moved, nothing recorded.
    let broken = client.get(&format!("{base}/broken")).await.unwrap();
    assert_eq!(broken.status, 500);
    assert!(broken.receipt.is_none());
    assert_eq!(balance(e, &m, &payer).await, 1_000_000 - PRICE);
    assert_eq!(
        client.spent(&e.usdc, &shop_wallet),
        PRICE,
        "the failed call's amount is back in the budget"
    );

    // Two more calls fill the budget for this recipient; the next is refused before signing.
    for _ in 0..2 {
        let r = client.get(&format!("{base}/weather")).await.unwrap();
        assert_eq!(r.status, 200);
        assert!(r.receipt.is_some());
    }
    let served_before = served.load(Ordering::SeqCst);
    match client.get(&format!("{base}/weather")).await {
        Err(X402Error::Policy(why)) => assert!(why.contains("per recipient"), "{why}"),
        other => panic!("refused by policy, got {other:?}"),
    }
    assert_eq!(served.load(Ordering::SeqCst), served_before, "not served");
    assert_eq!(balance(e, &m, &payer).await, 1_000_000 - 3 * PRICE);
    assert_eq!(client.receipts().len(), 3);

    // Each settlement is recorded once, settled, and told to the merchant's webhooks.
    let rows = settlements_of(e, &payer).await;
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|(_, s)| s == "settled"));
    let pool = sqlx::PgPool::connect(&e.db_url).await.unwrap();
    let told: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhooks.outbox WHERE type = 'x402.settled' AND data->>'payer' = $1",
    )
    .bind(payer.to_string())
    .fetch_one(&pool)
    .await
    .unwrap();
    let delivered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM webhooks.message WHERE type = 'x402.settled' AND body::jsonb->'data'->>'payer' = $1",
    )
    .bind(payer.to_string())
    .fetch_one(&pool)
    .await
    .unwrap_or(0);
    assert_eq!(told + delivered, 3, "one notification per settlement");
    // And handed to the KYT monitor once each (nothing runs the monitor in this environment).
    let ids: Vec<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    let monitored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM compliance.inbox WHERE x402_settlement = ANY($1)")
            .bind(&ids)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(monitored, 3, "each settlement queued for monitoring");

    // The settlement lookup, for the shop's key only.
    let http = http_client(&e.ca);
    let url = format!("{}/v1/x402/settlements/{}", e.url, rows[0].0);
    let mine: Value = http
        .get(&url)
        .bearer_auth(&shop(e).key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["status"], "settled");
    assert_eq!(mine["amount"], PRICE.to_string());
    assert_eq!(mine["payer"], payer.to_string());
    let theirs = http
        .get(&url)
        .bearer_auth(&e.merchants[0].key)
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 404);
}

/// The requirements the shop's server would send, on the local node's own id.
async fn requirements(e: &ApiEnv) -> PaymentRequirements {
    let supported: Value = http_client(&e.ca)
        .get(format!("{}/x402/supported", e.url))
        .bearer_auth(&shop(e).key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(supported["kinds"][0]["network"], json!(e.caip2));
    assert_eq!(supported["kinds"][1]["network"], json!(SOLANA_DEVNET));
    assert_eq!(
        supported["kinds"][0]["extra"]["feePayer"],
        json!(e.x402_fee_payer.to_string())
    );
    PaymentRequirements {
        scheme: "exact".into(),
        network: e.caip2.clone(),
        amount: PRICE.to_string(),
        asset: e.usdc.to_string(),
        pay_to: shop(e).owner.as_ref().unwrap().pubkey().to_string(),
        max_timeout_seconds: 60,
        extra: serde_json::from_value(json!({ "feePayer": e.x402_fee_payer.to_string() })).unwrap(),
    }
}

/// The payment's instructions, changed by `edit`, compiled for `fee_payer` and signed by the
/// agent against `blockhash`.
fn tampered(
    agent: &Keypair,
    transfer: &exact::Transfer,
    fee_payer: &Pubkey,
    blockhash: Hash,
    edit: impl FnOnce(&mut Vec<Instruction>),
) -> VersionedTransaction {
    let mut ixs = exact::instructions(&agent.pubkey(), transfer).unwrap();
    edit(&mut ixs);
    let m =
        VersionedMessage::V0(v0::Message::try_compile(fee_payer, &ixs, &[], blockhash).unwrap());
    let n = usize::from(m.header().num_required_signatures);
    let mut signatures = vec![Signature::default(); n];
    for (i, k) in m.static_account_keys()[..n].iter().enumerate() {
        if *k == agent.pubkey() {
            signatures[i] = agent.sign_message(&m.serialize());
        }
    }
    VersionedTransaction {
        signatures,
        message: m,
    }
}

async fn facilitator<T: serde::de::DeserializeOwned>(
    e: &ApiEnv,
    route: &str,
    req: &PaymentRequirements,
    tx: &VersionedTransaction,
) -> T {
    let body = FacilitatorRequest {
        x402_version: 2,
        payment_payload: PaymentPayload {
            x402_version: 2,
            resource: Some(ResourceInfo {
                url: "http://shop.test/weather".into(),
                ..Default::default()
            }),
            accepted: req.clone(),
            payload: exact::payload(tx),
            extensions: Default::default(),
        },
        payment_requirements: req.clone(),
        response: None,
    };
    let r = http_client(&e.ca)
        .post(format!("{}/x402/{route}", e.url))
        .bearer_auth(&shop(e).key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "/x402/{route}");
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_payloads_are_refused_with_the_specifications_reasons_and_nothing_moves() {
    let e = env();
    let req = requirements(e).await;
    let m = usdc(e);
    let wallet = agent(e, 100_000).await;
    let shop_wallet = shop(e).owner.as_ref().unwrap().pubkey();
    let transfer = exact::Transfer {
        mint: m,
        decimals: 6,
        amount: PRICE,
        pay_to: shop_wallet,
        fee_payer: e.x402_fee_payer,
        memo: exact::nonce_memo(),
    };
    let fresh = || async { rpc(e).get_latest_blockhash().await.unwrap() };
    let other = Keypair::new().pubkey();
    let usdt = MintRef::new(e.usdt, anchor_spl::token::ID).unwrap();
    let system_transfer =
        solana_system_interface::instruction::transfer(&wallet.pubkey(), &other, 1);
    let fee_payer_as_account = e.x402_fee_payer;
    type Edit = Box<dyn FnOnce(&mut Vec<Instruction>)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "another recipient",
            Box::new(move |ixs| ixs[2].accounts[2].pubkey = m.ata(&other)),
            "invalid_exact_svm_payload_recipient_mismatch",
        ),
        (
            "another mint",
            Box::new(move |ixs| {
                ixs[2].accounts[0].pubkey = usdt.ata(&ixs[2].accounts[3].pubkey);
                ixs[2].accounts[1].pubkey = usdt.mint;
                ixs[2].accounts[2].pubkey = usdt.ata(&shop_wallet);
            }),
            "invalid_exact_svm_payload_mint_mismatch",
        ),
        (
            "another amount",
            Box::new(|ixs| ixs[2].data[1..9].copy_from_slice(&(PRICE - 1).to_le_bytes())),
            "invalid_exact_svm_payload_amount_mismatch",
        ),
        (
            "an extra instruction",
            Box::new(move |ixs| ixs.insert(3, system_transfer)),
            "invalid_exact_svm_payload_unknown_fourth_instruction",
        ),
        (
            "the fee payer named in an instruction",
            Box::new(move |ixs| {
                ixs[3]
                    .accounts
                    .push(solana_sdk::instruction::AccountMeta::new(
                        fee_payer_as_account,
                        false,
                    ))
            }),
            "invalid_exact_svm_payload_transaction_fee_payer_included_in_instruction_accounts",
        ),
    ];
    let before = balance(e, &m, &wallet.pubkey()).await;
    for (what, edit, want) in cases {
        let tx = tampered(&wallet, &transfer, &e.x402_fee_payer, fresh().await, edit);
        let v: VerifyResponse = facilitator(e, "verify", &req, &tx).await;
        assert!(!v.is_valid, "{what}");
        assert_eq!(
            v.invalid_reason.as_deref(),
            Some(want),
            "{what}: {:?}",
            v.invalid_message
        );
        let s: SettleResponse = facilitator(e, "settle", &req, &tx).await;
        assert!(!s.success, "{what}");
        assert_eq!(s.error_reason.as_deref(), Some(want), "{what}");
        assert_eq!(s.transaction, "", "{what}: nothing sent");
    }
    // A fee payer that is not the facilitator: the agent pays its own fee.
    let tx = tampered(&wallet, &transfer, &wallet.pubkey(), fresh().await, |_| {});
    let s: SettleResponse = facilitator(e, "settle", &req, &tx).await;
    assert_eq!(
        s.error_reason.as_deref(),
        Some("invalid_exact_svm_fee_payer_mismatch")
    );
    // An expired blockhash: one taken now, used once the node no longer accepts it (150
    // slots: 7.5 s at the tests' 50 ms slots).
    let old = fresh().await;
    while rpc(e)
        .is_blockhash_valid(&old, CommitmentConfig::processed())
        .await
        .unwrap()
    {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let tx = tampered(&wallet, &transfer, &e.x402_fee_payer, old, |_| {});
    let s: SettleResponse = facilitator(e, "settle", &req, &tx).await;
    assert_eq!(
        s.error_reason.as_deref(),
        Some("invalid_exact_svm_transaction_simulation_failed"),
        "{:?}",
        s.error_message
    );
    assert!(s.error_message.unwrap_or_default().contains("Blockhash"));
    assert_eq!(
        balance(e, &m, &wallet.pubkey()).await,
        before,
        "nothing moved"
    );
    assert_eq!(
        settlements_of(e, &wallet.pubkey()).await.len(),
        0,
        "nothing recorded"
    );

    // A genuine payment settles once; the same payload again is a replay.
    let tx = tampered(&wallet, &transfer, &e.x402_fee_payer, fresh().await, |_| {});
    let s: SettleResponse = facilitator(e, "settle", &req, &tx).await;
    assert!(s.success, "{s:?}");
    let mut again = tx.clone();
    // Whatever the replay puts in the fee payer's slot, it is the same message.
    again.signatures[0] = Keypair::new().sign_message(b"anything");
    for replay in [&tx, &again] {
        let v: VerifyResponse = facilitator(e, "verify", &req, replay).await;
        assert_eq!(v.invalid_reason.as_deref(), Some("duplicate_settlement"));
        let s: SettleResponse = facilitator(e, "settle", &req, replay).await;
        assert_eq!(s.error_reason.as_deref(), Some("duplicate_settlement"));
    }
    assert_eq!(
        balance(e, &m, &wallet.pubkey()).await,
        before - PRICE,
        "moved once"
    );
    // The facilitator paid the fee of that one transaction, and nothing else.
    let landed = rpc(e)
        .get_transaction_with_config(
            &s.transaction.parse().unwrap(),
            solana_rpc_client_api::config::RpcTransactionConfig {
                commitment: Some(CommitmentConfig::confirmed()),
                max_supported_transaction_version: Some(0),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let meta = landed.transaction.meta.unwrap();
    assert!(meta.err.is_none());
    assert_eq!(meta.pre_balances[0] - meta.post_balances[0], meta.fee);
    assert!(
        meta.fee <= 10_001,
        "two signatures at 5,000 lamports and 20,000 units at 1 micro-lamport: {}",
        meta.fee
    );

    // Requirements that do not pay the merchant's own wallet are not the merchant's.
    let mut elsewhere = req.clone();
    elsewhere.pay_to = other.to_string();
    let tx = tampered(&wallet, &transfer, &e.x402_fee_payer, fresh().await, |_| {});
    let v: VerifyResponse = facilitator(e, "verify", &elsewhere, &tx).await;
    assert_eq!(
        v.invalid_reason.as_deref(),
        Some("invalid_payment_requirements")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_javascript_clients_pay_a_kassa_protected_route_unchanged() {
    let e = env();
    // The official clients know devnet's id, not the local node's: the route presents the
    // local node as devnet, and the clients are given the local node's RPC URL.
    let (base, served) = serve_shop(e, Some(SOLANA_DEVNET)).await;
    let m = usdc(e);
    let wallet = agent(e, 100_000).await;
    let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../localnet/js");
    let out = tokio::process::Command::new("node")
        .arg(js.join("x402_agent.mjs"))
        .arg(format!("{base}/weather"))
        .arg(&e.rpc_url)
        .arg("2")
        .arg(e.usdc.to_string())
        .arg(PRICE.to_string())
        .env("X402_PAYER", format!("{:?}", wallet.to_bytes().to_vec()))
        .output()
        .await
        .expect("node runs (scripts/test installs localnet/js)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let calls: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(calls.len(), 2);
    for c in &calls {
        assert_eq!(c["status"], 200, "{c}");
        assert_eq!(c["settlement"]["success"], true, "{c}");
        assert_eq!(c["settlement"]["network"], SOLANA_DEVNET);
        assert_eq!(c["settlement"]["payer"], wallet.pubkey().to_string());
        let body: Value = serde_json::from_str(c["body"].as_str().unwrap()).unwrap();
        assert_eq!(body["forecast"], "sunny");
    }
    assert_eq!(served.load(Ordering::SeqCst), 2);
    assert_eq!(balance(e, &m, &wallet.pubkey()).await, 100_000 - 2 * PRICE);
    let rows = settlements_of(e, &wallet.pubkey()).await;
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|(_, s)| s == "settled"));
}

/// A merchant of the test's own that lets Kassa hold its operator key (so Kassa can run
/// `kassa-escrow` sessions for it): registered, KYB-approved, with an API key.
struct EscrowShop {
    address: Pubkey,
    key: String,
    owner: Keypair,
}

/// Waits (10 s at most) until `sql` reads `want` for `key` from the indexer's mirror.
async fn mirrored(pool: &sqlx::PgPool, sql: &'static str, key: &Pubkey, want: &str) {
    for _ in 0..200 {
        let got: Option<String> = sqlx::query_scalar(sql)
            .bind(key.to_bytes().as_slice())
            .fetch_optional(pool)
            .await
            .unwrap();
        if got.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{sql} never read {want} for {key}");
}

/// Another process of the API with the shared environment's facilitator and operator keys, on
/// the same database (as after a restart, or beside the first).
async fn facilitator_process(e: &ApiEnv) -> kassa_api::AppState {
    kassa_api::AppState::new(
        kassa_api::connect(&e.db_url, 2).await.unwrap(),
        kassa_api::ApiConfig {
            rpc_url: e.rpc_url.clone(),
            operator_keys: Some(Arc::new(
                kassa_api::operator_keys::OperatorKeys::load(&e.operator_dir).unwrap(),
            )),
            x402: Some(e.x402.clone()),
            ..kassa_api::ApiConfig::default()
        },
        None,
    )
}

async fn escrow_shop(e: &ApiEnv, name: &str) -> EscrowShop {
    escrow_shop_with(e, name, crate::api::policy(false)).await
}

async fn escrow_shop_with(
    e: &ApiEnv,
    name: &str,
    policy: kassa_payments::state::MerchantPolicy,
) -> EscrowShop {
    let rpc = rpc(e);
    let owner = Keypair::new();
    let sig = rpc
        .request_airdrop(&owner.pubkey(), 2_000_000_000)
        .await
        .unwrap();
    rpc.poll_for_signature(&sig).await.unwrap();
    let m = usdc(e);
    let p = kassa_sdk::payments::Payments::default();
    let (register, address) = p
        .merchant_register(&owner.pubkey(), &m.mint, &owner.pubkey(), policy)
        .unwrap();
    let ata = anchor_spl::associated_token::spl_associated_token_account::instruction::create_associated_token_account_idempotent(
        &owner.pubkey(), &owner.pubkey(), &m.mint, &m.token_program);
    let hash = rpc.get_latest_blockhash().await.unwrap();
    rpc.send_and_confirm_transaction(&Transaction::new_signed_with_payer(
        &[ata, register],
        Some(&owner.pubkey()),
        &[&owner],
        hash,
    ))
    .await
    .unwrap();
    let kyb = p
        .merchant_kyb_attest(&e.compliance.pubkey(), &address, [9; 32])
        .unwrap();
    let hash = rpc.get_latest_blockhash().await.unwrap();
    rpc.send_and_confirm_transaction(&Transaction::new_signed_with_payer(
        &[kyb],
        Some(&e.compliance.pubkey()),
        &[&e.compliance],
        hash,
    ))
    .await
    .unwrap();
    let pool = e.pool().await;
    mirrored(
        &pool,
        "SELECT kyb_status FROM chain.merchant WHERE address = $1",
        &address,
        "approved",
    )
    .await;
    let (_, key) = kassa_api::auth::create_account(
        &pool,
        name,
        kassa_sdk::api::types::Role::Merchant,
        Some(&address),
    )
    .await
    .unwrap();
    // Opts in: Kassa makes an operator key, the authority sets it (and funds its rent).
    let api = e.client(&key.secret);
    let prepared: kassa_sdk::api::types::PreparedTransaction = http_client(&e.ca)
        .post(format!("{}/v1/merchants/{address}/operator", e.url))
        .bearer_auth(&key.secret)
        .header("Idempotency-Key", crate::api::idem())
        .json(&json!({ "fund_lamports": 500_000_000u64 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    api.sign_and_submit(&prepared, &[&owner], &crate::api::idem())
        .await
        .expect("opted in");
    EscrowShop {
        address,
        key: key.secret,
        owner,
    }
}

/// The payment account behind a session, as the chain has it.
async fn on_chain(e: &ApiEnv, session: &Pubkey) -> kassa_payments::state::Payment {
    let account = rpc(e).get_account(session).await.unwrap();
    kassa_sdk::decode::decode_payment(&account.data).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_escrow_scheme_an_agent_pays_only_for_calls_that_worked() {
    let e = env();
    let shop = escrow_shop(e, "Escrow Shop").await;
    let (base, served) = serve_for(e, &shop.key, shop.owner.pubkey(), None).await;
    let m = usdc(e);
    let wallet = agent(e, 1_000_000).await;
    let payer = wallet.pubkey();
    let client = Client::new(
        http_client(&e.ca),
        &e.rpc_url,
        wallet,
        usdc_policy(e, 20_000, 6 * PRICE),
    );
    // The first call opens a session: the whole budget goes into the program's escrow.
    let first = client.get(&format!("{base}/weather")).await.unwrap();
    assert_eq!(
        first.status,
        200,
        "{}",
        String::from_utf8_lossy(&first.body)
    );
    let receipt = first.receipt.unwrap();
    assert_eq!(receipt.scheme, "kassa-escrow", "preferred when offered");
    assert_eq!(balance(e, &m, &payer).await, 1_000_000 - 6 * PRICE);
    // A failing handler and one that times out: answered, not charged.
    let broken = client.get(&format!("{base}/broken")).await.unwrap();
    assert_eq!(broken.status, 500);
    assert!(broken.receipt.is_none());
    let slow = client.get(&format!("{base}/slow")).await.unwrap();
    assert_eq!(slow.status, 504);
    assert!(slow.receipt.is_none());
    let mut receipts = vec![receipt];
    for _ in 0..4 {
        let r = client.get(&format!("{base}/weather")).await.unwrap();
        assert_eq!(r.status, 200);
        receipts.push(r.receipt.unwrap());
    }
    assert_eq!(served.load(Ordering::SeqCst), 5);
    // Each delivered call is captured once, as a partial capture of the session's payment.
    for r in &receipts {
        let mut status = client.call_status(r).await.unwrap();
        for _ in 0..100 {
            if status.status == "captured" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            status = client.call_status(r).await.unwrap();
        }
        assert_eq!(status.status, "captured", "{status:?}");
        assert!(status.capture_signature.is_some());
    }
    let closed = client.close_sessions().await.unwrap();
    assert_eq!(closed.len(), 1);
    let c = &closed[0];
    assert_eq!(c.status, "closed");
    assert_eq!(c.captured, (5 * PRICE).to_string());
    assert_eq!(c.reserved, "0");
    let session: Pubkey = c.session.parse().unwrap();
    let p = on_chain(e, &session).await;
    assert_eq!(
        p.captured,
        5 * PRICE,
        "five captures, one per delivered call"
    );
    assert_eq!(p.escrowed().unwrap(), 0, "the rest was voided back");
    // The agent paid for five calls: the sixth's worth came back at the close.
    assert_eq!(balance(e, &m, &payer).await, 1_000_000 - 5 * PRICE);
    assert_eq!(client.spent(&e.usdc, &shop.owner.pubkey()), 5 * PRICE);
    let _ = shop.address;
}

/// The `PAYMENT-REQUIRED` of a `402`.
fn required_of(r: &reqwest::Response) -> kassa_sdk::x402::PaymentRequired {
    kassa_sdk::x402::decode_header(
        r.headers()[kassa_sdk::x402::PAYMENT_REQUIRED]
            .to_str()
            .unwrap(),
    )
    .unwrap()
}

/// The requirements a `402` from `url` offers for `kassa-escrow`.
async fn escrow_requirements(url: &str) -> (PaymentRequirements, ResourceInfo) {
    let r = reqwest::get(url).await.unwrap();
    assert_eq!(r.status(), 402);
    let required = required_of(&r);
    assert_eq!(required.accepts[0].scheme, "kassa-escrow", "offered first");
    assert_eq!(required.accepts[1].scheme, "exact", "beside exact");
    (required.accepts[0].clone(), required.resource)
}

/// Opens a session of `budget` by hand, as the protocol goes: ask, check, sign, hand back.
async fn open_session(
    e: &ApiEnv,
    req: &PaymentRequirements,
    agent: &Keypair,
    budget: u64,
) -> Pubkey {
    use kassa_sdk::x402::escrow::{
        check_offer, AuthorizeSession, OpenSession, Session, SessionOffer,
    };
    let http = http_client(&e.ca);
    let facilitator = req.extra_str("facilitator").unwrap();
    let merchant: Pubkey = req.extra_str("merchant").unwrap().parse().unwrap();
    let offer: SessionOffer = http
        .post(format!("{facilitator}/escrow/sessions"))
        .json(&OpenSession {
            merchant: merchant.to_string(),
            payer: agent.pubkey().to_string(),
            budget: budget.to_string(),
            network: req.network.clone(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut tx: Transaction = bincode::deserialize(
        &base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            &offer.transaction,
        )
        .unwrap(),
    )
    .unwrap();
    let session = check_offer(
        &tx,
        &agent.pubkey(),
        &e.x402_fee_payer,
        &merchant,
        &usdc(e),
        budget,
    )
    .expect("the offer is what was asked for");
    // An offer for another budget is not what was asked for.
    assert!(check_offer(
        &tx,
        &agent.pubkey(),
        &e.x402_fee_payer,
        &merchant,
        &usdc(e),
        budget + 1
    )
    .is_err());
    assert_eq!(session.to_string(), offer.session);
    let hash = tx.message.recent_blockhash;
    tx.try_partial_sign(&[agent], hash).unwrap();
    let opened: Session = http
        .post(format!("{facilitator}/escrow/sessions/{session}/authorize"))
        .json(&AuthorizeSession {
            transaction: base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                bincode::serialize(&tx).unwrap(),
            ),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(opened.status, "open");
    assert_eq!(opened.budget, budget.to_string());
    session
}

/// A call's `PAYMENT-SIGNATURE`, signed by `signer`.
fn call_header(
    req: &PaymentRequirements,
    resource: &ResourceInfo,
    session: &Pubkey,
    call: &str,
    signer: &Keypair,
) -> String {
    use kassa_sdk::x402::escrow::{call_message, CallPayload};
    let signature = signer.sign_message(&call_message(
        &session.to_string(),
        call,
        &req.amount,
        &resource.url,
    ));
    kassa_sdk::x402::encode_header(&PaymentPayload {
        x402_version: 2,
        resource: Some(resource.clone()),
        accepted: req.clone(),
        payload: serde_json::to_value(CallPayload {
            session: session.to_string(),
            call: call.to_string(),
            amount: req.amount.clone(),
            resource: resource.url.clone(),
            signature: signature.to_string(),
        })
        .unwrap(),
        extensions: Default::default(),
    })
}

fn call_id() -> String {
    format!("xc_{:032x}", rand::random::<u128>())
}

async fn call_status(e: &ApiEnv, call: &str) -> kassa_sdk::x402::escrow::CallStatus {
    http_client(&e.ca)
        .get(format!("{}/x402/escrow/calls/{call}", e.url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn until_captured(e: &ApiEnv, call: &str) {
    for _ in 0..150 {
        if call_status(e, call).await.status == "captured" {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!(
        "call {call} was never captured: {:?}",
        call_status(e, call).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_whose_answer_was_lost_is_answered_again_and_charged_once() {
    let e = env();
    let shop = escrow_shop(e, "Replay Shop").await;
    let (base, served) = serve_for(e, &shop.key, shop.owner.pubkey(), None).await;
    let m = usdc(e);
    let agent_key = agent(e, 100_000).await;
    let (req, resource) = escrow_requirements(&format!("{base}/weather")).await;
    let session = open_session(e, &req, &agent_key, 3 * PRICE).await;
    assert_eq!(
        balance(e, &m, &agent_key.pubkey()).await,
        100_000 - 3 * PRICE
    );
    let http = reqwest::Client::new();
    let get = |url: String, header: String| {
        let http = http.clone();
        async move {
            http.get(url)
                .header("PAYMENT-SIGNATURE", header)
                .send()
                .await
                .unwrap()
        }
    };

    // A call, then the same call again (its answer was lost): the same answer, served once.
    let c1 = call_id();
    let h1 = call_header(&req, &resource, &session, &c1, &agent_key);
    let first = get(format!("{base}/weather"), h1.clone()).await;
    assert_eq!(first.status(), 200);
    let settled: SettleResponse =
        kassa_sdk::x402::decode_header(first.headers()["payment-response"].to_str().unwrap())
            .unwrap();
    assert_eq!(settled.extra["settlementId"], json!(c1));
    let body = first.text().await.unwrap();
    until_captured(e, &c1).await;
    let again = get(format!("{base}/weather"), h1.clone()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), body, "the kept answer");
    assert_eq!(served.load(Ordering::SeqCst), 1, "served once");
    assert_eq!(on_chain(e, &session).await.captured, PRICE, "charged once");

    // A call whose handler failed: the lookup says nothing was captured.
    let c2 = call_id();
    let broken = get(
        format!("{base}/broken"),
        call_header(
            &req,
            &ResourceInfo {
                url: format!("{base}/broken"),
                ..resource.clone()
            },
            &session,
            &c2,
            &agent_key,
        ),
    )
    .await;
    assert_eq!(broken.status(), 500);
    assert_eq!(call_status(e, &c2).await.status, "released");

    // A call signed by someone else is refused; so is a call past the budget.
    let thief = Keypair::new();
    let stolen = get(
        format!("{base}/weather"),
        call_header(&req, &resource, &session, &call_id(), &thief),
    )
    .await;
    assert_eq!(stolen.status(), 402);
    let why = required_of(&stolen);
    assert_eq!(
        why.error.as_deref(),
        Some("invalid_exact_svm_payload_signature_invalid")
    );
    for _ in 0..2 {
        let ok = get(
            format!("{base}/weather"),
            call_header(&req, &resource, &session, &call_id(), &agent_key),
        )
        .await;
        assert_eq!(ok.status(), 200);
    }
    let over = get(
        format!("{base}/weather"),
        call_header(&req, &resource, &session, &call_id(), &agent_key),
    )
    .await;
    assert_eq!(over.status(), 402);
    let why = required_of(&over);
    assert_eq!(why.error.as_deref(), Some("insufficient_funds"));
    assert_eq!(served.load(Ordering::SeqCst), 3);

    // Closing takes the agent's signature; then nothing is left in escrow.
    let http = http_client(&e.ca);
    let close = |signer: &Keypair| {
        let signature = signer
            .sign_message(&kassa_sdk::x402::escrow::close_message(
                &session.to_string(),
            ))
            .to_string();
        http.post(format!("{}/x402/escrow/sessions/{session}/close", e.url))
            .json(&json!({ "signature": signature }))
            .send()
    };
    assert_eq!(close(&thief).await.unwrap().status(), 403);
    let closed = close(&agent_key).await.unwrap();
    assert_eq!(closed.status(), 200);
    let closed: kassa_sdk::x402::escrow::Session = closed.json().await.unwrap();
    assert_eq!(closed.status, "closed");
    assert_eq!(closed.captured, (3 * PRICE).to_string());
    let p = on_chain(e, &session).await;
    assert_eq!(p.captured, 3 * PRICE);
    assert_eq!(p.escrowed().unwrap(), 0);
    assert_eq!(
        balance(e, &m, &agent_key.pubkey()).await,
        100_000 - 3 * PRICE
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_delivery_and_capture_is_captured_exactly_once_after_restart() {
    let e = env();
    let shop = escrow_shop(e, "Crash Shop").await;
    let (base, _) = serve_for(e, &shop.key, shop.owner.pubkey(), None).await;
    let agent_key = agent(e, 100_000).await;
    let (req, resource) = escrow_requirements(&format!("{base}/weather")).await;
    let session = open_session(e, &req, &agent_key, 2 * PRICE).await;
    let pool = e.pool().await;
    let http = http_client(&e.ca);
    // Two calls reserved through the facilitator, as the paywall does before serving.
    let mut calls = Vec::new();
    for _ in 0..2 {
        let c = call_id();
        let header = call_header(&req, &resource, &session, &c, &agent_key);
        let payload: PaymentPayload = kassa_sdk::x402::decode_header(&header).unwrap();
        let v: VerifyResponse = http
            .post(format!("{}/x402/verify", e.url))
            .bearer_auth(&shop.key)
            .json(&FacilitatorRequest {
                x402_version: 2,
                payment_payload: payload,
                payment_requirements: req.clone(),
                response: None,
            })
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(v.is_valid, "{v:?}");
        calls.push(c);
    }
    // Both were delivered, and the facilitator died before capturing: what `/x402/settle`
    // records first.
    sqlx::query(
        "UPDATE x402.escrow_call SET status = 'delivered', delivered_at = now()
         WHERE x402_call_id = ANY($1)",
    )
    .bind(&calls)
    .execute(&pool)
    .await
    .unwrap();
    // Two processes come up on the same database and recover at once.
    let (a, b) = (facilitator_process(e).await, facilitator_process(e).await);
    let (ra, rb) = tokio::join!(
        kassa_api::x402::escrow::recover(&a),
        kassa_api::x402::escrow::recover(&b)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert!(ra.captured + rb.captured >= 2, "{ra:?} {rb:?}");
    for c in &calls {
        assert_eq!(call_status(e, c).await.status, "captured");
    }
    // Again, after the fact: nothing more.
    kassa_api::x402::escrow::recover(&a).await.unwrap();
    let p = on_chain(e, &session).await;
    assert_eq!(
        p.captured,
        2 * PRICE,
        "each delivered call captured exactly once"
    );
    let captures: i64 = sqlx::query_scalar(
        "SELECT count(DISTINCT capture_signature) FROM x402.escrow_call WHERE session = $1",
    )
    .bind(session.to_bytes().as_slice())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(captures, 2);
    let row: (String, String, String) = sqlx::query_as(
        "SELECT captured::text, reserved::text, budget::text FROM x402.escrow_session WHERE payment = $1",
    )
    .bind(session.to_bytes().as_slice())
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        row,
        ((2 * PRICE).to_string(), "0".into(), (2 * PRICE).to_string())
    );
}

/// A closed session's payment account is closed by the recovery pass once nothing in it can be
/// refunded (here at once: the shop keeps no refund window), its rent back to the merchant's
/// operator key, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_session_gives_its_rent_back_to_the_operator_key_once_nothing_is_refundable() {
    use kassa_sdk::x402::escrow::{close_message, CloseSession, Session};
    let e = env();
    let shop = escrow_shop_with(
        e,
        "Rent Shop",
        kassa_payments::state::MerchantPolicy {
            refund_window: 0,
            ..crate::api::policy(false)
        },
    )
    .await;
    let (base, _) = serve_for(e, &shop.key, shop.owner.pubkey(), None).await;
    let agent_key = agent(e, 100_000).await;
    let (req, _) = escrow_requirements(&format!("{base}/weather")).await;
    let session = open_session(e, &req, &agent_key, 2 * PRICE).await;
    let rpc = rpc(e);
    let rent = rpc.get_account(&session).await.unwrap().lamports;
    let merchant: kassa_payments::state::Payment = on_chain(e, &session).await;
    let operator = {
        let data = rpc.get_account(&merchant.merchant).await.unwrap().data;
        let m: kassa_payments::state::Merchant =
            anchor_lang::AccountDeserialize::try_deserialize(&mut data.as_slice()).unwrap();
        m.rent_receiver(true)
    };
    assert_ne!(operator, shop.owner.pubkey(), "the operator key opened it");

    // Closed with nothing used: all of it voided back to the agent.
    let facilitator = req.extra_str("facilitator").unwrap();
    let closed: Session = http_client(&e.ca)
        .post(format!("{facilitator}/escrow/sessions/{session}/close"))
        .json(&CloseSession {
            signature: agent_key
                .sign_message(&close_message(&session.to_string()))
                .to_string(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(closed.status, "closed");
    let pool = e.pool().await;
    // The mirror shows it voided, then the recovery pass closes it.
    mirrored(
        &pool,
        "SELECT status FROM chain.payment WHERE address = $1",
        &session,
        "voided",
    )
    .await;
    let before = rpc.get_balance(&operator).await.unwrap();
    let state = facilitator_process(e).await;
    let r = kassa_api::x402::escrow::recover(&state).await.unwrap();
    assert_eq!(r.rent_reclaimed, 1, "{r:?}");
    assert!(
        rpc.get_account(&session).await.is_err(),
        "the account is closed"
    );
    assert_eq!(rpc.get_balance(&operator).await.unwrap(), before + rent);
    let sent: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT rent_signature FROM x402.escrow_session WHERE payment = $1")
            .bind(session.to_bytes().as_slice())
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(sent.is_some());
    // Once: the next passes send nothing for it.
    let again = kassa_api::x402::escrow::recover(&state).await.unwrap();
    assert_eq!(again.rent_reclaimed, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_kassa_settles_in_fiat_is_paid_through_escrow_only() {
    let e = env();
    let shop = escrow_shop(e, "Fiat Shop").await;
    let pool = e.pool().await;
    let n: u64 = rand::random::<u64>() % 10_000_000_000;
    let bank = format!("x402-{:010}", n % 1_000_000);
    sqlx::query(
        "INSERT INTO settlement.bank_account (id, currency, holder, iban, bic)
         VALUES ($1, 'EUR', 'Kassa BV', $2, 'TESTNL2A')",
    )
    .bind(&bank)
    .bind(format!("NL91TEST{n:010}"))
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO settlement.merchant (merchant, mode, payout_currency, bank_account, holder,
             iban, bic, created_at, updated_at)
         VALUES ($1, 'fiat', 'EUR', $2, 'Fiat Shop BV', $3, 'TESTNL2A', now(), now())",
    )
    .bind(shop.address.to_bytes().as_slice())
    .bind(&bank)
    .bind(format!("NL02SHOP{n:010}"))
    .execute(&pool)
    .await
    .unwrap();
    // Its server offers escrow alone: a plain transfer would bypass the books.
    let (base, _) = serve_for(e, &shop.key, shop.owner.pubkey(), None).await;
    let r = reqwest::get(format!("{base}/weather")).await.unwrap();
    let required = required_of(&r);
    let schemes: Vec<&str> = required.accepts.iter().map(|a| a.scheme.as_str()).collect();
    assert_eq!(schemes, vec!["kassa-escrow"]);
    // And the facilitator refuses an exact payment for it.
    let wallet = agent(e, 50_000).await;
    let mut req = requirements(e).await;
    req.pay_to = shop.owner.pubkey().to_string();
    let transfer = exact::Transfer {
        mint: usdc(e),
        decimals: 6,
        amount: PRICE,
        pay_to: shop.owner.pubkey(),
        fee_payer: e.x402_fee_payer,
        memo: exact::nonce_memo(),
    };
    let hash = rpc(e).get_latest_blockhash().await.unwrap();
    let tx = tampered(&wallet, &transfer, &e.x402_fee_payer, hash, |_| {});
    let body = FacilitatorRequest {
        x402_version: 2,
        payment_payload: PaymentPayload {
            x402_version: 2,
            resource: None,
            accepted: req.clone(),
            payload: exact::payload(&tx),
            extensions: Default::default(),
        },
        payment_requirements: req.clone(),
        response: None,
    };
    let v: VerifyResponse = http_client(&e.ca)
        .post(format!("{}/x402/verify", e.url))
        .bearer_auth(&shop.key)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v.invalid_reason.as_deref(),
        Some("invalid_payment_requirements")
    );
    assert!(v.invalid_message.unwrap().contains("fiat"));
    assert_eq!(balance(e, &usdc(e), &wallet.pubkey()).await, 50_000);
}
