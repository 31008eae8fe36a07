//! Sanctions and internal lists. A list has a format; each import of a file is a version with
//! its entries, its digital-currency addresses and what changed against the version before.
//! An import either stores the whole file and puts it in force, or refuses it with a message
//! naming the problem and leaves the version in force untouched. Importing the file in force
//! again is a no-op that answers with its version.

mod eu;
mod internal;
mod ofac;
mod xml;

use crate::{audit, sha256, ComplianceError, Result};
use serde::Serialize;
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgPool, Row};
use std::str::FromStr;

pub use internal::render as render_internal;

/// The formats lists come in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    /// OFAC's `SDN_ADVANCED.XML` (the advanced sanctions data standard).
    OfacAdvanced,
    /// OFAC's `sdn.csv` family: `sdn.csv`, with `add.csv` and `alt.csv` when given.
    OfacCsv,
    /// The EU consolidated financial sanctions list, `xmlFullSanctionsList_1_1`.
    EuFsf,
    /// Kassa's own lists: a CSV of `address,currency,name,reason`.
    Internal,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ofac-advanced" => Format::OfacAdvanced,
            "ofac-csv" => Format::OfacCsv,
            "eu-fsf" => Format::EuFsf,
            "internal" => Format::Internal,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Format::OfacAdvanced => "ofac-advanced",
            Format::OfacCsv => "ofac-csv",
            Format::EuFsf => "eu-fsf",
            Format::Internal => "internal",
        }
    }
}

/// One party (or wallet) on a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The list's own id for it.
    pub uid: String,
    /// individual, entity, vessel, aircraft, wallet or other.
    pub kind: &'static str,
    pub name: String,
    pub aliases: Vec<String>,
    /// ISO 3166 alpha-2 codes where the list gives them, else the country names it gives.
    pub countries: Vec<String>,
    pub programs: Vec<String>,
    /// (currency as the list names it, address).
    pub addresses: Vec<(String, String)>,
}

impl Entry {
    /// Sorted, deduplicated, so that equal entries have equal digests.
    fn canonical(mut self) -> Self {
        for v in [&mut self.aliases, &mut self.countries, &mut self.programs] {
            v.retain(|s| !s.trim().is_empty());
            v.sort();
            v.dedup();
        }
        self.aliases.retain(|a| a != &self.name);
        self.addresses.sort();
        self.addresses.dedup();
        self
    }

    fn digest(&self) -> [u8; 32] {
        sha256(&serde_json::to_vec(self).unwrap_or_default())
    }
}

/// A parsed file: the publication date it states (empty when none) and its entries.
#[derive(Debug, Default)]
pub struct Parsed {
    pub published: String,
    pub entries: Vec<Entry>,
}

/// The files of one import (most formats are one file; OFAC's CSV family may be several).
#[derive(Debug, Default)]
pub struct Files<'a> {
    pub main: &'a [u8],
    /// OFAC `add.csv` (addresses), for `ofac-csv`.
    pub addresses: Option<&'a [u8]>,
    /// OFAC `alt.csv` (alternate names), for `ofac-csv`.
    pub aliases: Option<&'a [u8]>,
    /// OFAC `sdn_comments.csv` (remarks too long for `sdn.csv`), for `ofac-csv`.
    pub comments: Option<&'a [u8]>,
}

impl<'a> Files<'a> {
    /// A format's single file.
    pub fn one(main: &'a [u8]) -> Self {
        Self {
            main,
            ..Self::default()
        }
    }
}

