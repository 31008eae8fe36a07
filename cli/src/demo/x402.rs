//! The demo's AI agent: a merchant prices a forecast endpoint with Kassa's x402 paywall, and an
//! agent with a spending policy (`kassa_sdk::x402::client`) buys 20 calls of it. One call asks
//! for a city the model cannot forecast: the handler fails and the agent is not charged. The
//! agent's budget for the merchant covers 18 calls, so the last call is refused by its policy
//! before anything is signed. Every paid call is a transfer the facilitator checked, screened,
//! co-signed as fee payer and recorded once.

use super::report::Checks;
use crate::serve::Api;
use anyhow::{anyhow, Context, Result};
use axum::{extract::Query, http::StatusCode, response::IntoResponse, routing::get, Router};
use kassa_api::x402::paywall::{gate, Facilitator, Paywall, Price};
use kassa_sdk::{
    payments::MintRef,
    x402::client::{AssetLimit, Client, Policy, X402Error},
};
use kassa_testkit::demo_day::Scenario;
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    pubkey::Pubkey,
    signature::{Keypair, Signer},
};
use sqlx::PgPool;
use std::collections::HashMap;

/// A forecast: 0.05 of the merchant's coin.
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

#[allow(clippy::too_many_arguments)]
pub async fn run(
    name: &str,
    pool: &PgPool,
    s: &mut Scenario,
    rpc_url: &str,
    api: &Api,
    merchant_key: &str,
    merchant: &Pubkey,
    checks: &mut Checks,
) -> Result<()> {
    println!("\nAn AI agent buys forecasts from {name} over x402 (HTTP 402), paying per call:");
    let row: (Vec<u8>, Vec<u8>) = sqlx::query_as(
        "SELECT settlement_wallet, settlement_mint FROM chain.merchant WHERE address = $1",
    )
    .bind(merchant.to_bytes().as_slice())
    .fetch_one(pool)
    .await?;
    let wallet = Pubkey::try_from(row.0.as_slice()).map_err(|_| anyhow!("a wallet"))?;
    let mint = Pubkey::try_from(row.1.as_slice()).map_err(|_| anyhow!("a mint"))?;
    let rpc = RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed());
    let token_program = rpc.get_account(&mint).await?.owner;
    let coin = MintRef::new(mint, token_program)?;
    let balance = |owner: Pubkey| {
        let rpc = &rpc;
        async move {
            rpc.get_token_account_balance(&coin.ata(&owner))
                .await
                .map(|b| b.amount.parse::<u64>().unwrap_or(0))
                .unwrap_or(0)
        }
    };

    // The merchant's server, priced with the paywall, settling through Kassa's facilitator.
    let mut http = reqwest::Client::builder();
    if let Some(ca) = &api.ca_cert {
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(ca)?)?);
    }
    let http = http.build()?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://127.0.0.1:{}", listener.local_addr()?.port());
    let paywall = Paywall::new(
        Facilitator::new(http, &format!("{}/x402", api.url), merchant_key),
        &base,
    );
    let app = Router::new().route(
        "/v1/forecast",
        get(forecast).route_layer(axum::middleware::from_fn_with_state(
            paywall.price(Price::new(PRICE, mint, wallet, "A weather forecast")),
            gate,
        )),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The agent: its own wallet, a budget for this merchant, a limit per call.
    let agent = Keypair::new();
    s.fund(&agent).await.context("the agent is funded")?;
    let network = api
        .state
        .config
        .x402
        .as_ref()
        .map(|x| x.networks[0].clone())
        .ok_or_else(|| anyhow!("the demo's API runs no x402 facilitator"))?;
    let client = Client::new(
        reqwest::Client::new(),
        rpc_url,
        agent.insecure_clone(),
        Policy {
            assets: vec![AssetLimit {
                network,
                asset: mint,
                per_call: 2 * PRICE,
                per_recipient: BUDGET_CALLS * PRICE,
            }],
        },
    );
    let agent_before = balance(agent.pubkey()).await;
    let shop_before = balance(wallet).await;
    let (mut paid, mut failed, mut refused) = (0u64, 0u64, 0u64);
    for call in 1..=CALLS {
        let city = if call == 7 { "Atlantis" } else { "Taipei" };
        match client.get(&format!("{base}/v1/forecast?city={city}")).await {
            Ok(a) if a.receipt.is_some() => paid += 1,
            Ok(a) => {
                failed += 1;
                println!(
                    "  call {call:>2}: {} {} (not charged)",
                    a.status,
                    String::from_utf8_lossy(&a.body)
                );
            }
            Err(X402Error::Policy(why)) => {
                refused += 1;
                println!("  call {call:>2}: refused by the agent's policy: {why}");
            }
            Err(e) => return Err(anyhow!("call {call}: {e}")),
        }
    }
    server.abort();
    let receipts = client.receipts();
    if let Some(r) = receipts.first() {
        println!(
            "  {paid} calls paid at {}.{:06} each (fees paid by Kassa's facilitator), e.g. transaction {}",
            PRICE / 1_000_000,
            PRICE % 1_000_000,
            r.settlement.transaction
        );
    }
    let agent_spent = agent_before.saturating_sub(balance(agent.pubkey()).await);
    let shop_got = balance(wallet).await.saturating_sub(shop_before);
    let settled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM x402.settlement WHERE payer = $1 AND status = 'settled'",
    )
    .bind(agent.pubkey().to_bytes().as_slice())
    .fetch_one(pool)
    .await?;
    checks.check(
        paid == BUDGET_CALLS && failed == 1 && refused == 1,
        format!(
            "x402: of {CALLS} calls, {BUDGET_CALLS} paid, the failed one not charged and the last refused by the agent's policy (got {paid} paid, {failed} failed, {refused} refused)"
        ),
    );
    checks.check(
        agent_spent == BUDGET_CALLS * PRICE && shop_got == agent_spent,
        format!(
            "x402: the agent paid exactly {} for {BUDGET_CALLS} calls and the merchant received it (paid {agent_spent}, received {shop_got})",
            BUDGET_CALLS * PRICE
        ),
    );
    checks.check(
        settled == BUDGET_CALLS as i64 && receipts.len() == BUDGET_CALLS as usize,
        format!(
            "x402: {settled} settlements recorded once each, {} receipts",
            receipts.len()
        ),
    );
    Ok(())
}
