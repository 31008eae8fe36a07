//! KYB: a merchant's application (business profile, directors and ultimate beneficial owners
//! whose ownership adds up to 100 %, documents by type and SHA-256 in a file store), automatic
//! checks (entity and people's names against the sanctions names in force, sanctioned and
//! high-risk jurisdictions and nationalities, prohibited and high-risk categories, documents
//! missing) giving a risk rating with its reasons, and officers' decisions. An approval attests
//! the case on chain (`merchant_kyb_attest` with the SHA-256 of the canonical case record,
//! signed by the compliance key); a high-risk case needs the approvals of two different
//! officers; a suspension sends `merchant_kyb_suspend`. Approved cases come due for review by
//! risk. Personal data can be erased on request; the audit log, ids and hashes only, is not
//! touched.

use crate::{
    actions::{self, Kind},
    audit,
    lists::Actor,
    names::{NameHit, NameIndex},
    pubkey, sha256, ComplianceError, Result,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use solana_rpc_client::nonblocking::rpc_client::RpcClient;
use solana_sdk::{pubkey::Pubkey, signature::Keypair};
use sqlx::{PgPool, Row};
use std::path::{Path, PathBuf};
use time::{Date, OffsetDateTime};

/// Names scoring this or above against a sanctions name are potential matches.
pub const NAME_THRESHOLD: f64 = 0.9;

/// The documents an approval needs.
pub const REQUIRED_DOCUMENTS: [&str; 3] = [
    "certificate_of_incorporation",
    "proof_of_address",
    "ubo_declaration",
];

const DOCUMENT_KINDS: [&str; 6] = [
    "certificate_of_incorporation",
    "proof_of_address",
    "ubo_declaration",
    "director_id",
    "licence",
    "other",
];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    /// director or ubo.
    pub role: String,
    pub name: String,
    /// YYYY-MM-DD.
    pub birth_date: Option<String>,
    /// ISO 3166 alpha-2.
    pub nationality: Option<String>,
    /// UBOs: their share, in percent with up to two decimals ("37.5").
    pub ownership_percent: Option<Decimal>,
}

/// A merchant's application.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// The on-chain merchant account (base58) the approval attests.
    pub merchant: String,
    pub legal_name: String,
    pub registration_number: String,
    /// ISO 3166 alpha-2.
    pub jurisdiction: String,
    pub address: String,
    /// A category code (`compliance.category`).
    pub category: String,
    pub parties: Vec<Party>,
}

fn bad(s: impl Into<String>) -> ComplianceError {
    ComplianceError::Invalid(s.into())
}

fn country(field: &str, c: &str) -> Result<String> {
    let c = c.trim().to_ascii_uppercase();
    if c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(c)
    } else {
        Err(bad(format!(
            "{field} {c:?} is not an ISO 3166 alpha-2 country code"
        )))
    }
}

impl Application {
    /// Checks the application's shape, naming the first problem.
    fn check(&self) -> Result<Pubkey> {
        let merchant: Pubkey = self.merchant.parse().map_err(|_| {
            bad(format!(
                "merchant {:?} is not a base58 address",
                self.merchant
            ))
        })?;
        for (field, v, max) in [
            ("legal_name", &self.legal_name, 300),
            ("registration_number", &self.registration_number, 100),
            ("address", &self.address, 500),
        ] {
            if v.trim().is_empty() || v.len() > max {
                return Err(bad(format!("{field} must be 1 to {max} characters")));
            }
        }
        country("jurisdiction", &self.jurisdiction)?;
        let directors = self.parties.iter().filter(|p| p.role == "director").count();
        let ubos: Vec<&Party> = self.parties.iter().filter(|p| p.role == "ubo").collect();
        if directors == 0 {
            return Err(bad("an application names at least one director"));
        }
        if ubos.is_empty() {
            return Err(bad(
                "an application names its ultimate beneficial owners (role ubo)",
            ));
        }
        let mut total = Decimal::ZERO;
        for p in &self.parties {
            if !matches!(p.role.as_str(), "director" | "ubo") {
                return Err(bad(format!("party role {:?}: director or ubo", p.role)));
            }
            if p.name.trim().is_empty() || p.name.len() > 300 {
                return Err(bad("a party's name must be 1 to 300 characters"));
            }
            if let Some(n) = &p.nationality {
                country(&format!("{}'s nationality", p.name), n)?;
            }
            if let Some(d) = &p.birth_date {
                Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                    .map_err(|_| bad(format!("{}'s birth_date {d:?} is not YYYY-MM-DD", p.name)))?;
            }
            match (p.role.as_str(), p.ownership_percent) {
                ("ubo", Some(o)) if o > Decimal::ZERO && o <= Decimal::ONE_HUNDRED && o.scale() <= 2 => {
                    total += o
                }
                ("ubo", _) => {
                    return Err(bad(format!(
                        "UBO {} needs ownership_percent above 0 and at most 100, with at most two decimals",
                        p.name
                    )))
                }
                (_, Some(_)) => {
                    return Err(bad(format!(
                        "{} is a director: ownership is declared by UBOs",
                        p.name
                    )))
                }
                _ => {}
            }
        }
        if total != Decimal::ONE_HUNDRED {
            return Err(bad(format!(
                "the UBOs' ownership adds up to {total} %, not 100 %"
            )));
        }
        Ok(merchant)
    }
}

