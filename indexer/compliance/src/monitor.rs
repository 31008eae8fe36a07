//! Monitoring after payment: every authorization the indexer stores reaches the compliance
//! inbox in the same statement; a pass takes a batch of them in order, records the wallet
//! flows of their transactions, refreshes exposure if that changed it, adds them to each
//! payer's history and runs every rule of the rule set in force over the batch, set-based
//! (one query per rule, not per payment). Each hit is an alert carrying the rule's version and
//! evidence, in the open case of its wallet; a rule whose action is `hold` also asks for an
//! on-chain hold on each payment in evidence still authorized. The inbox rows go in the same
//! transaction, so a crash repeats a pass rather than losing or doubling one; holds are sent
//! after it commits (and retried by the next pass until done).
//!
//! Timing against auto-capture: a merchant's auto-capture comes `auto_capture_delay` seconds
//! after authorization, and a hold is only possible before it. A pass runs every `poll`
//! (250 ms by default) and a batch takes milliseconds, so a hold is on chain within about a
//! second of the authorization being confirmed; `kassa_compliance_monitor_lag_seconds` shows
//! how far behind the monitor is, and `docs/compliance.md` states the floor merchants'
//! auto-capture delay must keep above it.

use crate::{actions, graph, rules, rules::Check, screen, sha256, ComplianceError, Result, Risk};
use rust_decimal::Decimal;
use serde_json::json;
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair};
use sqlx::{PgConnection, PgPool, Row};
use std::{collections::HashMap, str::FromStr, time::Duration};

#[derive(Clone)]
pub struct MonitorConfig {
    /// Authorizations per pass.
    pub batch: i64,
    pub exposure: graph::ExposurePolicy,
    /// External risk providers asked about each new payer after the built-in rules; a high or
    /// severe answer is an alert of rule `provider-<name>`.
    pub providers: Vec<std::sync::Arc<dyn screen::Provider>>,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        Self {
            batch: 2_000,
            exposure: graph::ExposurePolicy::default(),
            providers: Vec::new(),
        }
    }
}

/// What a pass did.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Pass {
    /// Authorizations added to payers' histories.
    pub monitored: usize,
    /// Authorizations rolled back and taken out again.
    pub reverted: usize,
    pub alerts: usize,
    /// Holds asked for.
    pub holds: usize,
    pub new_edges: u64,
    /// Wallets exposed after a rebuild in this pass.
    pub exposed: Option<u64>,
}

/// One authorization of the batch.
struct Seen {
    payment: [u8; 32],
    payer: [u8; 32],
    merchant: [u8; 32],
    mint: [u8; 32],
    amount: u64,
    at: i64,
    seq: i64,
    signature: Vec<u8>,
}

/// A rule's hit on one payment.
struct Hit {
    payment: Vec<u8>,
    payer: Vec<u8>,
    merchant: Vec<u8>,
    evidence_payments: Vec<Vec<u8>>,
    detail: serde_json::Value,
}

fn key(s: &serde_json::Value, what: &str) -> Result<[u8; 32]> {
    s.as_str()
        .and_then(|s| Pubkey::from_str(s).ok())
        .map(|k| k.to_bytes())
        .ok_or_else(|| ComplianceError::Corrupt(format!("PaymentAuthorized {what}")))
}

fn b58(b: &[u8]) -> String {
    Pubkey::try_from(b)
        .map(|k| k.to_string())
        .unwrap_or_default()
}