/// Reads `files` as `format`.
pub fn parse(format: Format, files: &Files<'_>) -> Result<Parsed> {
    let mut parsed = match format {
        Format::OfacAdvanced => ofac::advanced(files.main)?,
        Format::OfacCsv => ofac::csv(files.main, files.addresses, files.aliases, files.comments)?,
        Format::EuFsf => eu::parse(files.main)?,
        Format::Internal => internal::parse(files.main)?,
    };
    parsed.entries = parsed.entries.into_iter().map(Entry::canonical).collect();
    if parsed.entries.is_empty() {
        return Err(ComplianceError::list(
            format.as_str(),
            "the file holds no entries (a sanctions list is never empty: refusing it rather than clearing the list)",
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for e in &parsed.entries {
        if !seen.insert(e.uid.as_str()) {
            return Err(ComplianceError::list(
                format.as_str(),
                format!("entry id {} appears twice", e.uid),
            ));
        }
    }
    Ok(parsed)
}

/// A list and its version in force.
#[derive(Debug, Clone, Serialize)]
pub struct List {
    pub id: String,
    pub name: String,
    pub format: String,
    pub action: String,
    pub current: Option<i32>,
    pub entries: Option<i32>,
    pub addresses: Option<i32>,
    pub published: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Serialize)]
pub struct Imported {
    pub list: String,
    pub version: i32,
    /// False when this very file had been imported before (nothing was changed).
    pub new: bool,
    pub published: String,
    pub entries: i32,
    pub addresses: i32,
    pub added: i32,
    pub removed: i32,
    pub changed: i32,
}

/// Creates a list (or answers with it when it exists with the same format and action).
pub async fn create(
    pool: &PgPool,
    id: &str,
    name: &str,
    format: Format,
    action: &str,
) -> Result<()> {
    if !matches!(action, "refuse" | "review") {
        return Err(ComplianceError::Invalid(format!(
            "list action {action:?}: refuse or review"
        )));
    }
    let valid_id = id.len() >= 2
        && id.len() <= 40
        && id
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'_')
        && id.as_bytes()[0].is_ascii_alphanumeric();
    if !valid_id {
        return Err(ComplianceError::Invalid(format!(
            "list id {id:?}: 2 to 40 of a-z, 0-9, - and _"
        )));
    }
    let stored: Option<(String, String)> = sqlx::query_as(
        "WITH ins AS (
             INSERT INTO compliance.list (id, name, format, action) VALUES ($1, $2, $3, $4)
             ON CONFLICT (id) DO NOTHING RETURNING format, action)
         SELECT format, action FROM ins
         UNION ALL SELECT format, action FROM compliance.list WHERE id = $1",
    )
    .bind(id)
    .bind(name)
    .bind(format.as_str())
    .bind(action)
    .fetch_optional(pool)
    .await?;
    match stored {
        Some((f, a)) if f == format.as_str() && a == action => Ok(()),
        Some((f, a)) => Err(ComplianceError::Conflict(format!(
            "list {id} exists as {f} with action {a}"
        ))),
        None => Err(ComplianceError::Corrupt(format!("list {id} vanished"))),
    }
}

/// Every list with its version in force.
pub async fn all(pool: &PgPool) -> Result<Vec<List>> {
    let rows = sqlx::query(
        "SELECT l.id, l.name, l.format, l.action, l.current, v.entries, v.addresses, v.published
         FROM compliance.list l
         LEFT JOIN compliance.list_version v ON v.list = l.id AND v.version = l.current
         ORDER BY l.id",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| List {
            id: r.get(0),
            name: r.get(1),
            format: r.get(2),
            action: r.get(3),
            current: r.get(4),
            entries: r.get(5),
            addresses: r.get(6),
            published: r.get(7),
        })
        .collect())
}

