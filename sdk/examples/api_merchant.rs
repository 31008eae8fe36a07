//! A merchant's morning through the Kassa HTTP API with the SDK's typed client: its profile,
//! its latest payments, one payment's timeline, and where that payment stands.
//!
//! ```sh
//! cargo run -p kassa -- demo                 # prints the API URL, the CA file and keys
//! KASSA_API_URL=https://localhost:8443 KASSA_API_KEY=kassa_sk_… \
//!   KASSA_API_CA=/tmp/kassa-demo-tls-<pid>/ca.pem \
//!   cargo run -p kassa-sdk --features api-client --example api_merchant
//! ```

use kassa_sdk::api::Client;

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        eprintln!("set {name} (kassa demo prints it)");
        std::process::exit(2)
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = var("KASSA_API_URL");
    let key = var("KASSA_API_KEY");
    let api = match std::env::var("KASSA_API_CA") {
        Ok(ca) => Client::with_ca(&url, &key, &std::fs::read(ca)?)?,
        Err(_) => Client::new(&url, &key)?,
    };
    let page = api.payments("limit=5").await?;
    let Some(latest) = page.data.first() else {
        println!("no payments yet");
        return Ok(());
    };
    let merchant = api.merchant(&latest.merchant).await?;
    println!(
        "{} (KYB {}), settling in {}",
        merchant.name.as_deref().unwrap_or(&merchant.address),
        merchant.kyb.status,
        merchant.settlement_mint
    );
    for p in &page.data {
        println!(
            "  {:<12} {:>14} (10^-{} units)  {}",
            p.order_id, p.amount, p.decimals, p.status
        );
    }
    for event in api.timeline(&latest.address).await? {
        println!("  {} {} {:?}", event.at, event.name, event.commitment);
    }
    let status = api.status_by_reference(&latest.address).await?;
    println!("  {} stands {:?}", latest.order_id, status.state);
    Ok(())
}