/// Runs one pass. One pass runs at a time across processes (a transaction-level advisory
/// lock); a second caller returns at once with nothing done.
pub async fn pass(pool: &PgPool, rpc: Option<&RpcClient>, config: &MonitorConfig) -> Result<Pass> {
    let (version, set) = rules::current(pool).await?;
    let mut tx = pool.begin().await?;
    let mine: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtext('kassa.compliance.monitor'))",
    )
    .fetch_one(&mut *tx)
    .await?;
    if !mine {
        return Ok(Pass::default());
    }
    let rows = sqlx::query(
        "SELECT i.id, i.phase, e.signature, e.entity, e.ts, e.data, e.reverted
         FROM compliance.inbox i
         JOIN chain.event e USING (signature, ix_index, inner_index)
         ORDER BY i.id LIMIT $1",
    )
    .bind(config.batch)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Pass::default();
    let Some(last) = rows.last().map(|r| r.get::<i64, _>(0)) else {
        // Nothing new; exposure may still be stale (a list import, a closed case).
        out.exposed = graph::rebuild_exposure_in(&mut tx, config.exposure, false).await?;
        tx.commit().await?;
        return Ok(out);
    };
    let mut seen = Vec::new();
    let mut reverted: Vec<Vec<u8>> = Vec::new();
    let mut reverted_sigs: Vec<Vec<u8>> = Vec::new();
    for r in &rows {
        let phase: &str = r.get(1);
        let signature: Vec<u8> = r.get(2);
        let entity: Vec<u8> = r.get(3);
        if phase == "reverted" {
            reverted.push(entity);
            reverted_sigs.push(signature);
            continue;
        }
        // Rolled back before it was monitored: its `reverted` row follows.
        if r.get::<bool, _>(6) {
            continue;
        }
        let data: serde_json::Value = r.get(5);
        seen.push(Seen {
            payment: entity
                .as_slice()
                .try_into()
                .map_err(|_| ComplianceError::Corrupt("event entity".into()))?,
            payer: key(&data["payer"], "payer")?,
            merchant: key(&data["merchant"], "merchant")?,
            mint: key(&data["mint"], "mint")?,
            amount: data["received"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| ComplianceError::Corrupt("PaymentAuthorized received".into()))?,
            at: r.get(4),
            seq: r.get(0),
            signature,
        });
    }
    let decimals = decimals(&mut tx, rpc, &seen).await?;
    let signatures: Vec<Vec<u8>> = seen.iter().map(|s| s.signature.clone()).collect();
    out.new_edges = graph::record_edges(&mut tx, &signatures).await?;
    out.exposed = graph::rebuild_exposure_in(&mut tx, config.exposure, false).await?;

    let mut payment = Vec::new();
    let mut payer = Vec::new();
    let mut merchant = Vec::new();
    let mut mint = Vec::new();
    let mut amount = Vec::new();
    let mut units = Vec::new();
    let mut at = Vec::new();
    let mut seq = Vec::new();
    for s in &seen {
        let d = *decimals
            .get(&s.mint)
            .ok_or_else(|| ComplianceError::Corrupt("mint decimals".into()))?;
        payment.push(s.payment.to_vec());
        payer.push(s.payer.to_vec());
        merchant.push(s.merchant.to_vec());
        mint.push(s.mint.to_vec());
        amount.push(Decimal::from(s.amount));
        units.push(Decimal::from_i128_with_scale(s.amount as i128, d));
        at.push(s.at);
        seq.push(s.seq);
    }
    let new: Vec<Vec<u8>> = sqlx::query_scalar(
        "INSERT INTO compliance.payment_seen (payment, payer, merchant, mint, amount, units, at, seq, signature)
         SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::numeric[],
                              $6::numeric[], $7::int8[], $9::int8[], $8::bytea[])
         ON CONFLICT (payment) DO NOTHING RETURNING payment",
    )
    .bind(&payment)
    .bind(&payer)
    .bind(&merchant)
    .bind(&mint)
    .bind(&amount)
    .bind(&units)
    .bind(&at)
    .bind(&signatures)
    .bind(&seq)
    .fetch_all(&mut *tx)
    .await?;
    out.monitored = new.len();
    if !reverted.is_empty() {
        out.reverted = sqlx::query(
            "DELETE FROM compliance.payment_seen p USING unnest($1::bytea[], $2::bytea[]) AS r(pay, sig)
             WHERE p.payment = r.pay AND p.signature = r.sig",
        )
        .bind(&reverted)
        .bind(&reverted_sigs)
        .execute(&mut *tx)
        .await?
        .rows_affected() as usize;
    }
    if !new.is_empty() {
        for rule in &set.rules {
            let hits = evaluate(&mut tx, &rule.check, &new).await?;
            let what = Raised {
                id: &rule.id,
                kind: rule.check.kind(),
                severity: rule.severity,
                hold: rule.action == rules::Action::Hold,
            };
            let (alerted, holds) = raise(&mut tx, version, &what, hits).await?;
            out.alerts += alerted;
            out.holds += holds;
        }
        if !config.providers.is_empty() {
            let (a, h) = ask_providers(&mut tx, version, &config.providers, &seen, &new).await?;
            out.alerts += a;
            out.holds += h;
        }
    }
    sqlx::query("DELETE FROM compliance.inbox WHERE id <= $1")
        .bind(last)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(out)
}