/// One reason for a case's risk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RiskReason {
    pub risk: String,
    pub reason: String,
}

/// The automatic checks' findings.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Checks {
    pub name_hits: Vec<NameHit>,
    pub jurisdiction: Option<String>,
    pub nationalities: Vec<(String, String)>,
    pub category: String,
    pub documents_missing: Vec<String>,
    pub lists: Vec<(String, Option<i32>)>,
    pub checked_at: String,
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Runs the automatic checks of case `id` and stores them with the risk they give.
pub async fn run_checks(pool: &PgPool, id: i64) -> Result<(String, Vec<RiskReason>)> {
    let case = sqlx::query(
        "SELECT legal_name, jurisdiction, category, (SELECT level FROM compliance.category c WHERE c.code = k.category)
         FROM compliance.kyb_case k WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ComplianceError::NotFound(format!("KYB case {id}")))?;
    let legal_name: String = case.get(0);
    let jurisdiction: String = case.get(1);
    let category: String = case.get(2);
    let category_level: String = case.get(3);
    let parties: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT role, name, nationality FROM compliance.kyb_party WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let levels: Vec<(String, String)> =
        sqlx::query_as("SELECT code, level FROM compliance.jurisdiction")
            .fetch_all(pool)
            .await?;
    let level = |c: &str| levels.iter().find(|(k, _)| k == c).map(|(_, l)| l.clone());
    let have: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT kind FROM compliance.kyb_document WHERE case_id = $1 AND stored",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let lists: Vec<(String, Option<i32>)> =
        sqlx::query_as("SELECT id, current FROM compliance.list ORDER BY id")
            .fetch_all(pool)
            .await?;

    // Names are matched again only when a list version in force changed since the last check
    // (the parties' names never change within a case): loading every sanctions name is the
    // costly part of a check, and documents come one at a time.
    let stored: Option<Checks> = sqlx::query_scalar::<_, Value>(
        "SELECT checks FROM compliance.kyb_case WHERE id = $1 AND checks ? 'lists'",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .and_then(|v| serde_json::from_value(v).ok());
    let reused = stored.filter(|c| c.lists == lists).map(|c| c.name_hits);
    let mut checks = Checks {
        category: category_level.clone(),
        jurisdiction: level(&jurisdiction),
        documents_missing: REQUIRED_DOCUMENTS
            .iter()
            .filter(|d| !have.iter().any(|h| h == *d))
            .map(|d| d.to_string())
            .collect(),
        lists,
        checked_at: now_rfc3339(),
        ..Default::default()
    };
    match reused {
        Some(hits) => checks.name_hits = hits,
        None => {
            let index = NameIndex::load(pool).await?;
            checks
                .name_hits
                .extend(index.search(&legal_name, NAME_THRESHOLD));
            for (_, name, _) in &parties {
                checks.name_hits.extend(index.search(name, NAME_THRESHOLD));
            }
        }
    }
    for (_, name, nationality) in &parties {
        if let Some(n) = nationality {
            if let Some(l) = level(n) {
                checks.nationalities.push((name.clone(), l));
            }
        }
    }

    let mut reasons = Vec::new();
    let mut push = |risk: &str, reason: String| {
        reasons.push(RiskReason {
            risk: risk.into(),
            reason,
        })
    };
    match checks.jurisdiction.as_deref() {
        Some("sanctioned") => push(
            "prohibited",
            format!("incorporated in {jurisdiction}, a sanctioned jurisdiction"),
        ),
        Some(_) => push(
            "high",
            format!("incorporated in {jurisdiction}, a high-risk jurisdiction"),
        ),
        None => {}
    }
    match category_level.as_str() {
        "prohibited" => push("prohibited", format!("category {category} is prohibited")),
        "high" => push("high", format!("category {category} is high risk")),
        _ => {}
    }
    for (name, l) in &checks.nationalities {
        push(
            "high",
            format!("{name} is a national of a {l} jurisdiction"),
        );
    }
    for h in &checks.name_hits {
        push(
            "high",
            format!(
                "{:?} resembles {:?} on list {} ({}), score {:.3}",
                h.screened, h.listed_name, h.list, h.uid, h.score
            ),
        );
    }
    if !checks.documents_missing.is_empty() {
        push(
            "medium",
            format!("documents missing: {}", checks.documents_missing.join(", ")),
        );
    }
    let rank = |r: &str| {
        ["low", "medium", "high", "prohibited"]
            .iter()
            .position(|x| *x == r)
            .unwrap_or(1)
    };
    let risk = reasons
        .iter()
        .map(|r| r.risk.as_str())
        .max_by_key(|r| rank(r))
        .unwrap_or("low")
        .to_string();
    sqlx::query(
        "UPDATE compliance.kyb_case SET risk = $2, risk_reasons = $3, checks = $4, updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(&risk)
    .bind(serde_json::to_value(&reasons).unwrap_or_default())
    .bind(serde_json::to_value(&checks).unwrap_or_default())
    .execute(pool)
    .await?;
    Ok((risk, reasons))
}

/// Opens a KYB case from `app` and runs its checks; answers its id.
pub async fn submit(pool: &PgPool, app: &Application, by: &Actor) -> Result<i64> {
    let merchant = app.check()?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM chain.merchant WHERE address = $1)")
            .bind(&merchant.to_bytes()[..])
            .fetch_one(pool)
            .await?;
    if !exists {
        return Err(ComplianceError::NotFound(format!(
            "merchant {merchant} (registered on chain and indexed)"
        )));
    }
    let category: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM compliance.category WHERE code = $1)")
            .bind(&app.category)
            .fetch_one(pool)
            .await?;
    if !category {
        return Err(bad(format!(
            "category {:?} is not a known category",
            app.category
        )));
    }
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO compliance.kyb_case (merchant, legal_name, registration_number, jurisdiction,
                                          address, category, submitted_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
    )
    .bind(&merchant.to_bytes()[..])
    .bind(app.legal_name.trim())
    .bind(app.registration_number.trim())
    .bind(country("jurisdiction", &app.jurisdiction)?)
    .bind(app.address.trim())
    .bind(&app.category)
    .bind(by.account())
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| match &e {
        sqlx::Error::Database(d) if d.constraint() == Some("kyb_case_live") => {
            ComplianceError::Conflict(format!("merchant {merchant} has a KYB case already"))
        }
        _ => e.into(),
    })?;
    for p in &app.parties {
        sqlx::query(
            "INSERT INTO compliance.kyb_party (case_id, role, name, birth_date, nationality, ownership_bps)
             VALUES ($1, $2, $3, $4::date, $5, $6)",
        )
        .bind(id)
        .bind(&p.role)
        .bind(p.name.trim())
        .bind(&p.birth_date)
        .bind(p.nationality.as_deref().map(|n| n.trim().to_ascii_uppercase()))
        .bind(
            p.ownership_percent
                .map(|o| (o * Decimal::ONE_HUNDRED).trunc().to_string().parse::<i32>().unwrap_or(0)),
        )
        .execute(&mut *tx)
        .await?;
    }
    audit::record(
        &mut tx,
        by.account(),
        "kyb.submit",
        &format!("kyb:{id} merchant:{merchant}"),
        &sha256(serde_json::to_string(app).unwrap_or_default().as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    run_checks(pool, id).await?;
    Ok(id)
}

/// Where documents are kept: one file per content, named by its SHA-256.
#[derive(Debug, Clone)]
pub struct DocumentStore {
    pub dir: PathBuf,
}

impl DocumentStore {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, hash: &[u8; 32]) -> PathBuf {
        self.dir.join(hex::encode(hash))
    }

    /// Writes `bytes` (atomically: a temporary file renamed) unless already stored.
    fn put(&self, bytes: &[u8]) -> Result<[u8; 32]> {
        let hash = sha256(bytes);
        let path = self.path(&hash);
        if path.exists() {
            return Ok(hash);
        }
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            ComplianceError::Invalid(format!("document store {}: {e}", self.dir.display()))
        })?;
        let tmp = self.dir.join(format!(".{}.part", hex::encode(hash)));
        std::fs::write(&tmp, bytes)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| {
                ComplianceError::Invalid(format!("document store {}: {e}", self.dir.display()))
            })?;
        Ok(hash)
    }

    /// The stored file of `hash`, checked against it.
    pub fn get(&self, hash: &[u8; 32]) -> Result<Vec<u8>> {
        let bytes = std::fs::read(self.path(hash))
            .map_err(|_| ComplianceError::NotFound(format!("document {}", hex::encode(hash))))?;
        if sha256(&bytes) != *hash {
            return Err(ComplianceError::Corrupt(format!(
                "document {} does not match its hash",
                hex::encode(hash)
            )));
        }
        Ok(bytes)
    }

    fn remove(&self, hash: &[u8; 32]) {
        let _ = std::fs::remove_file(self.path(hash));
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Adds a document of `kind` to case `id`; the checks run again (and approvals given before
/// no longer count: officers approve what they saw).
pub async fn add_document(
    pool: &PgPool,
    store: &DocumentStore,
    id: i64,
    kind: &str,
    bytes: &[u8],
    by: &Actor,
) -> Result<String> {
    if !DOCUMENT_KINDS.contains(&kind) {
        return Err(bad(format!(
            "document kind {kind:?}: {}",
            DOCUMENT_KINDS.join(", ")
        )));
    }
    if bytes.is_empty() {
        return Err(bad("the document is empty"));
    }
    let state = lock_state(pool, id).await?;
    if !matches!(state.as_str(), "review" | "information_requested") {
        return Err(ComplianceError::Refused(format!(
            "KYB case {id} is {state}: documents are added while it is reviewed"
        )));
    }
    let hash = store.put(bytes)?;
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO compliance.kyb_document (case_id, kind, sha256, size, uploaded_by)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (case_id, kind, sha256) DO NOTHING",
    )
    .bind(id)
    .bind(kind)
    .bind(&hash[..])
    .bind(bytes.len() as i64)
    .bind(by.account())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE compliance.kyb_case SET content_at = now(), updated_at = now(),
                state = 'review'
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        by.account(),
        "kyb.document",
        &format!("kyb:{id} document:{kind}"),
        &hash,
        None,
    )
    .await?;
    tx.commit().await?;
    run_checks(pool, id).await?;
    Ok(hex::encode(hash))
}

