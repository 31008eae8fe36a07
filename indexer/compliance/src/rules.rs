//! The monitoring rules, kept as versioned data: a rule set is a JSON document stored as a new
//! version each time it changes (`compliance.rule_set`), never edited; the highest version is
//! in force and every alert carries the version that raised it. Amounts are in a stablecoin's
//! whole units (decimal strings), every stablecoin counted at par.

use crate::{audit, lists::Actor, ComplianceError, Result, Risk};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// What a hit does besides raising an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// An alert in the review queue.
    #[default]
    Alert,
    /// An alert, and an on-chain hold on the payments in evidence still authorized.
    Hold,
}

/// One rule: an id (stable across versions), what it checks, its severity and action.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    pub id: String,
    #[serde(flatten)]
    pub check: Check,
    pub severity: Risk,
    #[serde(default)]
    pub action: Action,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    /// More than `max_payments` authorizations by one payer within `window_secs`.
    Velocity { window_secs: i64, max_payments: i64 },
    /// One payment at or above the threshold of its merchant's risk tier.
    AmountThreshold {
        low: Decimal,
        medium: Decimal,
        high: Decimal,
    },
    /// At least `min_payments` payments by one payer within `window_secs`, each within
    /// `band_percent` below `threshold` (just under a reporting threshold).
    Structuring {
        threshold: Decimal,
        band_percent: Decimal,
        window_secs: i64,
        min_payments: i64,
    },
    /// A payer first seen less than `new_for_secs` ago paying `amount` or more.
    NewWalletLarge { new_for_secs: i64, amount: Decimal },
    /// One payer paying at least `min_merchants` different merchants within `window_secs`.
    FanOut {
        window_secs: i64,
        min_merchants: i64,
    },
    /// A payer exposed to a flagged wallet within `max_hops` transfers.
    Exposure { max_hops: i16 },
}

impl Check {
    pub fn kind(&self) -> &'static str {
        match self {
            Check::Velocity { .. } => "velocity",
            Check::AmountThreshold { .. } => "amount_threshold",
            Check::Structuring { .. } => "structuring",
            Check::NewWalletLarge { .. } => "new_wallet_large",
            Check::FanOut { .. } => "fan_out",
            Check::Exposure { .. } => "exposure",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
}

impl RuleSet {
    /// Reads and checks a rule set, naming the first problem.
    pub fn parse(json: &serde_json::Value) -> Result<Self> {
        let set: RuleSet = serde_json::from_value(json.clone())
            .map_err(|e| ComplianceError::Invalid(format!("rule set: {e}")))?;
        set.check()?;
        Ok(set)
    }

    fn check(&self) -> Result<()> {
        let mut ids = std::collections::HashSet::new();
        for r in &self.rules {
            let bad = |what: &str| Err(ComplianceError::Invalid(format!("rule {}: {what}", r.id)));
            let id_ok = !r.id.is_empty()
                && r.id.len() <= 60
                && r.id
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_');
            if !id_ok {
                return bad("the id must be 1 to 60 of a-z, 0-9, - and _");
            }
            if !ids.insert(r.id.as_str()) {
                return bad("the id appears twice");
            }
            match &r.check {
                Check::Velocity {
                    window_secs,
                    max_payments,
                } => {
                    if *window_secs <= 0 || *max_payments < 1 {
                        return bad("window_secs and max_payments must be positive");
                    }
                }
                Check::AmountThreshold { low, medium, high } => {
                    if [low, medium, high]
                        .iter()
                        .any(|d| d.is_sign_negative() || d.is_zero())
                    {
                        return bad("thresholds must be positive");
                    }
                    if !(high <= medium && medium <= low) {
                        return bad(
                            "a riskier tier needs a threshold no higher (high <= medium <= low)",
                        );
                    }
                }
                Check::Structuring {
                    threshold,
                    band_percent,
                    window_secs,
                    min_payments,
                } => {
                    if threshold.is_sign_negative() || threshold.is_zero() {
                        return bad("threshold must be positive");
                    }
                    if *band_percent <= Decimal::ZERO || *band_percent >= Decimal::ONE_HUNDRED {
                        return bad("band_percent must be between 0 and 100");
                    }
                    if *window_secs <= 0 || *min_payments < 2 {
                        return bad("window_secs must be positive and min_payments at least 2");
                    }
                }
                Check::NewWalletLarge {
                    new_for_secs,
                    amount,
                } => {
                    if *new_for_secs <= 0 || amount.is_sign_negative() || amount.is_zero() {
                        return bad("new_for_secs and amount must be positive");
                    }
                }
                Check::FanOut {
                    window_secs,
                    min_merchants,
                } => {
                    if *window_secs <= 0 || *min_merchants < 2 {
                        return bad("window_secs must be positive and min_merchants at least 2");
                    }
                }
                Check::Exposure { max_hops } => {
                    if !(1..=6).contains(max_hops) {
                        return bad("max_hops must be 1 to 6");
                    }
                }
            }
        }
        Ok(())
    }

