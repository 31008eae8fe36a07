//! The demo's webhooks: each merchant registers an endpoint of the demo's own (a receiver on
//! loopback that verifies every signature), the workers fan the day's events out and deliver
//! them, and the demo shows what arrived.

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

/// One merchant's endpoint and the receiver behind it.
pub struct Registered {
    name: String,
    receiver: Receiver,
    endpoint: String,
}

/// Registers an endpoint per merchant through the API. Call before the workers start, so the
/// day's events reach them as they are fanned out.
pub async fn register(api: &Api, keys: &Onboarded) -> Result<Vec<Registered>> {
    let ca = match &api.ca_cert {
        Some(p) => std::fs::read(p)?,
        None => Vec::new(),
    };
    let mut out = Vec::new();
    for (name, _, key) in &keys.merchants {
        let client = Client::with_ca(&api.url, key, &ca)?;
        let receiver = Receiver::start().await?;
        let created = client
            .create_webhook_endpoint(
                &CreateWebhookEndpoint {
                    url: receiver.url.clone(),
                    description: Some("kassa demo receiver".into()),
                    ..Default::default()
                },
                &format!("demo-webhook-endpoint-{name}"),
            )
            .await?;
        receiver.set_secrets(vec![Secret::parse(&created.secret)?]);
        out.push(Registered {
            name: name.clone(),
            receiver,
            endpoint: created.endpoint.id,
        });
    }
    Ok(out)
}

/// Waits for the day's deliveries and shows them.
pub async fn show(pool: &PgPool, registered: &[Registered], checks: &mut Checks) -> Result<()> {
    // Everything stored so far is fanned out and delivered within seconds.
    let endpoints: Vec<&str> = registered.iter().map(|r| r.endpoint.as_str()).collect();
    let mut settled = false;
    for _ in 0..300 {
        let (outbox, pending): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM webhooks.outbox),
                    (SELECT count(*) FROM webhooks.delivery
                     WHERE endpoint = ANY($1) AND state = 'pending')",
        )
        .bind(&endpoints)
        .fetch_one(pool)
        .await?;
        if outbox == 0 && pending == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "\nWebhooks: one endpoint per merchant on loopback, each notification signed and verified \
         (confirmed + finalized follow-ups):"
    );
    for r in registered {
        let delivered: Vec<(String, String)> = sqlx::query_as(
            "SELECT d.message, m.type FROM webhooks.delivery d
             JOIN webhooks.message m ON m.id = d.message
             WHERE d.endpoint = $1 AND d.state = 'delivered' ORDER BY d.id",
        )
        .bind(&r.endpoint)
        .fetch_all(pool)
        .await?;
        let received = r.receiver.accepted();
        let all_arrived = delivered
            .iter()
            .all(|(id, _)| received.iter().any(|g| &g.id == id));
        // (confirmed, finalized) per base type.
        let mut by_type: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for (_, t) in &delivered {
            match t.strip_suffix(".finalized") {
                Some(base) => by_type.entry(base.to_string()).or_default().1 += 1,
                None => by_type.entry(t.clone()).or_default().0 += 1,
            }
        }
        let summary: Vec<String> = by_type
            .iter()
            .map(|(t, (c, f))| format!("{t} {c}+{f}"))
            .collect();
        // Wrapped to the width of a terminal.
        let mut lines = vec![String::new()];
        for item in summary {
            let line = lines
                .last_mut()
                .unwrap_or_else(|| unreachable!("one line at least"));
            if !line.is_empty() && line.len() + item.len() > 72 {
                lines.push(item);
            } else {
                if !line.is_empty() {
                    line.push_str(", ");
                }
                line.push_str(&item);
            }
        }
        println!("  {:<13} {:>3}  {}", r.name, received.len(), lines[0]);
        for l in &lines[1..] {
            println!("  {:<13} {:>3}  {l}", "", "");
        }
        checks.check(
            settled && !delivered.is_empty() && all_arrived,
            format!(
                "Webhooks: all {} notifications of {}'s day were delivered",
                delivered.len(),
                r.name
            ),
        );
        checks.check(
            !received.is_empty() && received.iter().all(|g| g.verified),
            format!(
                "Webhooks: every Standard Webhooks signature to {} verified",
                r.name
            ),
        );
        if by_type.keys().any(|t| t.starts_with("credit.")) {
            checks.check(
                by_type.contains_key("credit.advance_taken")
                    && by_type.contains_key("credit.advance_repaid"),
                format!(
                    "Webhooks: {} was told of its advance and its repayment",
                    r.name
                ),
            );
        }
    }
    Ok(())
}