/// Decimals of the batch's mints: the ledger's currencies, the API's mint cache, else the
/// mint account on chain (then cached).
async fn decimals(
    conn: &mut PgConnection,
    rpc: Option<&RpcClient>,
    seen: &[Seen],
) -> Result<HashMap<[u8; 32], u32>> {
    let mut mints: Vec<Vec<u8>> = seen.iter().map(|s| s.mint.to_vec()).collect();
    mints.sort();
    mints.dedup();
    let rows = sqlx::query(
        "SELECT m, coalesce((SELECT decimals FROM settlement.currency WHERE mint = m),
                            (SELECT decimals FROM api.mint WHERE address = m))
         FROM unnest($1::bytea[]) AS m",
    )
    .bind(&mints)
    .fetch_all(&mut *conn)
    .await?;
    let mut out = HashMap::new();
    for r in rows {
        let m: Vec<u8> = r.get(0);
        let m: [u8; 32] = m
            .try_into()
            .map_err(|_| ComplianceError::Corrupt("mint".into()))?;
        let d = match r.get::<Option<i16>, _>(1) {
            Some(d) => d as u32,
            None => {
                let mint = Pubkey::new_from_array(m);
                let rpc = rpc.ok_or_else(|| {
                    ComplianceError::Cluster(format!("the decimals of mint {mint} are unknown"))
                })?;
                let account = rpc
                    .get_account(&mint)
                    .await
                    .map_err(|e| ComplianceError::Cluster(format!("mint {mint}: {e}")))?;
                // Token and Token-2022 mints keep `decimals` at byte 44.
                let d = *account.data.get(44).ok_or_else(|| {
                    ComplianceError::Cluster(format!("{mint} is not a token mint"))
                })?;
                sqlx::query(
                    "INSERT INTO api.mint (address, decimals, token_program) VALUES ($1, $2, $3)
                     ON CONFLICT (address) DO NOTHING",
                )
                .bind(&m[..])
                .bind(d as i16)
                .bind(&account.owner.to_bytes()[..])
                .execute(&mut *conn)
                .await?;
                d as u32
            }
        };
        out.insert(m, d);
    }
    Ok(out)
}