/// Imports `files` into list `id` (by `by`, an officer's account id or a process name): a new
/// version in force, or a clear refusal with the version in force untouched.
pub async fn import(pool: &PgPool, id: &str, files: &Files<'_>, by: &Actor) -> Result<Imported> {
    let format: String = sqlx::query_scalar("SELECT format FROM compliance.list WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| ComplianceError::NotFound(format!("list {id}")))?;
    let format = Format::parse(&format)
        .ok_or_else(|| ComplianceError::Corrupt(format!("list {id} format {format}")))?;
    let mut whole = files.main.to_vec();
    for extra in [files.addresses, files.aliases, files.comments]
        .into_iter()
        .flatten()
    {
        whole.extend_from_slice(&sha256(extra));
    }
    let hash = sha256(&whole);
    if let Some(done) = imported_before(pool, id, &hash).await? {
        return Ok(done);
    }
    let parsed = parse(format, files)?;
    store(pool, id, hash, parsed, by).await
}

/// Who did something: an officer's API account, or a named process (the demo, a start-up
/// import from settings).
#[derive(Debug, Clone)]
pub enum Actor {
    /// An officer, by API account id.
    Officer(i64),
    Process(String),
}

impl Actor {
    pub fn account(&self) -> Option<i64> {
        match self {
            Actor::Officer(account) => Some(*account),
            Actor::Process(_) => None,
        }
    }

    pub fn label(&self) -> String {
        match self {
            Actor::Officer(account) => format!("account {account}"),
            Actor::Process(p) => p.clone(),
        }
    }
}

async fn imported_before(pool: &PgPool, id: &str, hash: &[u8; 32]) -> Result<Option<Imported>> {
    let row = sqlx::query(
        "SELECT v.version, v.published, v.entries, v.addresses, v.added, v.removed, v.changed
         FROM compliance.list l
         JOIN compliance.list_version v ON v.list = l.id AND v.version = l.current
         WHERE l.id = $1 AND v.sha256 = $2",
    )
    .bind(id)
    .bind(&hash[..])
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Imported {
        list: id.to_string(),
        version: r.get(0),
        new: false,
        published: r.get(1),
        entries: r.get(2),
        addresses: r.get(3),
        added: r.get(4),
        removed: r.get(5),
        changed: r.get(6),
    }))
}