async fn lock_state(pool: &PgPool, id: i64) -> Result<String> {
    sqlx::query_scalar("SELECT state FROM compliance.kyb_case WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| ComplianceError::NotFound(format!("KYB case {id}")))
}

/// The canonical record of case `id`: everything its approval attests, in a fixed order; its
/// SHA-256 is what goes on chain.
pub async fn canonical_record(pool: &PgPool, id: i64) -> Result<Value> {
    let c = sqlx::query(
        "SELECT merchant, legal_name, registration_number, jurisdiction, address, category, risk,
                risk_reasons
         FROM compliance.kyb_case WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ComplianceError::NotFound(format!("KYB case {id}")))?;
    let parties: Vec<Value> = sqlx::query(
        "SELECT role, name, to_char(birth_date, 'YYYY-MM-DD'), nationality, ownership_bps
         FROM compliance.kyb_party WHERE case_id = $1 ORDER BY role, name, id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        json!({ "role": r.get::<String, _>(0), "name": r.get::<String, _>(1),
                "birth_date": r.get::<Option<String>, _>(2),
                "nationality": r.get::<Option<String>, _>(3),
                "ownership_bps": r.get::<Option<i32>, _>(4) })
    })
    .collect();
    let documents: Vec<Value> = sqlx::query(
        "SELECT kind, encode(sha256, 'hex') FROM compliance.kyb_document
         WHERE case_id = $1 ORDER BY kind, sha256",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| json!({ "kind": r.get::<String, _>(0), "sha256": r.get::<String, _>(1) }))
    .collect();
    Ok(json!({
        "case": id,
        "merchant": pubkey(&c.get::<Vec<u8>, _>(0), "case merchant")?.to_string(),
        "legal_name": c.get::<String, _>(1),
        "registration_number": c.get::<String, _>(2),
        "jurisdiction": c.get::<String, _>(3),
        "address": c.get::<String, _>(4),
        "category": c.get::<String, _>(5),
        "risk": c.get::<String, _>(6),
        "risk_reasons": c.get::<Value, _>(7),
        "parties": parties,
        "documents": documents,
    }))
}

/// How long an approval holds before the case is reviewed again, by risk.
pub fn review_months(risk: &str) -> u8 {
    match risk {
        "low" => 36,
        "medium" => 24,
        _ => 12,
    }
}

/// What a decision did.
#[derive(Debug, Clone, Serialize)]
pub struct Decided {
    pub case: i64,
    pub state: String,
    /// Approvals still needed (a high-risk case's second officer).
    pub approvals_needed: u8,
    /// The on-chain action (attestation or suspension) and its transaction.
    pub action: Option<actions::Action>,
}

/// An officer's decision on case `id`: `approve`, `reject`, `request_information` or
/// `suspend`, with a note. Approval and suspension go on chain with the compliance key.
pub async fn decide(
    pool: &PgPool,
    rpc: &RpcClient,
    key: &Keypair,
    id: i64,
    decision: &str,
    note: &str,
    by: &Actor,
) -> Result<Decided> {
    let officer = by
        .account()
        .ok_or_else(|| ComplianceError::Refused("only a named officer decides KYB cases".into()))?;
    if note.trim().is_empty() || note.len() > 5000 {
        return Err(bad("a decision needs a note (1 to 5,000 characters)"));
    }
    if !matches!(
        decision,
        "approve" | "reject" | "request_information" | "suspend"
    ) {
        return Err(bad(format!(
            "decision {decision:?}: approve, reject, request_information or suspend"
        )));
    }
    let state = lock_state(pool, id).await?;
    let open = matches!(state.as_str(), "review" | "information_requested");
    match decision {
        "suspend" if state != "approved" => {
            return Err(ComplianceError::Refused(format!(
                "KYB case {id} is {state}: only an approved merchant is suspended"
            )))
        }
        "approve" | "reject" | "request_information" if !open => {
            return Err(ComplianceError::Refused(format!(
                "KYB case {id} is {state}: it is not under review"
            )))
        }
        _ => {}
    }
    let merchant: Vec<u8> =
        sqlx::query_scalar("SELECT merchant FROM compliance.kyb_case WHERE id = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
    let merchant = pubkey(&merchant, "case merchant")?;

    if decision == "approve" {
        // The checks run again against the lists in force now.
        let (risk, reasons) = run_checks(pool, id).await?;
        if risk == "prohibited" {
            let why: Vec<String> = reasons
                .iter()
                .filter(|r| r.risk == "prohibited")
                .map(|r| r.reason.clone())
                .collect();
            return Err(ComplianceError::Refused(format!(
                "KYB case {id} cannot be approved: {}",
                why.join("; ")
            )));
        }
        let missing: Vec<String> =
            sqlx::query_scalar("SELECT jsonb_array_elements_text(checks -> 'documents_missing') FROM compliance.kyb_case WHERE id = $1")
                .bind(id)
                .fetch_all(pool)
                .await?;
        if !missing.is_empty() {
            return Err(ComplianceError::Refused(format!(
                "KYB case {id} cannot be approved before its documents: {} missing",
                missing.join(", ")
            )));
        }
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT 1 FROM compliance.kyb_case WHERE id = $1 FOR UPDATE")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Approvals that count: since the last other decision and the last content change.
        let approvers: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT d.officer FROM compliance.kyb_decision d JOIN compliance.kyb_case k ON k.id = d.case_id
             WHERE d.case_id = $1 AND d.decision = 'approve' AND d.at >= k.content_at
               AND d.id > coalesce((SELECT max(id) FROM compliance.kyb_decision
                                    WHERE case_id = $1 AND decision <> 'approve'), 0)",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let needed: usize = if risk == "high" { 2 } else { 1 };
        let again = approvers.contains(&officer);
        if again && approvers.len() < needed {
            return Err(ComplianceError::Refused(format!(
                "officer {officer} has approved KYB case {id} already: a high-risk case needs a second, different officer"
            )));
        }
        // An officer approving again after enough approvals retries the attestation.
        if !again {
            record_decision(&mut tx, id, officer, decision, note).await?;
        }
        let approvals = approvers.len() + usize::from(!again);
        tx.commit().await?;
        if approvals < needed {
            return Ok(Decided {
                case: id,
                state,
                approvals_needed: (needed - approvals) as u8,
                action: None,
            });
        }
        let record = canonical_record(pool, id).await?;
        let hash = sha256(record.to_string().as_bytes());
        // The attestation asked for by an earlier attempt, if any, is the one sent.
        let earlier: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM compliance.action
             WHERE kind = 'kyb_attest' AND target = $1 AND hash = $2 AND state <> 'failed'
             ORDER BY id DESC LIMIT 1",
        )
        .bind(&merchant.to_bytes()[..])
        .bind(&hash[..])
        .fetch_optional(pool)
        .await?;
        let action = match earlier {
            Some(a) => a,
            None => {
                actions::request(
                    pool,
                    by,
                    actions::Ask {
                        kind: Kind::KybAttest,
                        target: merchant,
                        case: None,
                        reason: &format!("KYB case {id} approved ({risk} risk)"),
                        hash: Some(hash),
                    },
                    Some(rpc),
                )
                .await?
            }
        };
        let done = actions::perform(pool, rpc, key, action).await?;
        if done.state != "sent" {
            return Err(ComplianceError::Cluster(format!(
                "the attestation of KYB case {id} did not land: {}",
                done.error.clone().unwrap_or_else(|| done.state.clone())
            )));
        }
        let months = review_months(&risk);
        sqlx::query(
            "UPDATE compliance.kyb_case SET state = 'approved', case_hash = $2, updated_at = now(),
                    review_due = (current_date + make_interval(months => $3))::date
             WHERE id = $1",
        )
        .bind(id)
        .bind(&hash[..])
        .bind(months as i32)
        .execute(pool)
        .await?;
        sqlx::query(
            "INSERT INTO compliance.merchant_risk (merchant, tier, source) VALUES ($1, $2, $3)
             ON CONFLICT (merchant) DO UPDATE SET tier = excluded.tier, source = excluded.source,
                                                  rated_at = now()",
        )
        .bind(&merchant.to_bytes()[..])
        .bind(&risk)
        .bind(format!("kyb case {id}"))
        .execute(pool)
        .await?;
        return Ok(Decided {
            case: id,
            state: "approved".into(),
            approvals_needed: 0,
            action: Some(done),
        });
    }

    let next = match decision {
        "reject" => "rejected",
        "request_information" => "information_requested",
        _ => "suspended",
    };
    let action = if decision == "suspend" {
        let record = json!({ "case": id, "suspended": note });
        let a = actions::request(
            pool,
            by,
            actions::Ask {
                kind: Kind::KybSuspend,
                target: merchant,
                case: None,
                reason: &format!("KYB case {id} suspended"),
                hash: Some(sha256(record.to_string().as_bytes())),
            },
            Some(rpc),
        )
        .await?;
        let done = actions::perform(pool, rpc, key, a).await?;
        if done.state != "sent" {
            return Err(ComplianceError::Cluster(format!(
                "the suspension of KYB case {id} did not land: {}",
                done.error.clone().unwrap_or_else(|| done.state.clone())
            )));
        }
        Some(done)
    } else {
        None
    };
    let mut tx = pool.begin().await?;
    record_decision(&mut tx, id, officer, decision, note).await?;
    sqlx::query("UPDATE compliance.kyb_case SET state = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(next)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Decided {
        case: id,
        state: next.into(),
        approvals_needed: 0,
        action,
    })
}