/// A rule over the batch's new payments: one query.
async fn evaluate(conn: &mut PgConnection, check: &Check, new: &[Vec<u8>]) -> Result<Vec<Hit>> {
    let hundred = Decimal::ONE_HUNDRED;
    let rows = match check {
        Check::Velocity {
            window_secs,
            max_payments,
        } => {
            sqlx::query(
                // Counted first (an index-only scan per payment), evidence gathered for hits only.
                "WITH hit AS (
                     SELECT n.payment, n.payer, n.merchant, n.at, n.seq, c.k
                     FROM compliance.payment_seen n
                     CROSS JOIN LATERAL (
                         SELECT count(*) AS k FROM compliance.payment_seen h
                         WHERE h.payer = n.payer AND h.at > n.at - $2
                           AND (h.at, h.seq) <= (n.at, n.seq)) c
                     WHERE n.payment = ANY($1) AND c.k > $3)
                 SELECT payment, payer, merchant,
                        ARRAY(SELECT h.payment::bytea FROM compliance.payment_seen h
                              WHERE h.payer = hit.payer AND h.at > hit.at - $2
                                AND (h.at, h.seq) <= (hit.at, hit.seq) ORDER BY h.at, h.seq),
                        jsonb_build_object('payments_in_window', k, 'window_secs', $2::int8,
                                           'max_payments', $3::int8)
                 FROM hit",
            )
            .bind(new)
            .bind(window_secs)
            .bind(max_payments)
            .fetch_all(&mut *conn)
            .await?
        }
        Check::AmountThreshold { low, medium, high } => {
            sqlx::query(
                "SELECT n.payment, n.payer, n.merchant, ARRAY[n.payment::bytea],
                        jsonb_build_object('amount', n.units::text, 'merchant_tier', t.tier,
                                           'threshold', t.lim::text)
                 FROM compliance.payment_seen n
                 LEFT JOIN compliance.merchant_risk r ON r.merchant = n.merchant
                 CROSS JOIN LATERAL (
                     SELECT coalesce(r.tier, 'medium') AS tier,
                            CASE coalesce(r.tier, 'medium') WHEN 'low' THEN $2::numeric
                                 WHEN 'medium' THEN $3::numeric ELSE $4::numeric END AS lim) t
                 WHERE n.payment = ANY($1) AND n.units >= t.lim",
            )
            .bind(new)
            .bind(low)
            .bind(medium)
            .bind(high)
            .fetch_all(&mut *conn)
            .await?
        }
        Check::Structuring {
            threshold,
            band_percent,
            window_secs,
            min_payments,
        } => {
            let floor = threshold * (hundred - band_percent) / hundred;
            sqlx::query(
                "WITH hit AS (
                     SELECT n.payment, n.payer, n.merchant, n.at, n.seq, c.k
                     FROM compliance.payment_seen n
                     CROSS JOIN LATERAL (
                         SELECT count(*) AS k FROM compliance.payment_seen h
                         WHERE h.payer = n.payer AND h.at > n.at - $4
                           AND (h.at, h.seq) <= (n.at, n.seq) AND h.units >= $2 AND h.units < $3) c
                     WHERE n.payment = ANY($1) AND n.units >= $2 AND n.units < $3 AND c.k >= $5)
                 SELECT hit.payment, hit.payer, hit.merchant, e.payments,
                        jsonb_build_object('payments_in_band', hit.k, 'band_from', $2::numeric::text,
                                           'threshold', $3::numeric::text, 'window_secs', $4::int8,
                                           'amounts', e.amounts)
                 FROM hit
                 CROSS JOIN LATERAL (
                     SELECT array_agg(h.payment::bytea ORDER BY h.at, h.seq) AS payments,
                            jsonb_agg(h.units::text ORDER BY h.at, h.seq) AS amounts
                     FROM compliance.payment_seen h
                     WHERE h.payer = hit.payer AND h.at > hit.at - $4
                       AND (h.at, h.seq) <= (hit.at, hit.seq) AND h.units >= $2 AND h.units < $3) e",
            )
            .bind(new)
            .bind(floor)
            .bind(threshold)
            .bind(window_secs)
            .bind(min_payments)
            .fetch_all(&mut *conn)
            .await?
        }
        Check::NewWalletLarge {
            new_for_secs,
            amount,
        } => {
            sqlx::query(
                "SELECT n.payment, n.payer, n.merchant, ARRAY[n.payment::bytea],
                        jsonb_build_object('amount', n.units::text, 'first_seen', f.first,
                                           'seconds_since_first_seen', n.at - f.first)
                 FROM compliance.payment_seen n
                 CROSS JOIN LATERAL (SELECT min(at) AS first FROM compliance.payment_seen h
                                     WHERE h.payer = n.payer) f
                 WHERE n.payment = ANY($1) AND n.units >= $3 AND n.at - f.first < $2",
            )
            .bind(new)
            .bind(new_for_secs)
            .bind(amount)
            .fetch_all(&mut *conn)
            .await?
        }
        Check::FanOut {
            window_secs,
            min_merchants,
        } => {
            sqlx::query(
                "WITH hit AS (
                     SELECT n.payment, n.payer, n.merchant, n.at, n.seq, c.k
                     FROM compliance.payment_seen n
                     CROSS JOIN LATERAL (
                         SELECT count(DISTINCT h.merchant) AS k FROM compliance.payment_seen h
                         WHERE h.payer = n.payer AND h.at > n.at - $2
                           AND (h.at, h.seq) <= (n.at, n.seq)) c
                     WHERE n.payment = ANY($1) AND c.k >= $3)
                 SELECT payment, payer, merchant,
                        ARRAY(SELECT h.payment::bytea FROM compliance.payment_seen h
                              WHERE h.payer = hit.payer AND h.at > hit.at - $2
                                AND (h.at, h.seq) <= (hit.at, hit.seq) ORDER BY h.at, h.seq),
                        jsonb_build_object('merchants_in_window', k, 'window_secs', $2::int8)
                 FROM hit",
            )
            .bind(new)
            .bind(window_secs)
            .bind(min_merchants)
            .fetch_all(&mut *conn)
            .await?
        }
        Check::Exposure { max_hops } => {
            sqlx::query(
                "SELECT n.payment, n.payer, n.merchant, ARRAY[n.payment::bytea],
                        jsonb_build_object('hops', coalesce(x.hops, 0),
                                           'flagged', coalesce(x.reason, f.reason))
                 FROM compliance.payment_seen n
                 LEFT JOIN compliance.exposure x ON x.wallet = n.payer AND x.hops <= $2
                 LEFT JOIN LATERAL (
                     SELECT 'list ' || a.list || ' entry ' || a.uid AS reason
                     FROM compliance.list_address a
                     JOIN compliance.list l ON l.id = a.list AND l.current = a.version
                     WHERE a.wallet = n.payer
                     UNION ALL
                     SELECT 'blocklist' FROM chain.config WHERE n.payer = ANY (blocked::bytea[])
                     UNION ALL
                     SELECT 'case ' || c.id || ' ' || c.disposition FROM compliance.case c
                     WHERE c.wallet = n.payer AND c.disposition IN ('true_positive', 'reported')
                     ORDER BY 1 LIMIT 1) f ON true
                 WHERE n.payment = ANY($1) AND (x.wallet IS NOT NULL OR f.reason IS NOT NULL)",
            )
            .bind(new)
            .bind(max_hops)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    Ok(rows
        .iter()
        .map(|r| Hit {
            payment: r.get(0),
            payer: r.get(1),
            merchant: r.get(2),
            evidence_payments: r.get(3),
            detail: r.get(4),
        })
        .collect())
}

