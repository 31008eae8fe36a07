//! The demo's API: onboard an operator and each merchant (as `kassa account create` does), show
//! how to call it, and check over real HTTPS that each merchant key sees its own payments and
//! nothing of the others'.

use super::report::Checks;
use crate::serve::Api;
use anyhow::Result;
use kassa_sdk::api::{types::Role, Client};
use kassa_testkit::demo_day::Scenario;
use solana_sdk::pubkey::Pubkey;
use sqlx::PgPool;

/// What the demo prints for a newcomer to use.
pub struct Onboarded {
    pub operator_key: String,
    /// (merchant name, merchant PDA, key).
    pub merchants: Vec<(String, Pubkey, String)>,
}

pub async fn onboard(pool: &PgPool, s: &Scenario) -> Result<Onboarded> {
    let (_, operator) =
        kassa_api::auth::create_account(pool, "Demo operator", Role::Operator, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as("SELECT address FROM chain.merchant")
        .fetch_all(pool)
        .await?;
    let mut merchants = Vec::new();
    for (address,) in rows {
        let m = Pubkey::try_from(address.as_slice())?;
        let name = s.names.get(&m).cloned().unwrap_or_else(|| m.to_string());
        let (_, key) = kassa_api::auth::create_account(pool, &name, Role::Merchant, Some(&m))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        merchants.push((name, m, key.secret));
    }
    merchants.sort_by_key(|(_, m, _)| s.position(m));
    Ok(Onboarded {
        operator_key: operator.secret,
        merchants,
    })
}

pub async fn check(api: &Api, keys: &Onboarded, pool: &PgPool, checks: &mut Checks) -> Result<()> {
    let ca = match &api.ca_cert {
        Some(p) => std::fs::read(p)?,
        None => Vec::new(),
    };
    let operator = Client::with_ca(&api.url, &keys.operator_key, &ca)?;
    for (name, merchant, key) in &keys.merchants {
        let client = operator.with_key(key);
        let stored: i64 =
            sqlx::query_scalar("SELECT count(*) FROM chain.payment WHERE merchant = $1")
                .bind(&merchant.to_bytes()[..])
                .fetch_one(pool)
                .await?;
        let page = client.payments("limit=200").await?;
        checks.check(
            page.data.len() as i64 == stored
                && page.data.iter().all(|p| p.merchant == merchant.to_string()),
            format!("API: {name}'s key lists its {stored} payments and only those"),
        );
        // Every other merchant's payments are invisible to this key (404, as if absent).
        let others = operator
            .payments("limit=200")
            .await?
            .data
            .into_iter()
            .filter(|p| p.merchant != merchant.to_string())
            .collect::<Vec<_>>();
        let mut hidden = true;
        for p in &others {
            hidden &=
                matches!(client.payment(&p.address).await, Err(e) if e.kind() == Some("not-found"));
        }
        checks.check(
            hidden,
            format!(
                "API: {name}'s key gets 404 for the {} payments of other merchants",
                others.len()
            ),
        );
    }
    Ok(())
}
