//! The demo's web pages: a bookshop opens an invoice through the API; its hosted checkout page
//! is fetched as a customer's browser would (status, QR code, weight with its assets); the
//! customer asks for a quote in USDT, pays through the quoted transaction request within the
//! lock, and the page turns paid; the merchant signs in to the dashboard and finds the payment;
//! a form without its CSRF token is refused. One invoice is left open, and the page addresses
//! printed, for a newcomer to open in a browser.

use super::report::Checks;
use crate::serve::Api;
use anyhow::{anyhow, Context, Result};
use base64::{engine::general_purpose::STANDARD, Engine};
use kassa_sdk::api::{
    types::{CreateInvoice, PayTransaction, Role},
    Client,
};
use kassa_testkit::demo_day::{caught_up, shop_policy, Scenario, USD};
use solana_commitment_config::CommitmentConfig;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{
    signature::{Keypair, Signer},
    transaction::Transaction,
};
use sqlx::PgPool;
use std::time::{Duration, Instant};

fn idem() -> String {
    format!("demo-{:032x}", rand::random::<u128>())
}

async fn status_of(pool: &PgPool, payment: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT status FROM chain.payment WHERE address = $1")
            .bind(bs58::decode(payment).into_vec()?)
            .fetch_optional(pool)
            .await?,
    )
}