/// External providers' answers about the batch's new payers: a high or severe reason is an
/// alert on each of the payer's new payments (never a hold: officers decide).
async fn ask_providers(
    conn: &mut PgConnection,
    version: i32,
    providers: &[std::sync::Arc<dyn screen::Provider>],
    seen: &[Seen],
    new: &[Vec<u8>],
) -> Result<(usize, usize)> {
    let mut alerts = 0;
    let mut asked = std::collections::HashSet::new();
    for s in seen
        .iter()
        .filter(|s| new.iter().any(|n| n.as_slice() == s.payment))
    {
        if !asked.insert(s.payer) {
            continue;
        }
        let payer = Pubkey::new_from_array(s.payer);
        for r in screen::external(providers, &payer).await {
            if r.risk < Risk::High {
                continue;
            }
            let provider = r.code.split(':').next().unwrap_or("provider").to_string();
            let id = format!("provider-{provider}");
            let what = Raised {
                id: &id,
                kind: "provider",
                severity: r.risk,
                hold: false,
            };
            let hits = seen
                .iter()
                .filter(|p| p.payer == s.payer)
                .map(|p| Hit {
                    payment: p.payment.to_vec(),
                    payer: p.payer.to_vec(),
                    merchant: p.merchant.to_vec(),
                    evidence_payments: vec![p.payment.to_vec()],
                    detail: json!({ "code": r.code, "detail": r.detail }),
                })
                .collect();
            alerts += raise(conn, version, &what, hits).await?.0;
        }
    }
    Ok((alerts, 0))
}

