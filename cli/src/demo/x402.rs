//! The demo's AI agents. A weather API, "Atlas Weather", signs up with Kassa, lets Kassa hold
//! an operator key (so Kassa can run escrow sessions for it), and prices its forecast endpoint
//! with Kassa's x402 paywall.
//!
//! - An agent with a spending policy (`kassa_sdk::x402::client`) buys 20 forecasts. It pays in
//!   `kassa-escrow`: its budget for the merchant (18 forecasts) goes into one Kassa payment,
//!   each delivered forecast is a partial capture. One call asks for a city the model cannot
//!   forecast: the handler fails and nothing is captured for it. The 20th call finds the
//!   budget spent and is refused by the agent's own policy before anything is signed. The
//!   session is closed; the chain shows exactly 18 captures.
//! - A second agent buys a quote priced in plain `exact` (a transfer the facilitator checks,
//!   screens, co-signs as fee payer and records once).

use super::report::Checks;
use crate::serve::Api;
use anyhow::{anyhow, Context, Result};
use axum::{extract::Query, http::StatusCode, response::IntoResponse, routing::get, Router};
use kassa_api::x402::paywall::{gate, Facilitator, Paywall, Price};
use kassa_sdk::{
    api::types::{CreateOperatorKey, Role},
    payments::MintRef,
    x402::client::{AssetLimit, Client, Policy, X402Error},
};
use kassa_testkit::demo_day::{shop_policy, Scenario};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Signer};
use sqlx::PgPool;
use std::{collections::HashMap, time::Duration};

/// A forecast: 0.05 USDC.
const PRICE: u64 = 50_000;
/// Calls the agent makes.
const CALLS: usize = 20;
/// Calls its budget for the merchant covers.
const BUDGET_CALLS: u64 = 18;

async fn forecast(Query(q): Query<HashMap<String, String>>) -> axum::response::Response {
    let city = q.get("city").map(String::as_str).unwrap_or("Taipei");
    if city == "Atlantis" {
        return (
            StatusCode::BAD_GATEWAY,
            "the model has no data for Atlantis",
        )
            .into_response();
    }
    axum::Json(serde_json::json!({ "city": city, "forecast": "sunny, 24°C" })).into_response()
}

fn idem() -> String {
    format!("demo-{:032x}", rand::random::<u128>())
}

fn usd(amount: u64) -> String {
    format!("{}.{:06}", amount / 1_000_000, amount % 1_000_000)
}