    /// The rule set a fresh installation starts with.
    pub fn default_rules() -> serde_json::Value {
        serde_json::json!({ "rules": [
            { "id": "velocity", "kind": "velocity", "window_secs": 3600, "max_payments": 20,
              "severity": "medium" },
            { "id": "large-payment", "kind": "amount_threshold", "low": "50000",
              "medium": "10000", "high": "3000", "severity": "medium" },
            { "id": "structuring", "kind": "structuring", "threshold": "1000",
              "band_percent": "10", "window_secs": 86400, "min_payments": 3,
              "severity": "high", "action": "hold" },
            { "id": "new-wallet-large", "kind": "new_wallet_large", "new_for_secs": 86400,
              "amount": "5000", "severity": "medium" },
            { "id": "fan-out", "kind": "fan_out", "window_secs": 3600, "min_merchants": 5,
              "severity": "medium" },
            { "id": "exposure", "kind": "exposure", "max_hops": 2, "severity": "high",
              "action": "hold" }
        ]})
    }
}

/// The rule set in force and its version (the default one, stored as version 1, when none
/// was ever stored).
pub async fn current(pool: &PgPool) -> Result<(i32, RuleSet)> {
    let row: Option<(i32, serde_json::Value)> = sqlx::query_as(
        "SELECT version, rules FROM compliance.rule_set ORDER BY version DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    match row {
        Some((v, json)) => Ok((
            v,
            serde_json::from_value(json)
                .map_err(|e| ComplianceError::Corrupt(format!("rule set {v}: {e}")))?,
        )),
        None => {
            let v = store(
                pool,
                &RuleSet::default_rules(),
                "the default rules",
                &Actor::Process("kassa".into()),
            )
            .await?;
            Box::pin(current(pool)).await.map(|(_, s)| (v, s))
        }
    }
}

/// Stores `json` as the next rule set version after checking it; answers its version.
pub async fn store(pool: &PgPool, json: &serde_json::Value, note: &str, by: &Actor) -> Result<i32> {
    let set = RuleSet::parse(json)?;
    let canonical = serde_json::to_value(&set).unwrap_or_default();
    let mut tx = pool.begin().await?;
    sqlx::query("LOCK TABLE compliance.rule_set IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let version: i32 =
        sqlx::query_scalar("SELECT coalesce(max(version), 0) + 1 FROM compliance.rule_set")
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query(
        "INSERT INTO compliance.rule_set (version, rules, note, created_by) VALUES ($1, $2, $3, $4)",
    )
    .bind(version)
    .bind(&canonical)
    .bind(note)
    .bind(by.label())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        by.account(),
        "rules.store",
        &format!("rule_set:{version}"),
        &crate::sha256(canonical.to_string().as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_rules_are_valid_and_bad_ones_are_named() {
        RuleSet::parse(&RuleSet::default_rules()).unwrap();
        let bad = serde_json::json!({ "rules": [
            { "id": "s", "kind": "structuring", "threshold": "1000", "band_percent": "150",
              "window_secs": 60, "min_payments": 3, "severity": "high" }]});
        let e = RuleSet::parse(&bad).unwrap_err().to_string();
        assert!(e.contains("rule s") && e.contains("band_percent"), "{e}");
        let unknown = serde_json::json!({ "rules": [
            { "id": "x", "kind": "teleport", "severity": "high" }]});
        assert!(RuleSet::parse(&unknown)
            .unwrap_err()
            .to_string()
            .contains("teleport"));
        let tiers = serde_json::json!({ "rules": [
            { "id": "t", "kind": "amount_threshold", "low": "10", "medium": "20", "high": "5",
              "severity": "low" }]});
        assert!(RuleSet::parse(&tiers)
            .unwrap_err()
            .to_string()
            .contains("tier"));
    }
}
