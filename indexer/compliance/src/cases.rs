//! The review queue: alerts on a wallet are grouped into its open case; officers assign
//! cases, comment, escalate and close them with a disposition (false positive, true positive,
//! reported). Every step is in the audit log; comments and reasons stay in the case (they may
//! be erased), the log keeps their hashes.

use crate::{actions, audit, lists::Actor, pubkey, sha256, ComplianceError, Result, Risk};
use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgConnection, PgPool, Row};

#[derive(Debug, Clone, Serialize)]
pub struct Case {
    pub id: i64,
    pub wallet: String,
    pub state: String,
    pub severity: String,
    pub assignee: Option<i64>,
    pub disposition: Option<String>,
    pub opened_at: String,
    pub updated_at: String,
    pub closed_at: Option<String>,
    pub closed_by: Option<i64>,
    pub alerts: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: i64,
    pub rule: String,
    pub kind: String,
    pub rule_version: i32,
    pub severity: String,
    pub wallet: String,
    pub merchant: Option<String>,
    pub payment: Option<String>,
    pub evidence: serde_json::Value,
    pub case: i64,
    pub created_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Comment {
    pub id: i64,
    pub author: i64,
    pub body: String,
    pub at: String,
}

/// A case with everything an officer reviews.
#[derive(Debug, Clone, Serialize)]
pub struct CaseFile {
    #[serde(flatten)]
    pub case: Case,
    pub alerts: Vec<Alert>,
    pub comments: Vec<Comment>,
    pub actions: Vec<actions::Action>,
}

const TS: &str = "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'";

fn case_columns() -> String {
    format!(
        "c.id, c.wallet, c.state, c.severity, c.assignee, c.disposition,
         to_char(c.opened_at AT TIME ZONE 'UTC', {TS}), to_char(c.updated_at AT TIME ZONE 'UTC', {TS}),
         to_char(c.closed_at AT TIME ZONE 'UTC', {TS}), c.closed_by,
         (SELECT count(*) FROM compliance.alert a WHERE a.case_id = c.id)"
    )
}

fn case(r: &sqlx::postgres::PgRow) -> Result<Case> {
    Ok(Case {
        id: r.get(0),
        wallet: pubkey(&r.get::<Vec<u8>, _>(1), "case wallet")?.to_string(),
        state: r.get(2),
        severity: r.get(3),
        assignee: r.get(4),
        disposition: r.get(5),
        opened_at: r.get(6),
        updated_at: r.get(7),
        closed_at: r.get(8),
        closed_by: r.get(9),
        alerts: r.get(10),
    })
}

/// The open case of `wallet`, opened now when it has none, raised to `severity` when that is
/// higher; answers its id.
pub async fn open_for(conn: &mut PgConnection, wallet: &Pubkey, severity: Risk) -> Result<i64> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO compliance.case AS c (wallet, severity) VALUES ($1, $2)
         ON CONFLICT (wallet) WHERE state <> 'closed' DO UPDATE
             SET severity = CASE WHEN array_position(ARRAY['low','medium','high','severe'], excluded.severity)
                                    > array_position(ARRAY['low','medium','high','severe'], c.severity)
                                 THEN excluded.severity ELSE c.severity END,
                 updated_at = now()
         RETURNING id",
    )
    .bind(&wallet.to_bytes()[..])
    .bind(severity.as_str())
    .fetch_one(conn)
    .await?;
    Ok(id)
}

/// Cases, newest first: by state (`open`, `escalated`, `closed`; all but closed when `None`),
/// optionally only those assigned to `assignee`, before id `before`.
pub async fn list(
    pool: &PgPool,
    state: Option<&str>,
    assignee: Option<i64>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<Case>> {
    if let Some(s) = state {
        if !matches!(s, "open" | "escalated" | "closed") {
            return Err(ComplianceError::Invalid(format!(
                "state {s:?}: open, escalated or closed"
            )));
        }
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM compliance.case c
         WHERE (CASE WHEN $1::text IS NULL THEN c.state <> 'closed' ELSE c.state = $1 END)
           AND ($2::int8 IS NULL OR c.assignee = $2) AND ($3::int8 IS NULL OR c.id < $3)
         ORDER BY c.id DESC LIMIT $4",
        case_columns()
    )))
    .bind(state)
    .bind(assignee)
    .bind(before)
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(case)
    .collect()
}

pub async fn get(pool: &PgPool, id: i64) -> Result<CaseFile> {
    let r = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {} FROM compliance.case c WHERE c.id = $1",
        case_columns()
    )))
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ComplianceError::NotFound(format!("case {id}")))?;
    let case = case(&r)?;
    let alerts = alerts(pool, Some(id), None, 1000).await?;
    let comments = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, author, body, to_char(at AT TIME ZONE 'UTC', {TS})
         FROM compliance.comment WHERE case_id = $1 ORDER BY id"
    )))
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| Comment {
        id: r.get(0),
        author: r.get(1),
        body: r.get(2),
        at: r.get(3),
    })
    .collect();
    let actions = actions::list(pool, Some(id), 1000).await?;
    Ok(CaseFile {
        case,
        alerts,
        comments,
        actions,
    })
}