async fn record_decision(
    conn: &mut sqlx::PgConnection,
    id: i64,
    officer: i64,
    decision: &str,
    note: &str,
) -> Result<()> {
    let d: i64 = sqlx::query_scalar(
        "INSERT INTO compliance.kyb_decision (case_id, officer, decision, note)
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(id)
    .bind(officer)
    .bind(decision)
    .bind(note.trim())
    .fetch_one(&mut *conn)
    .await?;
    audit::record(
        conn,
        Some(officer),
        &format!("kyb.{decision}"),
        &format!("kyb:{id} decision:{d}"),
        &sha256(note.as_bytes()),
        None,
    )
    .await
}

/// Erases the personal data of case `id` on request: its people's names, birth dates and
/// nationalities, and its documents' files (their hashes stay). The audit log is untouched.
pub async fn erase(
    pool: &PgPool,
    store: &DocumentStore,
    id: i64,
    reason: &str,
    by: &Actor,
) -> Result<()> {
    let officer = by
        .account()
        .ok_or_else(|| ComplianceError::Refused("only a named officer erases data".into()))?;
    if reason.trim().is_empty() {
        return Err(bad("an erasure needs its reason (the request it answers)"));
    }
    let mut tx = pool.begin().await?;
    let state: Option<String> =
        sqlx::query_scalar("SELECT state FROM compliance.kyb_case WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    state.ok_or_else(|| ComplianceError::NotFound(format!("KYB case {id}")))?;
    sqlx::query(
        "UPDATE compliance.kyb_party SET name = '[erased]', birth_date = NULL, nationality = NULL
         WHERE case_id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let hashes: Vec<Vec<u8>> = sqlx::query_scalar(
        "UPDATE compliance.kyb_document SET stored = false WHERE case_id = $1 AND stored RETURNING sha256",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE compliance.kyb_case SET erased_at = now(), updated_at = now(),
                checks = checks - 'name_hits' - 'nationalities'
         WHERE id = $1",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        Some(officer),
        "kyb.erase",
        &format!("kyb:{id}"),
        &sha256(reason.as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    // Files go after the commit: a file still shared by another live case stays.
    for h in hashes {
        let shared: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM compliance.kyb_document WHERE sha256 = $1 AND stored)",
        )
        .bind(&h)
        .fetch_one(pool)
        .await?;
        if let (false, Ok(h)) = (shared, <[u8; 32]>::try_from(h.as_slice())) {
            store.remove(&h);
        }
    }
    Ok(())
}

/// A case as officers read it.
pub async fn get(pool: &PgPool, id: i64) -> Result<Value> {
    let c = sqlx::query(
        "SELECT merchant, state, legal_name, registration_number, jurisdiction, address, category,
                risk, risk_reasons, checks, encode(case_hash, 'hex'), to_char(review_due, 'YYYY-MM-DD'),
                erased_at IS NOT NULL, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
         FROM compliance.kyb_case WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ComplianceError::NotFound(format!("KYB case {id}")))?;
    let parties: Vec<Value> = sqlx::query(
        "SELECT role, name, to_char(birth_date, 'YYYY-MM-DD'), nationality, ownership_bps
         FROM compliance.kyb_party WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        json!({ "role": r.get::<String, _>(0), "name": r.get::<String, _>(1),
                "birth_date": r.get::<Option<String>, _>(2),
                "nationality": r.get::<Option<String>, _>(3),
                "ownership_percent": r.get::<Option<i32>, _>(4)
                    .map(|b| (Decimal::from(b) / Decimal::ONE_HUNDRED).normalize().to_string()) })
    })
    .collect();
    let documents: Vec<Value> = sqlx::query(
        "SELECT kind, encode(sha256, 'hex'), size, stored FROM compliance.kyb_document
         WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        json!({ "kind": r.get::<String, _>(0), "sha256": r.get::<String, _>(1),
                "size": r.get::<i64, _>(2), "stored": r.get::<bool, _>(3) })
    })
    .collect();
    let decisions: Vec<Value> = sqlx::query(
        "SELECT officer, decision, note, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
         FROM compliance.kyb_decision WHERE case_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| {
        json!({ "officer": r.get::<i64, _>(0), "decision": r.get::<String, _>(1),
                "note": r.get::<String, _>(2), "at": r.get::<String, _>(3) })
    })
    .collect();
    Ok(json!({
        "id": id,
        "merchant": pubkey(&c.get::<Vec<u8>, _>(0), "case merchant")?.to_string(),
        "state": c.get::<String, _>(1),
        "legal_name": c.get::<String, _>(2),
        "registration_number": c.get::<String, _>(3),
        "jurisdiction": c.get::<String, _>(4),
        "address": c.get::<String, _>(5),
        "category": c.get::<String, _>(6),
        "risk": c.get::<String, _>(7),
        "risk_reasons": c.get::<Value, _>(8),
        "checks": c.get::<Value, _>(9),
        "case_hash": c.get::<Option<String>, _>(10),
        "review_due": c.get::<Option<String>, _>(11),
        "erased": c.get::<bool, _>(12),
        "created_at": c.get::<String, _>(13),
        "parties": parties,
        "documents": documents,
        "decisions": decisions,
    }))
}

/// Cases, newest first: in `state` when given, or approved ones whose review is due by `due`.
pub async fn list(
    pool: &PgPool,
    state: Option<&str>,
    due: Option<Date>,
    limit: i64,
) -> Result<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT id, merchant, state, legal_name, risk, to_char(review_due, 'YYYY-MM-DD')
         FROM compliance.kyb_case
         WHERE ($1::text IS NULL OR state = $1)
           AND ($2::date IS NULL OR (state = 'approved' AND review_due <= $2))
         ORDER BY id DESC LIMIT $3",
    )
    .bind(state)
    .bind(due)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(json!({
                "id": r.get::<i64, _>(0),
                "merchant": pubkey(&r.get::<Vec<u8>, _>(1), "case merchant")?.to_string(),
                "state": r.get::<String, _>(2),
                "legal_name": r.get::<String, _>(3),
                "risk": r.get::<String, _>(4),
                "review_due": r.get::<Option<String>, _>(5),
            }))
        })
        .collect()
}

