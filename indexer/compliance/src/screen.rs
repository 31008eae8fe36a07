//! Screening a payer before it pays: one query over what is kept ready for it (the lists in
//! force, the on-chain blocklist, the precomputed exposure, the payer's history and cases),
//! a risk with its reasons, and a decision: `allow`, `review` (allowed, and an alert is raised
//! for officers) or `refuse`. Every answer is recorded.

use crate::{Result, Risk};
use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgPool, Row};
use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

/// Where risk turns into decisions.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct ScreenPolicy {
    /// Refuse at this risk or above.
    pub refuse_at: Risk,
    /// Raise an alert (and allow) at this risk or above, below `refuse_at`.
    pub review_at: Risk,
}

impl Default for ScreenPolicy {
    fn default() -> Self {
        Self {
            refuse_at: Risk::High,
            review_at: Risk::Medium,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Review,
    Refuse,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Review => "review",
            Decision::Refuse => "refuse",
        }
    }
}

/// One reason a wallet carries risk.
#[derive(Debug, Clone, Serialize)]
pub struct Reason {
    /// sanctions-list, internal-list, blocklist, exposure, case, true-positive or new-wallet
    /// (built in); an external provider's codes are prefixed with its name.
    pub code: String,
    pub risk: Risk,
    pub detail: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Screening {
    /// The recorded screening's id.
    pub id: i64,
    pub wallet: String,
    pub decision: Decision,
    pub risk: Risk,
    pub reasons: Vec<Reason>,
    /// Payments this wallet has authorized that the indexer has seen.
    pub payments_seen: i64,
}

/// The built-in assessment: the lists in force, the on-chain blocklist, the precomputed
/// exposure, the wallet's history and cases; with the number of its payments seen.
async fn builtin(pool: &PgPool, wallet: &Pubkey) -> Result<(Vec<Reason>, i64)> {
    let w = wallet.to_bytes();
    let row = sqlx::query(
        "SELECT
           (SELECT coalesce(jsonb_agg(jsonb_build_object('list', l.id, 'kind', l.format,
                        'action', l.action, 'uid', a.uid, 'name', e.name,
                        'programs', e.programs) ORDER BY l.id, a.uid), '[]')
            FROM compliance.list_address a
            JOIN compliance.list l ON l.id = a.list AND l.current = a.version
            JOIN compliance.list_entry e ON (e.list, e.version, e.uid) = (a.list, a.version, a.uid)
            WHERE a.wallet = $1),
           (SELECT coalesce(bool_or($1 = ANY (blocked::bytea[])), false) FROM chain.config),
           (SELECT jsonb_build_object('hops', hops, 'reason', reason) FROM compliance.exposure
            WHERE wallet = $1),
           (SELECT count(*) FROM compliance.payment_seen WHERE payer = $1),
           (SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'state', state,
                        'severity', severity, 'disposition', disposition) ORDER BY id), '[]')
            FROM compliance.case
            WHERE wallet = $1 AND (state <> 'closed' OR disposition IN ('true_positive', 'reported')))",
    )
    .bind(&w[..])
    .fetch_one(pool)
    .await?;
    let lists: serde_json::Value = row.get(0);
    let blocked: bool = row.get(1);
    let exposure: Option<serde_json::Value> = row.get(2);
    let payments_seen: i64 = row.get(3);
    let cases: serde_json::Value = row.get(4);

    let mut reasons = Vec::new();
    for hit in lists.as_array().into_iter().flatten() {
        let s = |k: &str| hit[k].as_str().unwrap_or_default().to_string();
        let internal = s("kind") == "internal";
        reasons.push(Reason {
            code: if internal {
                "internal-list"
            } else {
                "sanctions-list"
            }
            .into(),
            risk: if s("action") == "refuse" {
                Risk::Severe
            } else {
                Risk::High
            },
            detail: format!("on list {} as {} ({})", s("list"), s("name"), s("uid")),
        });
    }
    if blocked {
        reasons.push(Reason {
            code: "blocklist".into(),
            risk: Risk::Severe,
            detail: "on the protocol's on-chain blocklist".into(),
        });
    }
    if let Some(x) = exposure {
        let hops = x["hops"].as_i64().unwrap_or(0);
        reasons.push(Reason {
            code: "exposure".into(),
            risk: if hops <= 1 { Risk::High } else { Risk::Medium },
            detail: format!(
                "{hops} transfer(s) away from a flagged wallet ({})",
                x["reason"].as_str().unwrap_or_default()
            ),
        });
    }
    for c in cases.as_array().into_iter().flatten() {
        let id = c["id"].as_i64().unwrap_or_default();
        match c["disposition"].as_str() {
            Some(d) => reasons.push(Reason {
                code: "true-positive".into(),
                risk: Risk::Severe,
                detail: format!("case {id} was closed as {d}"),
            }),
            // An open case is a question, not an answer: review, never refuse on it alone.
            None => reasons.push(Reason {
                code: "case".into(),
                risk: Risk::Medium,
                detail: format!(
                    "case {id} ({} severity) is {}",
                    c["severity"].as_str().unwrap_or("medium"),
                    c["state"].as_str().unwrap_or("open")
                ),
            }),
        }
    }
    if payments_seen == 0 {
        reasons.push(Reason {
            code: "new-wallet".into(),
            risk: Risk::Low,
            detail: "no earlier payment seen from this wallet".into(),
        });
    }
    Ok((reasons, payments_seen))
}