/// Alerts, newest first, of one case or one wallet (or all).
pub async fn alerts(
    pool: &PgPool,
    case: Option<i64>,
    wallet: Option<&Pubkey>,
    limit: i64,
) -> Result<Vec<Alert>> {
    let key = |b: Option<Vec<u8>>| -> Result<Option<String>> {
        b.map(|b| pubkey(&b, "alert key").map(|k| k.to_string()))
            .transpose()
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT id, rule, kind, rule_version, severity, wallet, merchant, payment, evidence,
                case_id, to_char(created_at AT TIME ZONE 'UTC', {TS})
         FROM compliance.alert
         WHERE ($1::int8 IS NULL OR case_id = $1) AND ($2::bytea IS NULL OR wallet = $2)
         ORDER BY id DESC LIMIT $3"
    )))
    .bind(case)
    .bind(wallet.map(|w| w.to_bytes().to_vec()))
    .bind(limit)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        Ok(Alert {
            id: r.get(0),
            rule: r.get(1),
            kind: r.get(2),
            rule_version: r.get(3),
            severity: r.get(4),
            wallet: pubkey(&r.get::<Vec<u8>, _>(5), "alert wallet")?.to_string(),
            merchant: key(r.get(6))?,
            payment: key(r.get(7))?,
            evidence: r.get(8),
            case: r.get(9),
            created_at: r.get(10),
        })
    })
    .collect()
}

/// The case's state, locked for a change by an officer; closed cases refuse changes.
async fn lock_open(conn: &mut PgConnection, id: i64) -> Result<String> {
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM compliance.case WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    match state {
        None => Err(ComplianceError::NotFound(format!("case {id}"))),
        Some(s) if s == "closed" => Err(ComplianceError::Refused(format!(
            "case {id} is closed; a new alert on its wallet opens a new case"
        ))),
        Some(s) => Ok(s),
    }
}

fn officer(by: &Actor) -> Result<i64> {
    by.account()
        .ok_or_else(|| ComplianceError::Refused("only a named officer may work a case".into()))
}

/// Assigns case `id` to officer `assignee` (a compliance or operator account).
pub async fn assign(pool: &PgPool, id: i64, assignee: i64, by: &Actor) -> Result<()> {
    let who = officer(by)?;
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM api.account WHERE id = $1")
        .bind(assignee)
        .fetch_optional(pool)
        .await?;
    if !matches!(role.as_deref(), Some("compliance" | "operator")) {
        return Err(ComplianceError::Invalid(format!(
            "account {assignee} is not a compliance officer"
        )));
    }
    let mut tx = pool.begin().await?;
    lock_open(&mut tx, id).await?;
    sqlx::query("UPDATE compliance.case SET assignee = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(assignee)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Some(who),
        "case.assign",
        &format!("case:{id} account:{assignee}"),
        &sha256(assignee.to_string().as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Adds a comment to case `id`.
pub async fn comment(pool: &PgPool, id: i64, body: &str, by: &Actor) -> Result<i64> {
    let who = officer(by)?;
    let body = body.trim();
    if body.is_empty() || body.len() > 10_000 {
        return Err(ComplianceError::Invalid(
            "a comment is 1 to 10,000 characters".into(),
        ));
    }
    let mut tx = pool.begin().await?;
    lock_open(&mut tx, id).await?;
    let cid: i64 = sqlx::query_scalar(
        "INSERT INTO compliance.comment (case_id, author, body) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(id)
    .bind(who)
    .bind(body)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("UPDATE compliance.case SET updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Some(who),
        "case.comment",
        &format!("case:{id} comment:{cid}"),
        &sha256(body.as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(cid)
}

/// Escalates case `id` (to the senior officers' queue), with the reason as a comment.
pub async fn escalate(pool: &PgPool, id: i64, reason: &str, by: &Actor) -> Result<()> {
    let who = officer(by)?;
    let mut tx = pool.begin().await?;
    if lock_open(&mut tx, id).await? == "escalated" {
        return Err(ComplianceError::Conflict(format!(
            "case {id} is escalated already"
        )));
    }
    sqlx::query("UPDATE compliance.case SET state = 'escalated', updated_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        Some(who),
        "case.escalate",
        &format!("case:{id}"),
        &sha256(reason.as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    comment(pool, id, &format!("Escalated: {reason}"), by).await?;
    Ok(())
}

/// Closes case `id` with `disposition` (false_positive, true_positive, reported) and the
/// reason as its last comment. A true positive or a report flags the wallet: screening
/// refuses it and exposure is measured from it.
pub async fn close(
    pool: &PgPool,
    id: i64,
    disposition: &str,
    reason: &str,
    by: &Actor,
) -> Result<()> {
    let who = officer(by)?;
    if !matches!(disposition, "false_positive" | "true_positive" | "reported") {
        return Err(ComplianceError::Invalid(format!(
            "disposition {disposition:?}: false_positive, true_positive or reported"
        )));
    }
    if reason.trim().is_empty() {
        return Err(ComplianceError::Invalid(
            "closing a case needs a reason".into(),
        ));
    }
    comment(
        pool,
        id,
        &format!("Closed as {disposition}: {}", reason.trim()),
        by,
    )
    .await?;
    let mut tx = pool.begin().await?;
    lock_open(&mut tx, id).await?;
    sqlx::query(
        "UPDATE compliance.case SET state = 'closed', disposition = $2, closed_at = now(),
                closed_by = $3, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(disposition)
    .bind(who)
    .execute(&mut *tx)
    .await?;
    if disposition != "false_positive" {
        sqlx::query("UPDATE compliance.state SET exposure_dirty = true")
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        Some(who),
        &format!("case.close.{disposition}"),
        &format!("case:{id}"),
        &sha256(reason.as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
