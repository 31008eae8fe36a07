//! Monitoring after payment: every authorization the indexer stores reaches the compliance
//! inbox in the same statement; a pass takes a batch of them in order, records the wallet
//! flows of their transactions, refreshes exposure if that changed it, adds them to each
//! payer's history, reads once what the rules need (the batch's payers' histories over the
//! longest window, first-seen times, merchants' tiers, exposure and flags: a few queries per
//! batch, however many rules and payments) and runs every rule of the rule set in force over
//! it in memory. Each hit is an alert carrying the rule's version and
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
//!
//! x402 `exact` payments come the same way: the facilitator writes an inbox row when it records
//! a settlement settled, and the payment joins its payer's history under the SHA-256 of its
//! transaction's message (it has no payment account), named `x402:<settlement id>` in alerts.
//! The rules read it like any other payment; no hold is possible (the transfer is final), and
//! it adds no wallet flow to the exposure graph (a direct transfer to a merchant's wallet would
//! join all of that merchant's customers through it).

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

impl std::fmt::Debug for MonitorConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorConfig")
            .field("batch", &self.batch)
            .field("exposure", &self.exposure)
            .field(
                "providers",
                &self.providers.iter().map(|p| p.name()).collect::<Vec<_>>(),
            )
            .finish()
    }
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
    /// The payment account, or an x402 `exact` payment's message hash.
    payment: [u8; 32],
    /// The x402 settlement id of an `exact` payment.
    x402: Option<String>,
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
    /// How alerts name it (`label`).
    name: String,
    /// Whether it is a Kassa payment account (the alert's `payment`).
    account: bool,
    payer: Vec<u8>,
    merchant: Vec<u8>,
    evidence_payments: Vec<Vec<u8>>,
    evidence_names: Vec<String>,
    detail: serde_json::Value,
}