/// What raised a hit: a rule of the set in force, or a provider.
struct Raised<'a> {
    id: &'a str,
    kind: &'a str,
    severity: Risk,
    hold: bool,
}

/// Stores hits as alerts in their wallets' cases (once per rule and payment) and asks for the
/// holds the rule's action calls for, set-based (a handful of statements per rule and batch,
/// however many hits); answers how many alerts were new and how many holds were asked for.
async fn raise(
    conn: &mut PgConnection,
    version: i32,
    rule: &Raised<'_>,
    hits: Vec<Hit>,
) -> Result<(usize, usize)> {
    if hits.is_empty() {
        return Ok((0, 0));
    }
    let dedupes: Vec<String> = hits
        .iter()
        .map(|h| format!("{}:{}", rule.id, b58(&h.payment)))
        .collect();
    let known: std::collections::HashSet<String> =
        sqlx::query_scalar("SELECT dedupe FROM compliance.alert WHERE dedupe = ANY($1)")
            .bind(&dedupes)
            .fetch_all(&mut *conn)
            .await?
            .into_iter()
            .collect();
    let mut payer = Vec::new();
    let mut merchant = Vec::new();
    let mut payment = Vec::new();
    let mut severity = Vec::new();
    let mut evidence = Vec::new();
    let mut digest = Vec::new();
    let mut dedupe = Vec::new();
    let mut held: Vec<Vec<Vec<u8>>> = Vec::new();
    for (hit, d) in hits.into_iter().zip(dedupes) {
        if known.contains(&d) {
            continue;
        }
        // A payer already flagged (hops 0) is as severe as it gets.
        let sev = if hit.detail["hops"].as_i64() == Some(0) {
            Risk::Severe
        } else {
            rule.severity
        };
        let e = json!({
            "rule": rule.id,
            "kind": rule.kind,
            "version": version,
            "payment": b58(&hit.payment),
            "payments": hit.evidence_payments.iter().map(|p| b58(p)).collect::<Vec<_>>(),
            "detail": hit.detail,
        });
        digest.push(sha256(e.to_string().as_bytes()).to_vec());
        evidence.push(e);
        payer.push(hit.payer);
        merchant.push(hit.merchant);
        payment.push(hit.payment);
        severity.push(sev.as_str());
        dedupe.push(d);
        held.push(hit.evidence_payments);
    }
    if payer.is_empty() {
        return Ok((0, 0));
    }
    // Each wallet's open case, opened or raised to the highest severity among its hits.
    let cases: Vec<(Vec<u8>, i64)> = sqlx::query_as(
        "INSERT INTO compliance.case AS c (wallet, severity)
         SELECT DISTINCT ON (w) w, s FROM unnest($1::bytea[], $2::text[]) AS t(w, s)
         ORDER BY w, array_position(ARRAY['low','medium','high','severe'], s) DESC
         ON CONFLICT (wallet) WHERE state <> 'closed' DO UPDATE
             SET severity = CASE WHEN array_position(ARRAY['low','medium','high','severe'], excluded.severity)
                                    > array_position(ARRAY['low','medium','high','severe'], c.severity)
                                 THEN excluded.severity ELSE c.severity END,
                 updated_at = now()
         RETURNING wallet, id",
    )
    .bind(&payer)
    .bind(&severity)
    .fetch_all(&mut *conn)
    .await?;
    let case_of: std::collections::HashMap<Vec<u8>, i64> = cases.into_iter().collect();
    let case: Vec<i64> = payer
        .iter()
        .map(|p| {
            case_of
                .get(p)
                .copied()
                .ok_or_else(|| ComplianceError::Corrupt("an alert's case".into()))
        })
        .collect::<Result<_>>()?;
    let alerts: Vec<(i64, i64, String)> = sqlx::query_as(
        "INSERT INTO compliance.alert (rule, kind, rule_version, severity, wallet, merchant,
                                       payment, evidence, dedupe, case_id)
         SELECT $1, $2, $3, s, w, m, p, e, d, c
         FROM unnest($4::text[], $5::bytea[], $6::bytea[], $7::bytea[], $8::jsonb[], $9::text[],
                     $10::int8[]) AS t(s, w, m, p, e, d, c)
         ON CONFLICT (dedupe) DO NOTHING
         RETURNING id, case_id, dedupe",
    )
    .bind(rule.id)
    .bind(rule.kind)
    .bind(version)
    .bind(&severity)
    .bind(&payer)
    .bind(&merchant)
    .bind(&payment)
    .bind(&evidence)
    .bind(&dedupe)
    .bind(&case)
    .fetch_all(&mut *conn)
    .await?;
    let index: std::collections::HashMap<&str, usize> = dedupe
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i))
        .collect();
    let mut objects = Vec::new();
    let mut hashes = Vec::new();
    let (mut h_alert, mut h_case, mut h_payment, mut h_reason, mut h_digest) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (id, case_id, d) in &alerts {
        let i = index[d.as_str()];
        objects.push(format!("alert:{id} case:{case_id}"));
        hashes.push(digest[i].clone());
        if rule.hold {
            for p in &held[i] {
                h_alert.push(*id);
                h_case.push(*case_id);
                h_payment.push(p.clone());
                h_reason.push(format!(
                    "rule {} (version {version}) raised alert {id}: {}",
                    rule.id, evidence[i]["detail"]
                ));
                h_digest.push(digest[i].clone());
            }
        }
    }
    sqlx::query(
        "INSERT INTO compliance.audit (officer, action, object, sha256)
         SELECT NULL, 'alert.raise', o, h FROM unnest($1::text[], $2::bytea[]) AS t(o, h)",
    )
    .bind(&objects)
    .bind(&hashes)
    .execute(&mut *conn)
    .await?;
    if h_payment.is_empty() {
        return Ok((alerts.len(), 0));
    }
    // Holds on the payments in evidence the escrow still holds, once each.
    let asked: Vec<(i64, i64)> = sqlx::query_as(
        "WITH wanted AS (
             SELECT DISTINCT ON (t.p) t.a, t.c, t.p, t.r, t.h
             FROM unnest($1::int8[], $2::int8[], $3::bytea[], $4::text[], $5::bytea[])
                  AS t(a, c, p, r, h)
             JOIN chain.payment pay ON pay.address = t.p AND pay.status = 'authorized'
             WHERE NOT EXISTS (SELECT 1 FROM compliance.action x
                               WHERE x.kind = 'hold' AND x.target = t.p AND x.state <> 'failed')
             ORDER BY t.p, t.a),
         asked AS (
             INSERT INTO compliance.action (kind, target, case_id, officer, reason, hash)
             SELECT 'hold', p, c, NULL, r, h FROM wanted
             RETURNING id, target)
         SELECT asked.id, wanted.a FROM asked JOIN wanted ON wanted.p = asked.target",
    )
    .bind(&h_alert)
    .bind(&h_case)
    .bind(&h_payment)
    .bind(&h_reason)
    .bind(&h_digest)
    .fetch_all(&mut *conn)
    .await?;
    let objects: Vec<String> = asked
        .iter()
        .map(|(id, alert)| format!("action:{id} alert:{alert}"))
        .collect();
    let hashes: Vec<Vec<u8>> = asked
        .iter()
        .map(|(_, alert)| {
            alerts
                .iter()
                .position(|(a, _, _)| a == alert)
                .map(|i| digest[index[alerts[i].2.as_str()]].clone())
                .unwrap_or_default()
        })
        .collect();
    sqlx::query(
        "INSERT INTO compliance.audit (officer, action, object, sha256)
         SELECT NULL, 'action.hold.request', o, h FROM unnest($1::text[], $2::bytea[]) AS t(o, h)",
    )
    .bind(&objects)
    .bind(&hashes)
    .execute(&mut *conn)
    .await?;
    Ok((alerts.len(), asked.len()))
}