/// Stores `parsed` as the next version of list `id` and puts it in force, in one transaction.
async fn store(
    pool: &PgPool,
    id: &str,
    hash: [u8; 32],
    parsed: Parsed,
    by: &Actor,
) -> Result<Imported> {
    let entries = parsed.entries;
    let mut tx = pool.begin().await?;
    let current: Option<i32> =
        sqlx::query_scalar("SELECT current FROM compliance.list WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
    // Imported concurrently by another request while this one parsed?
    if let Some(done) = imported_before(pool, id, &hash).await? {
        return Ok(done);
    }
    let version: i32 = sqlx::query_scalar(
        "SELECT coalesce(max(version), 0) + 1 FROM compliance.list_version WHERE list = $1",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    let n_addresses: usize = entries.iter().map(|e| e.addresses.len()).sum();
    sqlx::query(
        "INSERT INTO compliance.list_version
             (list, version, sha256, published, imported_by, entries, addresses,
              added, removed, changed)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, 0)",
    )
    .bind(id)
    .bind(version)
    .bind(&hash[..])
    .bind(&parsed.published)
    .bind(by.label())
    .bind(entries.len() as i32)
    .bind(n_addresses as i32)
    .execute(&mut *tx)
    .await?;
    // Entries and addresses in chunks of unnest arrays (a 100,000-entry list is a few
    // statements, not 100,000).
    for chunk in entries.chunks(5_000) {
        let mut uid = Vec::new();
        let mut kind = Vec::new();
        let mut name = Vec::new();
        let mut aliases = Vec::new();
        let mut countries = Vec::new();
        let mut programs = Vec::new();
        let mut digest = Vec::new();
        let (mut a_uid, mut a_cur, mut a_addr, mut a_wallet) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for e in chunk {
            uid.push(e.uid.clone());
            kind.push(e.kind);
            name.push(e.name.clone());
            // Postgres arrays of arrays must be rectangular: lists travel as JSON.
            aliases.push(serde_json::to_string(&e.aliases).unwrap_or_default());
            countries.push(serde_json::to_string(&e.countries).unwrap_or_default());
            programs.push(serde_json::to_string(&e.programs).unwrap_or_default());
            digest.push(e.digest().to_vec());
            for (cur, addr) in &e.addresses {
                a_uid.push(e.uid.clone());
                a_cur.push(cur.clone());
                a_addr.push(addr.clone());
                a_wallet.push(solana_wallet(addr).map(|k| k.to_bytes().to_vec()));
            }
        }
        sqlx::query(
            "INSERT INTO compliance.list_entry
                 (list, version, uid, kind, name, aliases, countries, programs, digest)
             SELECT $1, $2, u, k, n,
                    ARRAY(SELECT jsonb_array_elements_text(al::jsonb)),
                    ARRAY(SELECT jsonb_array_elements_text(c::jsonb)),
                    ARRAY(SELECT jsonb_array_elements_text(p::jsonb)), d
             FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                         $9::bytea[]) AS t(u, k, n, al, c, p, d)",
        )
        .bind(id)
        .bind(version)
        .bind(&uid)
        .bind(&kind)
        .bind(&name)
        .bind(&aliases)
        .bind(&countries)
        .bind(&programs)
        .bind(&digest)
        .execute(&mut *tx)
        .await
        .map_err(|e| invalid_entry(e, "an entry"))?;
        sqlx::query(
            "INSERT INTO compliance.list_address (list, version, uid, currency, address, wallet)
             SELECT $1, $2, u, c, a, w
             FROM unnest($3::text[], $4::text[], $5::text[], $6::bytea[]) AS t(u, c, a, w)",
        )
        .bind(id)
        .bind(version)
        .bind(&a_uid)
        .bind(&a_cur)
        .bind(&a_addr)
        .bind(&a_wallet)
        .execute(&mut *tx)
        .await
        .map_err(|e| invalid_entry(e, "an address"))?;
    }
    let (added, removed, changed): (i64, i64, i64) = match current {
        None => (entries.len() as i64, 0, 0),
        Some(prev) => sqlx::query_as(
            "SELECT count(*) FILTER (WHERE o.uid IS NULL),
                    count(*) FILTER (WHERE n.uid IS NULL),
                    count(*) FILTER (WHERE o.digest <> n.digest)
             FROM (SELECT uid, digest FROM compliance.list_entry WHERE list = $1 AND version = $2) n
             FULL JOIN (SELECT uid, digest FROM compliance.list_entry WHERE list = $1 AND version = $3) o
               USING (uid)",
        )
        .bind(id)
        .bind(version)
        .bind(prev)
        .fetch_one(&mut *tx)
        .await?,
    };
    sqlx::query(
        "UPDATE compliance.list_version SET added = $3, removed = $4, changed = $5
         WHERE list = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .bind(added as i32)
    .bind(removed as i32)
    .bind(changed as i32)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE compliance.list SET current = $2 WHERE id = $1")
        .bind(id)
        .bind(version)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE compliance.state SET exposure_dirty = true")
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        by.account(),
        "list.import",
        &format!("list:{id}@{version}"),
        &hash,
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(Imported {
        list: id.to_string(),
        version,
        new: true,
        published: parsed.published,
        entries: entries.len() as i32,
        addresses: n_addresses as i32,
        added: added as i32,
        removed: removed as i32,
        changed: changed as i32,
    })
}

/// A check constraint refusing a row names the field, not the database.
fn invalid_entry(e: sqlx::Error, what: &str) -> ComplianceError {
    match &e {
        sqlx::Error::Database(d) if d.code().as_deref() == Some("23514") => {
            ComplianceError::Invalid(format!(
                "{what} of the file breaks a limit ({}): an empty or over-long field",
                d.constraint().unwrap_or("check")
            ))
        }
        _ => e.into(),
    }
}

/// `address` as a Solana key, when it is one.
pub fn solana_wallet(address: &str) -> Option<Pubkey> {
    let a = address.trim();
    (32..=44)
        .contains(&a.len())
        .then(|| Pubkey::from_str(a).ok())?
}

/// One entry's change between two versions.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub uid: String,
    /// added, removed or changed.
    pub change: &'static str,
    pub name: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// What version `version` of list `id` changed against the version before it.
pub async fn changes(pool: &PgPool, id: &str, version: i32) -> Result<Vec<Change>> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM compliance.list_version WHERE list = $1 AND version = $2)",
    )
    .bind(id)
    .bind(version)
    .fetch_one(pool)
    .await?;
    if !exists {
        return Err(ComplianceError::NotFound(format!(
            "list {id} version {version}"
        )));
    }
    let rows = sqlx::query(
        "WITH e AS (
             SELECT e.version, e.uid, e.digest,
                    jsonb_build_object('kind', e.kind, 'name', e.name, 'aliases', e.aliases,
                        'countries', e.countries, 'programs', e.programs,
                        'addresses', coalesce((SELECT jsonb_agg(jsonb_build_array(a.currency, a.address)
                                                         ORDER BY a.currency, a.address)
                                               FROM compliance.list_address a
                                               WHERE (a.list, a.version, a.uid) = (e.list, e.version, e.uid)),
                                              '[]')) AS body
             FROM compliance.list_entry e WHERE e.list = $1 AND e.version IN ($2, $2 - 1))
         SELECT uid,
                CASE WHEN o.uid IS NULL THEN 'added' WHEN n.uid IS NULL THEN 'removed' ELSE 'changed' END,
                coalesce(n.body, o.body) ->> 'name', o.body, n.body
         FROM (SELECT * FROM e WHERE version = $2) n
         FULL JOIN (SELECT * FROM e WHERE version = $2 - 1) o USING (uid)
         WHERE o.uid IS NULL OR n.uid IS NULL OR o.digest <> n.digest
         ORDER BY uid",
    )
    .bind(id)
    .bind(version)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Change {
            uid: r.get(0),
            change: match r.get::<String, _>(1).as_str() {
                "added" => "added",
                "removed" => "removed",
                _ => "changed",
            },
            name: r.get(2),
            before: r.get(3),
            after: r.get(4),
        })
        .collect())
}