/// The jurisdictions that are not standard risk: (code, level, note).
pub async fn jurisdictions(pool: &PgPool) -> Result<Vec<(String, String, String)>> {
    Ok(
        sqlx::query_as("SELECT code, level, note FROM compliance.jurisdiction ORDER BY code")
            .fetch_all(pool)
            .await?,
    )
}

/// Sets `code`'s level (`sanctioned` or `high`; `standard` takes it off the table). Cases
/// checked from now on read it; approved cases are not re-rated until their review.
pub async fn set_jurisdiction(
    pool: &PgPool,
    code: &str,
    level: &str,
    note: &str,
    by: &Actor,
) -> Result<()> {
    let code = country("code", code)?;
    let mut tx = pool.begin().await?;
    match level {
        "sanctioned" | "high" => {
            sqlx::query(
                "INSERT INTO compliance.jurisdiction (code, level, note) VALUES ($1, $2, $3)
                 ON CONFLICT (code) DO UPDATE SET level = excluded.level, note = excluded.note",
            )
            .bind(&code)
            .bind(level)
            .bind(note.trim())
            .execute(&mut *tx)
            .await?;
        }
        "standard" => {
            sqlx::query("DELETE FROM compliance.jurisdiction WHERE code = $1")
                .bind(&code)
                .execute(&mut *tx)
                .await?;
        }
        other => {
            return Err(bad(format!(
                "level {other:?}: sanctioned, high or standard"
            )))
        }
    }
    audit::record(
        &mut tx,
        by.account(),
        "kyb.jurisdiction",
        &format!("jurisdiction:{code}"),
        &sha256(format!("{level}\n{note}").as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Business categories: (code, level, description).
pub async fn categories(pool: &PgPool) -> Result<Vec<(String, String, String)>> {
    Ok(
        sqlx::query_as("SELECT code, level, description FROM compliance.category ORDER BY code")
            .fetch_all(pool)
            .await?,
    )
}

/// Adds a category or changes its level (`prohibited`, `high`, `standard`).
pub async fn set_category(
    pool: &PgPool,
    code: &str,
    level: &str,
    description: &str,
    by: &Actor,
) -> Result<()> {
    let valid = (2..=41).contains(&code.len())
        && code.as_bytes()[0].is_ascii_lowercase()
        && code
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-');
    if !valid {
        return Err(bad(format!(
            "category code {code:?}: 2 to 41 of a-z, 0-9 and -, from a letter"
        )));
    }
    if !matches!(level, "prohibited" | "high" | "standard") {
        return Err(bad(format!(
            "level {level:?}: prohibited, high or standard"
        )));
    }
    if description.trim().is_empty() {
        return Err(bad("a category needs its description"));
    }
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO compliance.category (code, level, description) VALUES ($1, $2, $3)
         ON CONFLICT (code) DO UPDATE SET level = excluded.level, description = excluded.description",
    )
    .bind(code)
    .bind(level)
    .bind(description.trim())
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        by.account(),
        "kyb.category",
        &format!("category:{code}"),
        &sha256(format!("{level}\n{description}").as_bytes()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