/// How far behind the monitor is: seconds since the oldest authorization waiting for it was
/// made (0 when none waits).
pub async fn lag_seconds(pool: &PgPool) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT coalesce(extract(epoch FROM now())::int8 - min(e.ts), 0)
         FROM (SELECT signature, ix_index, inner_index FROM compliance.inbox ORDER BY id LIMIT 1) i
         JOIN chain.event e USING (signature, ix_index, inner_index)",
    )
    .fetch_one(pool)
    .await?)
}

/// Monitors until `shutdown`: a pass every `poll` (at once again while batches come full),
/// then the holds it asked for, sent with the compliance key when this process has it.
pub async fn run(
    pool: PgPool,
    rpc: std::sync::Arc<RpcClient>,
    key: Option<std::sync::Arc<Keypair>>,
    config: MonitorConfig,
    poll: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let wait = match pass(&pool, Some(&rpc), &config).await {
            Ok(p) => {
                if p.alerts > 0 || p.holds > 0 {
                    tracing::info!(
                        alerts = p.alerts,
                        holds = p.holds,
                        "compliance monitor raised alerts"
                    );
                }
                if (p.monitored + p.reverted) as i64 >= config.batch {
                    Duration::ZERO
                } else {
                    poll
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "compliance monitor pass failed; retrying");
                poll
            }
        };
        if let Some(key) = &key {
            if let Err(e) = actions::perform_pending(&pool, &rpc, key).await {
                tracing::warn!(error = %e, "compliance actions could not be sent; retrying");
            }
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The compliance gauges in Prometheus text format, read from the database at each scrape:
/// the monitor's lag and backlog, the review queue, and the on-chain actions not yet done.
pub async fn metrics(pool: &PgPool) -> Result<String> {
    let lag = lag_seconds(pool).await?;
    let (waiting, open, escalated, pending, failed): (i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM compliance.inbox),
                (SELECT count(*) FROM compliance.case WHERE state = 'open'),
                (SELECT count(*) FROM compliance.case WHERE state = 'escalated'),
                (SELECT count(*) FROM compliance.action WHERE state = 'pending'),
                (SELECT count(*) FROM compliance.action WHERE state = 'failed')",
    )
    .fetch_one(pool)
    .await?;
    Ok(format!(
        "# HELP kassa_compliance_monitor_lag_seconds Age of the oldest authorization the KYT monitor has not read (0 when none waits).\n\
         # TYPE kassa_compliance_monitor_lag_seconds gauge\n\
         kassa_compliance_monitor_lag_seconds {lag}\n\
         # HELP kassa_compliance_monitor_waiting Authorizations waiting for the KYT monitor.\n\
         # TYPE kassa_compliance_monitor_waiting gauge\n\
         kassa_compliance_monitor_waiting {waiting}\n\
         # HELP kassa_compliance_cases Review cases not closed, by state.\n\
         # TYPE kassa_compliance_cases gauge\n\
         kassa_compliance_cases{{state=\"open\"}} {open}\n\
         kassa_compliance_cases{{state=\"escalated\"}} {escalated}\n\
         # HELP kassa_compliance_actions On-chain compliance actions not sent yet (pending) or refused by the chain (failed).\n\
         # TYPE kassa_compliance_actions gauge\n\
         kassa_compliance_actions{{state=\"pending\"}} {pending}\n\
         kassa_compliance_actions{{state=\"failed\"}} {failed}\n"
    ))
}