async fn until(pool: &PgPool, payment: &str, status: &str) -> Result<()> {
    for _ in 0..300 {
        if status_of(pool, payment).await?.as_deref() == Some(status) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(anyhow!("payment {payment} never became {status}"))
}

/// The value of `data-phase` on a checkout page.
fn phase(html: &str) -> &str {
    html.split("data-phase=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
}

pub async fn run(
    pool: &PgPool,
    s: &mut Scenario,
    rpc_url: &str,
    api: &Api,
    checks: &mut Checks,
) -> Result<()> {
    println!(
        "\nHosted checkout and the dashboard: a bookshop's invoice, paid in USDT at a locked quote"
    );
    let rpc = RpcClient::new_with_commitment(rpc_url.to_string(), CommitmentConfig::confirmed());
    // The codes the pages show for the day's stablecoins.
    for (m, code) in [
        (s.proto.usdc.mint, "USDC"),
        (s.proto.usdt.mint, "USDT"),
        (s.proto.pyusd.mint, "PYUSD"),
    ] {
        kassa_settlement::setup::set_currency(pool, &m, code, 6)
            .await
            .map_err(|e| anyhow!("{e}"))?;
    }
    let shop = s.merchant("Harbour Books", shop_policy()).await?;
    caught_up(pool, &s.signatures).await?;
    let (_, key) =
        kassa_api::auth::create_account(pool, "Harbour Books", Role::Merchant, Some(&shop.address))
            .await
            .map_err(|e| anyhow!("{e}"))?;
    let ca = match &api.ca_cert {
        Some(p) => std::fs::read(p)?,
        None => Vec::new(),
    };
    let client = Client::with_ca(&api.url, &key.secret, &ca)?;
    let mut http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    if !ca.is_empty() {
        http = http.add_root_certificate(reqwest::Certificate::from_pem(&ca)?);
    }
    let http = http.build()?;

    let open = |order: &'static str, amount: u64| {
        let client = client.clone();
        let owner = shop.owner.insecure_clone();
        async move {
            let unsigned = client
                .create_invoice(
                    &CreateInvoice {
                        order_id: order.into(),
                        amount: amount.to_string(),
                        expires_in_secs: Some(86_400),
                        signer: None,
                    },
                    &idem(),
                )
                .await?;
            client
                .sign_and_submit(&unsigned, &[&owner], &idem())
                .await?;
            anyhow::Ok(unsigned.payment)
        }
    };
    let payment = open("HB-5001", 2_450 * USD / 100).await?;
    until(pool, &payment, "open").await?;

    // The page as a browser first gets it, and everything it loads.
    let url = format!("{}/checkout/{payment}", api.url);
    let started = Instant::now();
    let page = http
        .get(&url)
        .header("accept-language", "zh-TW,zh;q=0.9")
        .send()
        .await?;
    let ttfb = started.elapsed();
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let html = page.text().await?;
    let mut weight = html.len();
    for asset in ["/assets/kassa.css", "/assets/checkout.js"] {
        weight += http
            .get(format!("{}{asset}", api.url))
            .send()
            .await?
            .bytes()
            .await?
            .len();
    }
    checks.check(
        phase(&html) == "waiting"
            && html.contains("lang=\"zh-Hant\"")
            && html.contains("<svg")
            && html.contains(&format!("solana:{}", api.url)),
        "checkout: the page shows the open invoice in Traditional Chinese (Accept-Language zh-TW) with its QR code and Solana Pay link".into(),
    );
    checks.check(
        weight < 100 * 1024 && csp.contains("default-src 'none'"),
        format!(
            "checkout: {:.1} KB with its stylesheet and script (under 100 KB), nothing from elsewhere (CSP)",
            weight as f64 / 1024.0
        ),
    );
    println!(
        "  HB-5001, 24.50 USDC: checkout page {:.1} KB with its assets, first byte in {} ms",
        weight as f64 / 1024.0,
        ttfb.as_millis()
    );

    // A quote in USDT, locked; the customer pays through it within the lock.
    let answer = http
        .post(format!("{url}/quote"))
        .form(&[("mint", s.proto.usdt.mint.to_string())])
        .send()
        .await?;
    let location = answer
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .context("the quote answers with the page to see it on")?
        .to_string();
    let quote = location
        .split("quote=")
        .nth(1)
        .context("a quote id")?
        .to_string();
    let quoted = http
        .get(format!("{}{location}", api.url))
        .send()
        .await?
        .text()
        .await?;
    let amount = quoted
        .split("id=\"quote-amount\">")
        .nth(1)
        .and_then(|r| r.split('<').next())
        .unwrap_or("?")
        .to_string();
    println!("  The customer asks to pay in USDT: {amount} USDT, locked (quote {quote})");
    let customer = Keypair::new();
    s.fund(&customer).await?;
    let pay = http
        .post(format!("{}/v1/pay/{payment}?quote={quote}", api.url))
        .json(&serde_json::json!({"account": customer.pubkey().to_string()}))
        .send()
        .await?;
    let pay: PayTransaction = pay.error_for_status()?.json().await?;
    let mut tx: Transaction = bincode::deserialize(&STANDARD.decode(&pay.transaction)?)?;
    let hash = tx.message.recent_blockhash;
    tx.try_partial_sign(&[&customer], hash)?;
    rpc.send_and_confirm_transaction(&tx).await?;
    let confirmed = Instant::now();
    until(pool, &payment, "authorized").await?;
    let page = http.get(&url).send().await?.text().await?;
    let (input, spent): (Option<Vec<u8>>, Option<rust_decimal::Decimal>) =
        sqlx::query_as("SELECT input_mint, input_amount FROM chain.payment WHERE address = $1")
            .bind(bs58::decode(&payment).into_vec()?)
            .fetch_one(pool)
            .await?;
    let quoted_units: rust_decimal::Decimal = amount.replace(',', "").parse().unwrap_or_default();
    checks.check(
        input == Some(s.proto.usdt.mint.to_bytes().to_vec())
            && spent.is_some_and(|x| x <= quoted_units * rust_decimal::Decimal::from(USD))
            && matches!(phase(&page), "paid" | "finalized"),
        format!(
            "checkout: paid in USDT within the lock, at most the quoted {amount}; the page says paid ({} ms after confirmation)",
            confirmed.elapsed().as_millis()
        ),
    );
    println!(
        "  Paid; the wallet showed {:?}; the page turned to paid",
        pay.message.unwrap_or_default()
    );

    // The merchant signs in to the dashboard and finds it.
    let login = http
        .get(format!("{}/dashboard/login", api.url))
        .send()
        .await?;
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .context("the sign-in form's cookie")?
        .to_string();
    let form = login.text().await?;
    let token = form
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .context("the sign-in form's token")?
        .to_string();
    let signed_in = http
        .post(format!("{}/dashboard/login", api.url))
        .header("cookie", &cookie)
        .form(&[("api_key", key.secret.as_str()), ("csrf", token.as_str())])
        .send()
        .await?;
    let session = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|c| c.split(';').next())
        .context("a session")?
        .to_string();
    let list = http
        .get(format!("{}/dashboard/payments?order=HB-5001", api.url))
        .header("cookie", &session)
        .send()
        .await?
        .text()
        .await?;
    let forged = http
        .post(format!("{}/dashboard/settings", api.url))
        .header("cookie", &session)
        .form(&[("return_url", "https://evil.example/"), ("cancel_url", "")])
        .send()
        .await?
        .status();
    checks.check(
        list.contains("HB-5001") && list.contains("st-authorized") && forged == 403,
        "dashboard: Harbour Books signs in with its key and finds HB-5001 authorized; a form without its CSRF token gets 403".into(),
    );

    // One left open to look at.
    let waiting = open("HB-5002", 1_899 * USD / 100).await?;
    until(pool, &waiting, "open").await?;
    println!("  In a browser (trust the demo's CA, or accept the warning for localhost):");
    println!("    checkout, waiting:  {}/checkout/{waiting}", api.url);
    println!("    checkout, paid:     {url}");
    println!(
        "    dashboard:          {}/dashboard/login  (Harbour Books' key {})",
        api.url, key.secret
    );
    println!(
        "    operator pages:     {}/operator  (sign in with the operator key below)",
        api.url
    );
    Ok(())
}