pub async fn run(
    pool: &PgPool,
    s: &mut Scenario,
    rpc_url: &str,
    api: &Api,
    checks: &mut Checks,
) -> Result<()> {
    println!("\nAI agents buy forecasts over x402 (HTTP 402 Payment Required):");
    let rpc = RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed());
    let ca = match &api.ca_cert {
        Some(path) => Some(std::fs::read(path)?),
        None => None,
    };
    let mut http = reqwest::Client::builder();
    if let Some(ca) = &ca {
        http = http.add_root_certificate(reqwest::Certificate::from_pem(ca)?);
    }
    let http = http.build()?;

    // The merchant signs up, gets its key and lets Kassa hold an operator key.
    let shop = s
        .merchant("Atlas Weather", shop_policy())
        .await
        .context("Atlas Weather registers")?;
    for _ in 0..300 {
        let approved: Option<String> =
            sqlx::query_scalar("SELECT kyb_status FROM chain.merchant WHERE address = $1")
                .bind(shop.address.to_bytes().as_slice())
                .fetch_optional(pool)
                .await?;
        if approved.as_deref() == Some("approved") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, key) =
        kassa_api::auth::create_account(pool, "Atlas Weather", Role::Merchant, Some(&shop.address))
            .await?;
    let merchant_api = match &ca {
        Some(ca) => kassa_sdk::api::Client::with_ca(&api.url, &key.secret, ca)?,
        None => kassa_sdk::api::Client::new(&api.url, &key.secret)?,
    };
    let prepared = merchant_api
        .create_operator_key(
            &shop.address.to_string(),
            &CreateOperatorKey {
                fund_lamports: None,
            },
            &idem(),
        )
        .await
        .map_err(|e| anyhow!("opting in to a held operator key: {e}"))?;
    merchant_api
        .sign_and_submit(&prepared, &[&shop.owner], &idem())
        .await
        .map_err(|e| anyhow!("opting in to a held operator key: {e}"))?;
    let wallet = shop.owner.pubkey();
    let mint = s.proto.usdc.mint;
    let coin: MintRef = s.proto.usdc;

    // Its server: the forecast priced with the paywall (escrow preferred), a quote in exact.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let paywall = Paywall::new(
        Facilitator::new(http.clone(), &format!("{}/x402", api.url), &key.secret),
        &base,
    );
    let mut exact_only = Price::new(PRICE, mint, wallet, "A quote for a forecast");
    exact_only.escrow = false;
    let app = Router::new()
        .route(
            "/v1/forecast",
            get(forecast).route_layer(axum::middleware::from_fn_with_state(
                paywall.price(Price::new(PRICE, mint, wallet, "A weather forecast")),
                gate,
            )),
        )
        .route(
            "/v1/quote",
            get(|| async { axum::Json(serde_json::json!({ "quote": "0.05 per forecast" })) })
                .route_layer(axum::middleware::from_fn_with_state(
                    paywall.price(exact_only),
                    gate,
                )),
        );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let network = api
        .state
        .config
        .x402
        .as_ref()
        .map(|x| x.networks[0].clone())
        .ok_or_else(|| anyhow!("the demo's API runs no x402 facilitator"))?;
    let policy = Policy {
        assets: vec![AssetLimit {
            network,
            asset: mint,
            per_call: 2 * PRICE,
            per_recipient: BUDGET_CALLS * PRICE,
        }],
    };
    let balance = |owner: Pubkey| {
        let rpc = &rpc;
        async move {
            rpc.get_token_account_balance(&coin.ata(&owner))
                .await
                .map(|b| b.amount.parse::<u64>().unwrap_or(0))
                .unwrap_or(0)
        }
    };

    // The escrow agent: 20 calls.
    let agent = solana_sdk::signature::Keypair::new();
    s.fund(&agent).await.context("the agent is funded")?;
    let client = Client::new(
        http.clone(),
        rpc_url,
        agent.insecure_clone(),
        policy.clone(),
    );
    let before = balance(agent.pubkey()).await;
    let (mut paid, mut failed, mut refused) = (0u64, 0u64, 0u64);
    for call in 1..=CALLS {
        let city = if call == 7 { "Atlantis" } else { "Taipei" };
        match client.get(&format!("{base}/v1/forecast?city={city}")).await {
            Ok(a) if a.receipt.is_some() => paid += 1,
            Ok(a) => {
                failed += 1;
                println!(
                    "  call {call:>2}: {} {} (nothing captured)",
                    a.status,
                    String::from_utf8_lossy(&a.body)
                );
            }
            Err(X402Error::Policy(why)) => {
                refused += 1;
                println!("  call {call:>2}: refused by the agent's own policy: {why}");
            }
            Err(e) => return Err(anyhow!("call {call}: {e}")),
        }
    }
    let receipts = client.receipts();
    // Captures follow delivery; the session closes once they have landed.
    if let Some(last) = receipts.last() {
        for _ in 0..300 {
            if client.call_status(last).await?.status == "captured" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    let closed = client.close_sessions().await?;
    let session: Option<Pubkey> = closed.first().and_then(|c| c.session.parse().ok());
    let captured_on_chain = match session {
        Some(p) => {
            let account = rpc.get_account(&p).await?;
            kassa_sdk::decode::decode_payment(&account.data)?.captured
        }
        None => 0,
    };
    let spent = before.saturating_sub(balance(agent.pubkey()).await);
    println!(
        "  {paid} forecasts paid at {} USDC from one escrowed session {}: {} USDC captured on chain, call by call",
        usd(PRICE),
        session.map(|p| p.to_string()).unwrap_or_default(),
        usd(captured_on_chain)
    );
    checks.check(
        paid == BUDGET_CALLS && failed == 1 && refused == 1,
        format!(
            "x402 escrow: of {CALLS} calls, {BUDGET_CALLS} paid, the failed one not charged and the last refused by the agent's policy (got {paid} paid, {failed} failed, {refused} refused)"
        ),
    );
    checks.check(
        captured_on_chain == BUDGET_CALLS * PRICE && spent == BUDGET_CALLS * PRICE,
        format!(
            "x402 escrow: the chain captured exactly {} for {BUDGET_CALLS} delivered calls and the agent paid that and no more (captured {captured_on_chain}, paid {spent})",
            BUDGET_CALLS * PRICE
        ),
    );

    // The exact agent: one quote, a plain transfer, fee paid by Kassa's facilitator.
    let buyer = solana_sdk::signature::Keypair::new();
    s.fund(&buyer).await.context("the second agent is funded")?;
    let exact = Client::new(http, rpc_url, buyer.insecure_clone(), policy);
    let quote = exact.get(&format!("{base}/v1/quote")).await?;
    server.abort();
    let settled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM x402.settlement WHERE payer = $1 AND status = 'settled'",
    )
    .bind(buyer.pubkey().to_bytes().as_slice())
    .fetch_one(pool)
    .await?;
    if let Some(r) = &quote.receipt {
        println!(
            "  a quote paid in exact: {} USDC, transaction {}",
            usd(r.amount),
            r.settlement.transaction
        );
    }
    checks.check(
        quote.status == 200
            && quote.receipt.as_ref().is_some_and(|r| r.scheme == "exact")
            && settled == 1,
        format!(
            "x402 exact: a quote paid by a transfer the facilitator co-signed and recorded once (status {}, {settled} settled)",
            quote.status
        ),
    );
    // The transfer joins the agent's KYT history, where the monitoring rules read it.
    let rpc = RpcClient::new(rpc_url.to_string());
    let mut monitored = 0i64;
    for _ in 0..50 {
        kassa_compliance::monitor::pass(
            pool,
            Some(&rpc),
            &kassa_compliance::monitor::MonitorConfig::default(),
        )
        .await
        .map_err(|e| anyhow!("the KYT monitor: {e}"))?;
        monitored = sqlx::query_scalar(
            "SELECT count(*) FROM compliance.payment_seen
             WHERE payer = $1 AND x402_settlement IS NOT NULL",
        )
        .bind(buyer.pubkey().to_bytes().as_slice())
        .fetch_one(pool)
        .await?;
        if monitored > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    checks.check(
        monitored == 1,
        format!("x402 exact: the transfer is in the agent's KYT history ({monitored} payment)"),
    );
    Ok(())
}