/// How alerts name a payment: its account's address, or `x402:<settlement id>`.
fn label(payment: &[u8], x402: Option<&str>) -> String {
    match x402 {
        Some(id) => format!("x402:{id}"),
        None => b58(payment),
    }
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
        // Rolled back now, not later by the pool, so that the lock is not held meanwhile.
        tx.rollback().await?;
        return Ok(Pass::default());
    }
    let rows = sqlx::query(
        "SELECT i.id, i.phase, e.signature, e.entity, e.ts, e.data, e.reverted,
                x.x402_settlement_id, x.message_hash, x.payer, x.merchant, x.mint,
                x.amount::text, extract(epoch FROM x.finished_at)::int8, x.signature
         FROM compliance.inbox i
         LEFT JOIN chain.event e
             ON (e.signature, e.ix_index, e.inner_index, e.slot)
              = (i.signature, i.ix_index, i.inner_index, i.slot)
         LEFT JOIN x402.settlement x ON x.x402_settlement_id = i.x402_settlement
         WHERE e.signature IS NOT NULL OR x.x402_settlement_id IS NOT NULL
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
    let bytes = |b: Vec<u8>, what: &str| -> Result<[u8; 32]> {
        b.try_into()
            .map_err(|_| ComplianceError::Corrupt(format!("x402 settlement {what}")))
    };
    for r in &rows {
        if let Some(id) = r.get::<Option<String>, _>(7) {
            seen.push(Seen {
                payment: bytes(r.get(8), "message hash")?,
                x402: Some(id),
                payer: bytes(r.get(9), "payer")?,
                merchant: bytes(r.get(10), "merchant")?,
                mint: bytes(r.get(11), "mint")?,
                amount: r
                    .get::<String, _>(12)
                    .parse()
                    .map_err(|_| ComplianceError::Corrupt("x402 settlement amount".into()))?,
                at: r.get(13),
                seq: r.get(0),
                signature: r.get(14),
            });
            continue;
        }
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
            x402: None,
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
    let flows: Vec<Vec<u8>> = seen
        .iter()
        .filter(|s| s.x402.is_none())
        .map(|s| s.signature.clone())
        .collect();
    let edges = graph::record_edges(&mut tx, &flows).await?;
    out.new_edges = edges.len() as u64;
    graph::extend_exposure(&mut tx, config.exposure, &edges).await?;
    out.exposed = graph::rebuild_exposure_in(&mut tx, config.exposure, false).await?;

    let mut payment = Vec::new();
    let mut payer = Vec::new();
    let mut merchant = Vec::new();
    let mut mint = Vec::new();
    let mut amount = Vec::new();
    let mut units = Vec::new();
    let mut at = Vec::new();
    let mut seq = Vec::new();
    let mut x402 = Vec::new();
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
        x402.push(s.x402.clone());
    }
    let new: Vec<Vec<u8>> = sqlx::query_scalar(
        "INSERT INTO compliance.payment_seen (payment, payer, merchant, mint, amount, units, at, seq,
                                              signature, x402_settlement)
         SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[], $4::bytea[], $5::numeric[],
                              $6::numeric[], $7::int8[], $9::int8[], $8::bytea[], $10::text[])
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
    .bind(&x402)
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
        let batch = Batch::read(&mut tx, &set.rules, &new).await?;
        for rule in &set.rules {
            let hits = batch.evaluate(&rule.check);
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

/// One payment of a payer's history, as the rules read it.
#[derive(Debug, Clone)]
struct Past {
    payment: Vec<u8>,
    x402: Option<String>,
    merchant: Vec<u8>,
    units: Decimal,
    at: i64,
    seq: i64,
}

/// What the rules need about the batch, read once: the new payments, their payers' histories
/// over the longest window any rule looks back, first-seen times, merchants' tiers, and the
/// payers' exposure or flags. Each is one query, however many rules there are.
struct Batch {
    new: Vec<(Vec<u8>, Past)>,
    history: HashMap<Vec<u8>, Vec<Past>>,
    first_seen: HashMap<Vec<u8>, i64>,
    tiers: HashMap<Vec<u8>, String>,
    /// Payer → (hops, why); hops 0 for a flagged payer.
    exposure: HashMap<Vec<u8>, (i64, String)>,
}

impl Batch {
    async fn read(conn: &mut PgConnection, rules: &[rules::Rule], new: &[Vec<u8>]) -> Result<Self> {
        let rows = sqlx::query(
            "SELECT payer, payment, merchant, units, at, seq, x402_settlement
             FROM compliance.payment_seen WHERE payment = ANY($1) ORDER BY seq",
        )
        .bind(new)
        .fetch_all(&mut *conn)
        .await?;
        let past = |r: &sqlx::postgres::PgRow| Past {
            payment: r.get(1),
            merchant: r.get(2),
            units: r.get(3),
            at: r.get(4),
            seq: r.get(5),
            x402: r.get(6),
        };
        let new: Vec<(Vec<u8>, Past)> = rows.iter().map(|r| (r.get(0), past(r))).collect();
        let mut payers: Vec<Vec<u8>> = new.iter().map(|(p, _)| p.clone()).collect();
        payers.sort();
        payers.dedup();
        let window = rules
            .iter()
            .map(|r| match r.check {
                Check::Velocity { window_secs, .. }
                | Check::Structuring { window_secs, .. }
                | Check::FanOut { window_secs, .. } => window_secs,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let since = new.iter().map(|(_, p)| p.at).min().unwrap_or(0) - window;
        let mut history: HashMap<Vec<u8>, Vec<Past>> = HashMap::new();
        if window > 0 {
            for r in sqlx::query(
                "SELECT payer, payment, merchant, units, at, seq, x402_settlement
                 FROM compliance.payment_seen
                 WHERE payer = ANY($1) AND at > $2 ORDER BY payer, at, seq",
            )
            .bind(&payers)
            .bind(since)
            .fetch_all(&mut *conn)
            .await?
            {
                history.entry(r.get(0)).or_default().push(past(&r));
            }
        }
        let has = |f: fn(&Check) -> bool| rules.iter().any(|r| f(&r.check));
        let mut first_seen = HashMap::new();
        if has(|c| matches!(c, Check::NewWalletLarge { .. })) {
            let rows: Vec<(Vec<u8>, i64)> = sqlx::query_as(
                "SELECT p, (SELECT min(at) FROM compliance.payment_seen WHERE payer = p)
                 FROM unnest($1::bytea[]) AS p",
            )
            .bind(&payers)
            .fetch_all(&mut *conn)
            .await?;
            first_seen.extend(rows);
        }
        let mut tiers = HashMap::new();
        if has(|c| matches!(c, Check::AmountThreshold { .. })) {
            let merchants: Vec<Vec<u8>> = new.iter().map(|(_, p)| p.merchant.clone()).collect();
            let rows: Vec<(Vec<u8>, String)> = sqlx::query_as(
                "SELECT merchant, tier FROM compliance.merchant_risk WHERE merchant = ANY($1)",
            )
            .bind(&merchants)
            .fetch_all(&mut *conn)
            .await?;
            tiers.extend(rows);
        }
        let mut exposure = HashMap::new();
        if has(|c| matches!(c, Check::Exposure { .. })) {
            let rows: Vec<(Vec<u8>, i64, String)> = sqlx::query_as(
                "SELECT wallet, hops::int8, reason FROM compliance.exposure WHERE wallet = ANY($1)
                 UNION ALL
                 SELECT a.wallet, 0, 'list ' || a.list || ' entry ' || a.uid
                 FROM compliance.list_address a
                 JOIN compliance.list l ON l.id = a.list AND l.current = a.version
                 WHERE a.wallet = ANY($1)
                 UNION ALL
                 SELECT w, 0, 'blocklist' FROM chain.config, unnest(blocked::bytea[]) AS w
                 WHERE w = ANY($1)
                 UNION ALL
                 SELECT wallet, 0, 'case ' || id || ' ' || disposition FROM compliance.case
                 WHERE wallet = ANY($1) AND disposition IN ('true_positive', 'reported')
                 ORDER BY 2, 3",
            )
            .bind(&payers)
            .fetch_all(&mut *conn)
            .await?;
            for (w, hops, why) in rows {
                // The nearest reason wins: flags (0) before exposure, rows come in that order.
                exposure.entry(w).or_insert((hops, why));
            }
        }
        Ok(Self {
            new,
            history,
            first_seen,
            tiers,
            exposure,
        })
    }

    /// `payer`'s payments within `window_secs` up to and including `n`, in order.
    fn window<'b>(
        &'b self,
        payer: &[u8],
        n: &Past,
        window_secs: i64,
    ) -> impl Iterator<Item = &'b Past> + 'b {
        let (at, seq) = (n.at, n.seq);
        self.history
            .get(payer)
            .into_iter()
            .flatten()
            .filter(move |h| h.at > at - window_secs && (h.at, h.seq) <= (at, seq))
    }

    fn hit(payer: &[u8], n: &Past, evidence: Vec<&Past>, detail: serde_json::Value) -> Hit {
        Hit {
            payment: n.payment.clone(),
            name: label(&n.payment, n.x402.as_deref()),
            account: n.x402.is_none(),
            payer: payer.to_vec(),
            merchant: n.merchant.clone(),
            evidence_payments: evidence.iter().map(|p| p.payment.clone()).collect(),
            evidence_names: evidence
                .iter()
                .map(|p| label(&p.payment, p.x402.as_deref()))
                .collect(),
            detail,
        }
    }

    /// One rule over the batch's new payments.
    fn evaluate(&self, check: &Check) -> Vec<Hit> {
        let hundred = Decimal::ONE_HUNDRED;
        let mut hits = Vec::new();
        for (payer, n) in &self.new {
            match check {
                Check::Velocity {
                    window_secs,
                    max_payments,
                } => {
                    let w: Vec<&Past> = self.window(payer, n, *window_secs).collect();
                    if w.len() as i64 > *max_payments {
                        let detail = json!({ "payments_in_window": w.len(),
                            "window_secs": window_secs, "max_payments": max_payments });
                        hits.push(Self::hit(payer, n, w, detail));
                    }
                }
                Check::AmountThreshold { low, medium, high } => {
                    let tier = self.tiers.get(&n.merchant).map_or("medium", String::as_str);
                    let limit = match tier {
                        "low" => low,
                        "medium" => medium,
                        _ => high,
                    };
                    if n.units >= *limit {
                        let detail = json!({ "amount": n.units.to_string(),
                            "merchant_tier": tier, "threshold": limit.to_string() });
                        hits.push(Self::hit(payer, n, vec![n], detail));
                    }
                }
                Check::Structuring {
                    threshold,
                    band_percent,
                    window_secs,
                    min_payments,
                } => {
                    let floor = threshold * (hundred - band_percent) / hundred;
                    let in_band = |p: &Past| p.units >= floor && p.units < *threshold;
                    if !in_band(n) {
                        continue;
                    }
                    let w: Vec<&Past> = self
                        .window(payer, n, *window_secs)
                        .filter(|p| in_band(p))
                        .collect();
                    if w.len() as i64 >= *min_payments {
                        let detail = json!({ "payments_in_band": w.len(),
                            "band_from": floor.to_string(), "threshold": threshold.to_string(),
                            "window_secs": window_secs,
                            "amounts": w.iter().map(|p| p.units.to_string()).collect::<Vec<_>>() });
                        hits.push(Self::hit(payer, n, w, detail));
                    }
                }
                Check::NewWalletLarge {
                    new_for_secs,
                    amount,
                } => {
                    let first = self.first_seen.get(payer).copied().unwrap_or(n.at);
                    if n.units >= *amount && n.at - first < *new_for_secs {
                        let detail = json!({ "amount": n.units.to_string(), "first_seen": first,
                            "seconds_since_first_seen": n.at - first });
                        hits.push(Self::hit(payer, n, vec![n], detail));
                    }
                }
                Check::FanOut {
                    window_secs,
                    min_merchants,
                } => {
                    let w: Vec<&Past> = self.window(payer, n, *window_secs).collect();
                    let merchants: std::collections::HashSet<&[u8]> =
                        w.iter().map(|p| p.merchant.as_slice()).collect();
                    if merchants.len() as i64 >= *min_merchants {
                        let detail = json!({ "merchants_in_window": merchants.len(),
                            "window_secs": window_secs });
                        hits.push(Self::hit(payer, n, w, detail));
                    }
                }
                Check::Exposure { max_hops } => {
                    if let Some((hops, why)) = self.exposure.get(payer) {
                        if *hops <= i64::from(*max_hops) {
                            let detail = json!({ "hops": hops, "flagged": why });
                            hits.push(Self::hit(payer, n, vec![n], detail));
                        }
                    }
                }
            }
        }
        hits
    }
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
                    name: label(&p.payment, p.x402.as_deref()),
                    account: p.x402.is_none(),
                    payer: p.payer.to_vec(),
                    merchant: p.merchant.to_vec(),
                    evidence_payments: vec![p.payment.to_vec()],
                    evidence_names: vec![label(&p.payment, p.x402.as_deref())],
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
        .map(|h| format!("{}:{}", rule.id, h.name))
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
    let mut payment: Vec<Option<Vec<u8>>> = Vec::new();
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
            "payment": hit.name,
            "payments": hit.evidence_names,
            "detail": hit.detail,
        });
        digest.push(sha256(e.to_string().as_bytes()).to_vec());
        evidence.push(e);
        payer.push(hit.payer);
        merchant.push(hit.merchant);
        // An x402 `exact` payment has no account to name.
        payment.push(hit.account.then_some(hit.payment));
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
        "SELECT coalesce(extract(epoch FROM now())::int8
                         - coalesce(min(e.ts), min(extract(epoch FROM x.finished_at))::int8), 0)
         FROM (SELECT * FROM compliance.inbox ORDER BY id LIMIT 1) i
         LEFT JOIN chain.event e
             ON (e.signature, e.ix_index, e.inner_index, e.slot)
              = (i.signature, i.ix_index, i.inner_index, i.slot)
         LEFT JOIN x402.settlement x ON x.x402_settlement_id = i.x402_settlement",
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
