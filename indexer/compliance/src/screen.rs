//! Screening a payer before it pays: one query over what is kept ready for it (the lists in
//! force, the on-chain blocklist, the precomputed exposure, the payer's history and cases),
//! a risk with its reasons, and a decision: `allow`, `review` (allowed, and an alert is raised
//! for officers) or `refuse`. Every answer is recorded.

use crate::{Result, Risk};
use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgPool, Row};

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
    /// sanctions-list, internal-list, blocklist, exposure, case, true-positive or new-wallet.
    pub code: &'static str,
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

/// Screens `wallet` (paying `merchant`, when known) for `context` (`solana-pay`, `api`,
/// `x402`), records the answer and returns it.
pub async fn screen(
    pool: &PgPool,
    wallet: &Pubkey,
    merchant: Option<&Pubkey>,
    context: &str,
    policy: &ScreenPolicy,
) -> Result<Screening> {
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
            },
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
            code: "blocklist",
            risk: Risk::Severe,
            detail: "on the protocol's on-chain blocklist".into(),
        });
    }
    if let Some(x) = exposure {
        let hops = x["hops"].as_i64().unwrap_or(0);
        reasons.push(Reason {
            code: "exposure",
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
                code: "true-positive",
                risk: Risk::Severe,
                detail: format!("case {id} was closed as {d}"),
            }),
            // An open case is a question, not an answer: review, never refuse on it alone.
            None => reasons.push(Reason {
                code: "case",
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
            code: "new-wallet",
            risk: Risk::Low,
            detail: "no earlier payment seen from this wallet".into(),
        });
    }
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
    Ok(Screening {
        id,
        wallet: wallet.to_string(),
        decision,
        risk,
        reasons,
        payments_seen,
    })
}