/// The entries of the internal list `id` in force, in its own CSV form.
pub async fn internal_entries(pool: &PgPool, id: &str) -> Result<Vec<Entry>> {
    let rows = sqlx::query(
        "SELECT e.uid, e.name, e.programs,
                coalesce((SELECT a.currency FROM compliance.list_address a
                          WHERE (a.list, a.version, a.uid) = (e.list, e.version, e.uid) LIMIT 1), 'SOL')
         FROM compliance.list l
         JOIN compliance.list_entry e ON e.list = l.id AND e.version = l.current
         WHERE l.id = $1 AND l.format = 'internal' ORDER BY e.uid",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let uid: String = r.get(0);
            Entry {
                addresses: vec![(r.get(3), uid.clone())],
                uid,
                kind: "wallet",
                name: r.get(1),
                aliases: Vec::new(),
                countries: Vec::new(),
                programs: r.get(2),
            }
        })
        .collect())
}

/// Adds `address` to (or, with `remove`, takes it off) the internal list `id`: a new version.
pub async fn edit_internal(
    pool: &PgPool,
    id: &str,
    address: &str,
    name: &str,
    reason: &str,
    remove: bool,
    by: &Actor,
) -> Result<Imported> {
    let format: Option<String> =
        sqlx::query_scalar("SELECT format FROM compliance.list WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    match format.as_deref() {
        None => return Err(ComplianceError::NotFound(format!("list {id}"))),
        Some("internal") => {}
        Some(f) => {
            return Err(ComplianceError::Refused(format!(
                "list {id} is a published {f} list: it changes only by importing a new file"
            )))
        }
    }
    if solana_wallet(address).is_none() {
        return Err(ComplianceError::Invalid(format!(
            "{address:?} is not a Solana address"
        )));
    }
    let mut entries = internal_entries(pool, id).await?;
    let had = entries.iter().any(|e| e.uid == address);
    if remove {
        if !had {
            return Err(ComplianceError::NotFound(format!("{address} on list {id}")));
        }
        entries.retain(|e| e.uid != address);
    } else {
        entries.retain(|e| e.uid != address);
        entries.push(internal::entry(address, "SOL", name, reason)?);
    }
    let body = render_internal(&entries);
    if entries.is_empty() {
        return Err(ComplianceError::Refused(format!(
            "removing {address} would leave list {id} empty; add another entry first"
        )));
    }
    import(pool, id, &Files::one(body.as_bytes()), by).await
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADVANCED: &[u8] = include_bytes!("../../samples/SDN_ADVANCED.sample.xml");
    const SDN: &[u8] = include_bytes!("../../samples/sdn.sample.csv");
    const ADD: &[u8] = include_bytes!("../../samples/add.sample.csv");
    const ALT: &[u8] = include_bytes!("../../samples/alt.sample.csv");
    const COMMENTS: &[u8] = include_bytes!("../../samples/sdn_comments.sample.csv");
    const EU: &[u8] = include_bytes!("../../samples/xmlFullSanctionsList_1_1.sample.xml");
    const SANCTIONED: &str = "DgmxzQX61DxkAMkAubrgHVJb637fYYTdh7ouVqZGnJrp";

    fn by_uid<'a>(p: &'a Parsed, uid: &str) -> &'a Entry {
        p.entries.iter().find(|e| e.uid == uid).unwrap()
    }

    #[test]
    fn the_two_ofac_forms_say_the_same() {
        let xml = parse(Format::OfacAdvanced, &Files::one(ADVANCED)).unwrap();
        let csv = parse(
            Format::OfacCsv,
            &Files {
                main: SDN,
                addresses: Some(ADD),
                aliases: Some(ALT),
                comments: Some(COMMENTS),
            },
        )
        .unwrap();
        assert_eq!(xml.published, "2025-06-02");
        assert_eq!(xml.entries.len(), 6);
        assert_eq!(csv.entries.len(), 6);
        for x in &xml.entries {
            let c = by_uid(&csv, &x.uid).clone().canonical();
            let x = x.clone().canonical();
            assert_eq!(x.kind, c.kind, "{}", x.uid);
            assert_eq!(x.name, c.name, "{}", x.uid);
            assert_eq!(x.programs, c.programs, "{}", x.uid);
            assert_eq!(x.addresses, c.addresses, "{}", x.uid);
        }
        let holder = by_uid(&xml, "9000001");
        assert_eq!(holder.kind, "entity");
        assert_eq!(
            holder.addresses,
            vec![("SOL".to_string(), SANCTIONED.to_string())]
        );
        assert_eq!(holder.countries, vec!["RU".to_string()]);
        let ivanov = by_uid(&xml, "9000002");
        assert_eq!(
            (ivanov.kind, ivanov.name.as_str()),
            ("individual", "IVANOV, Pyotr Sergeyevich")
        );
        assert_eq!(ivanov.aliases, vec!["IVANOFF, Peter".to_string()]);
        // The remark cut at 1,000 characters continues in sdn_comments.csv.
        let suex = by_uid(&csv, "33151");
        assert_eq!(suex.addresses.len(), by_uid(&xml, "33151").addresses.len());
        assert!(suex.addresses.len() > 20);
    }

    #[test]
    fn the_eu_list_reads_its_entities() {
        let eu = parse(Format::EuFsf, &Files::one(EU)).unwrap();
        assert_eq!(eu.entries.len(), 6);
        assert!(eu.published.starts_with("2024-12-11"));
        let firm = by_uid(&eu, "990001");
        assert_eq!(firm.kind, "entity");
        assert_eq!(firm.name, "Kassa Test Sanctioned Trading GmbH");
        assert_eq!(firm.aliases, vec!["KTST GmbH".to_string()]);
        assert_eq!(firm.programs, vec!["RUS".to_string()]);
        assert!(firm.countries.contains(&"BY".to_string()));
        let person = by_uid(&eu, "990002");
        assert_eq!(person.kind, "individual");
        assert!(person
            .aliases
            .contains(&"Пётр Сергеевич Иванов".to_string()));
        assert_eq!(person.countries, vec!["RU".to_string()]);
    }

    #[test]
    fn malformed_files_are_refused_with_the_problem_named() {
        let cut = &ADVANCED[..ADVANCED.len() / 2];
        let e = parse(Format::OfacAdvanced, &Files::one(cut)).unwrap_err();
        assert!(e.to_string().starts_with("ofac-advanced list:"), "{e}");
        let e = parse(Format::OfacAdvanced, &Files::one(EU)).unwrap_err();
        assert!(
            e.to_string().contains("not SDN_ADVANCED's <Sanctions>"),
            "{e}"
        );
        let e = parse(Format::EuFsf, &Files::one(ADVANCED)).unwrap_err();
        assert!(e.to_string().contains("<export>"), "{e}");
        let e = parse(
            Format::OfacCsv,
            &Files {
                main: b"1,\"ONLY A NAME\"\r\n",
                ..Default::default()
            },
        )
        .unwrap_err();
        assert!(e.to_string().contains("12"), "{e}");
        let e = parse(Format::OfacCsv, &Files::one(b"\x1a")).unwrap_err();
        assert!(e.to_string().contains("no entries"), "{e}");
    }
}
