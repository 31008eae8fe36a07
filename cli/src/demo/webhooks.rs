//! The demo's webhooks: the first merchant registers an endpoint of the demo's own (a receiver
//! on loopback that verifies every signature), the workers fan the day's events out and
//! deliver them, and the demo shows what arrived.

use super::{api::Onboarded, report::Checks};
use crate::serve::Api;
use anyhow::Result;
use kassa_sdk::{
    api::{types::CreateWebhookEndpoint, Client},
    webhook::Secret,
};
use kassa_testkit::receiver::Receiver;
use sqlx::PgPool;
use std::{collections::BTreeMap, time::Duration};

/// Registers the endpoint. Call before the workers start, so the day's events reach it as
/// they are fanned out.
pub async fn register(api: &Api, keys: &Onboarded) -> Result<Option<(Receiver, String)>> {
    let Some((_, _, key)) = keys.merchants.first() else {
        return Ok(None);
    };
    let ca = match &api.ca_cert {
        Some(p) => std::fs::read(p)?,
        None => Vec::new(),
    };
    let client = Client::with_ca(&api.url, key, &ca)?;
    let receiver = Receiver::start().await?;
    let created = client
        .create_webhook_endpoint(
            &CreateWebhookEndpoint {
                url: receiver.url.clone(),
                description: Some("kassa demo receiver".into()),
                ..Default::default()
            },
            "demo-webhook-endpoint",
        )
        .await?;
    receiver.set_secrets(vec![Secret::parse(&created.secret)?]);
    Ok(Some((receiver, created.endpoint.id)))
}

/// Waits for the day's deliveries and shows them.
pub async fn show(
    pool: &PgPool,
    keys: &Onboarded,
    registered: &(Receiver, String),
    checks: &mut Checks,
) -> Result<()> {
    let (receiver, endpoint) = registered;
    let name = keys.merchants.first().map(|m| m.0.as_str()).unwrap_or("?");
    // Everything stored so far is fanned out and delivered within seconds.
    let mut settled = false;
    for _ in 0..300 {
        let (outbox, pending): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM webhooks.outbox),
                    (SELECT count(*) FROM webhooks.delivery WHERE endpoint = $1 AND state = 'pending')",
        )
        .bind(endpoint)
        .fetch_one(pool)
        .await?;
        if outbox == 0 && pending == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered: Vec<(String, String)> = sqlx::query_as(
        "SELECT d.message, m.type FROM webhooks.delivery d JOIN webhooks.message m ON m.id = d.message
         WHERE d.endpoint = $1 AND d.state = 'delivered' ORDER BY d.id",
    )
    .bind(endpoint)
    .fetch_all(pool)
    .await?;
    let received = receiver.accepted();
    let all_arrived = delivered
        .iter()
        .all(|(id, _)| received.iter().any(|r| &r.id == id));
    let verified = received.iter().all(|r| r.verified);
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, t) in &delivered {
        *by_type.entry(t.as_str()).or_default() += 1;
    }
    println!(
        "\nWebhooks: {name}'s endpoint {endpoint} at {} received {} signed notifications:",
        receiver.url,
        received.len()
    );
    for (t, n) in &by_type {
        println!("  {t:<36} {n}");
    }
    checks.check(
        settled && !delivered.is_empty() && all_arrived,
        format!(
            "Webhooks: all {} notifications of {name}'s day were delivered, in order per payment",
            delivered.len()
        ),
    );
    checks.check(
        verified && !received.is_empty(),
        "Webhooks: every notification's Standard Webhooks signature verified at the receiver"
            .into(),
    );
    Ok(())
}