/// Screens `wallet` (paying `merchant`, when known) for `context` (`solana-pay`, `api`,
/// `x402`) with the built-in provider, records the answer and returns it.
pub async fn screen(
    pool: &PgPool,
    wallet: &Pubkey,
    merchant: Option<&Pubkey>,
    context: &str,
    policy: &ScreenPolicy,
) -> Result<Screening> {
    screen_with(pool, &[], wallet, merchant, context, policy).await
}

/// A future a provider answers with.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A source of risk about a wallet beside the built-in one (Kassa's lists, exposure, history,
/// which is always asked first): an external risk API plugs in here. Its reasons join the
/// built-in ones, and the highest risk decides.
pub trait Provider: Send + Sync {
    /// A short name, prefixed to its reasons' codes.
    fn name(&self) -> &str;
    /// What it knows about `wallet`.
    fn assess<'a>(&'a self, wallet: &'a Pubkey) -> BoxFuture<'a, Result<Vec<Reason>>>;
}

/// How long an external provider may take before it counts as unavailable.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(2);

/// The reasons `providers` give about `wallet`. A provider that fails or times out gives a
/// medium-risk reason saying so: the payment is reviewed, not refused, while it is down.
pub async fn external(providers: &[Arc<dyn Provider>], wallet: &Pubkey) -> Vec<Reason> {
    let mut out = Vec::new();
    for p in providers {
        match tokio::time::timeout(PROVIDER_TIMEOUT, p.assess(wallet)).await {
            Ok(Ok(reasons)) => out.extend(reasons.into_iter().map(|mut r| {
                r.code = format!("{}:{}", p.name(), r.code);
                r
            })),
            Ok(Err(e)) => out.push(Reason {
                code: format!("{}:unavailable", p.name()),
                risk: Risk::Medium,
                detail: format!("provider {} failed: {e}", p.name()),
            }),
            Err(_) => out.push(Reason {
                code: format!("{}:unavailable", p.name()),
                risk: Risk::Medium,
                detail: format!("provider {} did not answer in time", p.name()),
            }),
        }
    }
    out
}

/// [`screen`] with external `providers` asked after the built-in one.
pub async fn screen_with(
    pool: &PgPool,
    providers: &[Arc<dyn Provider>],
    wallet: &Pubkey,
    merchant: Option<&Pubkey>,
    context: &str,
    policy: &ScreenPolicy,
) -> Result<Screening> {
    let w = wallet.to_bytes();
    let (mut reasons, payments_seen) = builtin(pool, wallet).await?;
    reasons.extend(external(providers, wallet).await);
    let risk = reasons.iter().map(|r| r.risk).max().unwrap_or(Risk::Low);
    let decision = if risk >= policy.refuse_at {
        Decision::Refuse
    } else if risk >= policy.review_at {
        Decision::Review
    } else {
        Decision::Allow
    };
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO compliance.screening (wallet, merchant, context, decision, risk, reasons)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(&w[..])
    .bind(merchant.map(|m| m.to_bytes().to_vec()))
    .bind(context)
    .bind(decision.as_str())
    .bind(risk.as_str())
    .bind(serde_json::to_value(&reasons).unwrap_or_default())
    .fetch_one(pool)
    .await?;
    if decision == Decision::Review {
        review_alert(pool, wallet, merchant, id, risk, &reasons).await?;
    }
    Ok(Screening {
        id,
        wallet: wallet.to_string(),
        decision,
        risk,
        reasons,
        payments_seen,
    })
}

/// A wallet allowed for review gets an alert in its case, once a day, with the screening's
/// reasons as evidence, so that officers see it.
async fn review_alert(
    pool: &PgPool,
    wallet: &Pubkey,
    merchant: Option<&Pubkey>,
    screening: i64,
    risk: Risk,
    reasons: &[Reason],
) -> Result<()> {
    let (version, _) = crate::rules::current(pool).await?;
    let mut tx = pool.begin().await?;
    let today: String =
        sqlx::query_scalar("SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
            .fetch_one(&mut *tx)
            .await?;
    let dedupe = format!("screening:{wallet}:{today}");
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM compliance.alert WHERE dedupe = $1)")
            .bind(&dedupe)
            .fetch_one(&mut *tx)
            .await?;
    if exists {
        return Ok(());
    }
    let case = crate::cases::open_for(&mut tx, wallet, risk).await?;
    let evidence = serde_json::json!({ "rule": "screening", "kind": "screening",
                                       "version": version, "screening": screening,
                                       "reasons": reasons });
    let alert: Option<i64> = sqlx::query_scalar(
        "INSERT INTO compliance.alert (rule, kind, rule_version, severity, wallet, merchant,
                                       payment, evidence, dedupe, case_id)
         VALUES ('screening', 'screening', $1, $2, $3, $4, NULL, $5, $6, $7)
         ON CONFLICT (dedupe) DO NOTHING RETURNING id",
    )
    .bind(version)
    .bind(risk.as_str())
    .bind(&wallet.to_bytes()[..])
    .bind(merchant.map(|m| m.to_bytes().to_vec()))
    .bind(&evidence)
    .bind(&dedupe)
    .bind(case)
    .fetch_optional(&mut *tx)
    .await?;
    // Raised meanwhile by another request: that one stands.
    let Some(alert) = alert else {
        return Ok(());
    };
    crate::audit::record(
        &mut tx,
        None,
        "alert.raise",
        &format!("alert:{alert} case:{case}"),
        &crate::sha256(evidence.to_string().as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
