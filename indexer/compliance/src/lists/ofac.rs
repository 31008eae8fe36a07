//! OFAC's lists, in both published forms.
//!
//! `SDN_ADVANCED.XML` (root `Sanctions`, namespace
//! `https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML`,
//! before May 2024 `http://www.un.org/sanctions/1.0`): reference tables give meaning to ids
//! (feature types, party types, countries, name part types, sanctions types); each
//! `DistinctParty/Profile` has its identity's aliases (one `Primary`), its features
//! (`Digital Currency Address - <CODE>` with the address as `VersionDetail`, `Location`
//! pointing at a location's country), and `SanctionsEntries` list each profile's programmes.
//! Feature types are matched by their text, never by id.
//!
//! The `sdn.csv` family: headerless CSV with `-0- ` for empty fields and a `0x1A` byte at the
//! end; `sdn.csv` (ent_num, name, type, programs joined by `] [`, …, remarks, where the
//! digital-currency addresses are), `add.csv` (addresses and their countries), `alt.csv`
//! (alternate names) and `sdn_comments.csv` (the rest of remarks longer than the field).

use super::{
    xml::{Element, Node, Xml},
    Entry, Parsed,
};
use crate::{ComplianceError, Result};
use std::collections::HashMap;

const ADVANCED: &str = "ofac-advanced";
const CSV: &str = "ofac-csv";
const NAMESPACES: [&str; 2] = [
    "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML",
    "http://www.un.org/sanctions/1.0",
];
const CURRENCY_FEATURE: &str = "Digital Currency Address - ";

#[derive(Default)]
struct Reference {
    feature: HashMap<String, String>,
    /// Party subtype id → (party type id, subtype text).
    subtype: HashMap<String, (String, String)>,
    party_type: HashMap<String, String>,
    /// Country id → ISO 3166 alpha-2 (or its name when the file gives no code).
    country: HashMap<String, String>,
    name_part: HashMap<String, String>,
    sanctions_type: HashMap<String, String>,
}

impl Reference {
    fn read(&mut self, sets: &Element) {
        fn table<'e>(
            sets: &'e Element,
            set: &str,
            item: &str,
        ) -> Vec<(String, String, &'e Element)> {
            sets.child(set)
                .map(|s| {
                    s.children(item)
                        .filter_map(|e| Some((e.attr("ID")?.to_string(), e.text.clone(), e)))
                        .collect()
                })
                .unwrap_or_default()
        }
        for (id, text, _) in table(sets, "FeatureTypeValues", "FeatureType") {
            self.feature.insert(id, text);
        }
        for (id, text, e) in table(sets, "PartySubTypeValues", "PartySubType") {
            self.subtype.insert(
                id,
                (e.attr("PartyTypeID").unwrap_or_default().to_string(), text),
            );
        }
        for (id, text, _) in table(sets, "PartyTypeValues", "PartyType") {
            self.party_type.insert(id, text);
        }
        for (id, text, e) in table(sets, "CountryValues", "Country") {
            self.country
                .insert(id, e.attr("ISO2").map(String::from).unwrap_or(text));
        }
        for (id, text, _) in table(sets, "NamePartTypeValues", "NamePartType") {
            self.name_part.insert(id, text);
        }
        for (id, text, _) in table(sets, "SanctionsTypeValues", "SanctionsType") {
            self.sanctions_type.insert(id, text);
        }
    }

    fn kind(&self, subtype_id: &str) -> &'static str {
        let Some((party_type, text)) = self.subtype.get(subtype_id) else {
            return "other";
        };
        let text = if text.eq_ignore_ascii_case("unknown") {
            self.party_type
                .get(party_type)
                .map(String::as_str)
                .unwrap_or("")
        } else {
            text.as_str()
        };
        match text.to_ascii_lowercase().as_str() {
            "individual" => "individual",
            "entity" | "other entity" => "entity",
            "vessel" => "vessel",
            "aircraft" => "aircraft",
            _ => "other",
        }
    }
}

pub(super) fn advanced(bytes: &[u8]) -> Result<Parsed> {
    let mut xml = Xml::new(bytes, ADVANCED);
    loop {
        match xml.next()? {
            Node::Start { name, attrs } if name == "Sanctions" => {
                if let Some(ns) = super::xml::attr(&attrs, "xmlns") {
                    if !NAMESPACES.contains(&ns) {
                        return Err(xml.error(format!(
                            "namespace {ns} is not OFAC's advanced sanctions data standard"
                        )));
                    }
                }
                break;
            }
            Node::Start { name, .. } => {
                return Err(xml.error(format!(
                    "the root element is <{name}>, not SDN_ADVANCED's <Sanctions>"
                )))
            }
            Node::Eof => return Err(xml.error("no <Sanctions> element: not SDN_ADVANCED.XML")),
            _ => {}
        }
    }
    let mut reference = Reference::default();
    let mut published = String::new();
    let mut locations: HashMap<String, String> = HashMap::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut by_profile: HashMap<String, usize> = HashMap::new();
    loop {
        match xml.next()? {
            Node::Start { name, attrs } => match name.as_str() {
                "DateOfIssue" => {
                    let d = xml.element(name, attrs)?;
                    let part = |n: &str| d.child(n).map(|e| e.text.clone()).unwrap_or_default();
                    published =
                        format!("{}-{:0>2}-{:0>2}", part("Year"), part("Month"), part("Day"));
                }
                "ReferenceValueSets" => reference.read(&xml.element(name, attrs)?),
                "Location" => {
                    let l = xml.element(name, attrs)?;
                    if let (Some(id), Some(country)) = (
                        l.attr("ID"),
                        l.child("LocationCountry").and_then(|c| c.attr("CountryID")),
                    ) {
                        if let Some(c) = reference.country.get(country) {
                            locations.insert(id.to_string(), c.clone());
                        }
                    }
                }
                "DistinctParty" => {
                    let party = xml.element(name, attrs)?;
                    for profile in party.children("Profile") {
                        let entry = profile_entry(&reference, &locations, profile)
                            .map_err(|e| xml.error(e))?;
                        by_profile.insert(entry.uid.clone(), entries.len());
                        entries.push(entry);
                    }
                }
                "SanctionsEntry" => {
                    let s = xml.element(name, attrs)?;
                    let Some(i) = s.attr("ProfileID").and_then(|p| by_profile.get(p)) else {
                        continue;
                    };
                    for m in s.children("SanctionsMeasure") {
                        let is_program = m
                            .attr("SanctionsTypeID")
                            .and_then(|t| reference.sanctions_type.get(t))
                            .is_none_or(|t| t.eq_ignore_ascii_case("program"));
                        if let Some(c) = m.child("Comment").filter(|c| !c.text.is_empty()) {
                            if is_program {
                                entries[*i].programs.push(c.text.clone());
                            }
                        }
                    }
                }
                _ => {}
            },
            Node::End(name) if name == "Sanctions" => break,
            Node::Eof => return Err(xml.error("the file ends before </Sanctions>")),
            _ => {}
        }
    }
    Ok(Parsed { published, entries })
}

fn profile_entry(
    reference: &Reference,
    locations: &HashMap<String, String>,
    profile: &Element,
) -> std::result::Result<Entry, String> {
    let uid = profile
        .attr("ID")
        .ok_or("a Profile without its ID")?
        .to_string();
    let kind = reference.kind(profile.attr("PartySubTypeID").unwrap_or_default());
    let mut primary = None;
    let mut aliases = Vec::new();
    for identity in profile.children("Identity") {
        // Name part group → its type ("Last Name", "First Name", …).
        let mut groups = Vec::new();
        identity.descendants("NamePartGroup", &mut groups);
        let group_type: HashMap<&str, &str> = groups
            .iter()
            .filter_map(|g| {
                Some((
                    g.attr("ID")?,
                    reference
                        .name_part
                        .get(g.attr("NamePartTypeID")?)
                        .map(String::as_str)
                        .unwrap_or(""),
                ))
            })
            .collect();
        for alias in identity.children("Alias") {
            for name in alias.children("DocumentedName") {
                let mut last = Vec::new();
                let mut rest = Vec::new();
                let mut values = Vec::new();
                name.descendants("NamePartValue", &mut values);
                for v in values {
                    let t = v
                        .attr("NamePartGroupID")
                        .and_then(|g| group_type.get(g))
                        .copied()
                        .unwrap_or("");
                    if t == "Last Name" {
                        last.push(v.text.as_str());
                    } else {
                        rest.push(v.text.as_str());
                    }
                }
                let full = match (last.is_empty(), rest.is_empty()) {
                    (false, false) => format!("{}, {}", last.join(" "), rest.join(" ")),
                    (false, true) => last.join(" "),
                    _ => rest.join(" "),
                };
                if full.trim().is_empty() {
                    continue;
                }
                if alias.attr("Primary") == Some("true") && primary.is_none() {
                    primary = Some(full);
                } else {
                    aliases.push(full);
                }
            }
        }
    }
    let name = primary.ok_or_else(|| format!("profile {uid} has no primary name"))?;
    let mut countries = Vec::new();
    let mut addresses = Vec::new();
    for feature in profile.children("Feature") {
        let Some(t) = feature
            .attr("FeatureTypeID")
            .and_then(|t| reference.feature.get(t))
        else {
            continue;
        };
        for version in feature.children("FeatureVersion") {
            if let Some(code) = t.strip_prefix(CURRENCY_FEATURE) {
                if let Some(d) = version
                    .child("VersionDetail")
                    .filter(|d| !d.text.is_empty())
                {
                    addresses.push((code.trim().to_string(), d.text.clone()));
                }
            } else if t == "Location" {
                for l in version.children("VersionLocation") {
                    if let Some(c) = l.attr("LocationID").and_then(|id| locations.get(id)) {
                        countries.push(c.clone());
                    }
                }
            }
        }
    }
    Ok(Entry {
        uid,
        kind,
        name,
        aliases,
        countries,
        programs: Vec::new(),
        addresses,
    })
}

/// A CSV field: `-0- ` (OFAC's empty) and blanks are `None`.
fn field(s: Option<&str>) -> Option<String> {
    let s = s?.trim();
    (!s.is_empty() && s != "-0-").then(|| s.to_string())
}

/// The records of one of the family's files (no header; the trailing `0x1A` ignored).
fn records(bytes: &[u8], file: &str) -> Result<Vec<csv::StringRecord>> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut out = Vec::new();
    for (i, r) in reader.records().enumerate() {
        let r =
            r.map_err(|e| ComplianceError::list(CSV, format!("{file} record {}: {e}", i + 1)))?;
        let first = r
            .get(0)
            .unwrap_or_default()
            .trim_matches(|c: char| c == '\u{1a}' || c.is_whitespace());
        if first.is_empty() && r.len() <= 1 {
            continue;
        }
        out.push(r);
    }
    Ok(out)
}

/// The digital-currency addresses in an SDN remark (`Digital Currency Address - XBT 1Abc…;`).
fn remark_addresses(remarks: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = remarks;
    while let Some(i) = rest.find(CURRENCY_FEATURE) {
        rest = &rest[i + CURRENCY_FEATURE.len()..];
        let mut words = rest.split_whitespace();
        if let (Some(code), Some(addr)) = (words.next(), words.next()) {
            let addr = addr.trim_end_matches([';', '.', ',']);
            if !addr.is_empty() {
                out.push((code.to_string(), addr.to_string()));
            }
        }
    }
    out
}

pub(super) fn csv(
    sdn: &[u8],
    add: Option<&[u8]>,
    alt: Option<&[u8]>,
    comments: Option<&[u8]>,
) -> Result<Parsed> {
    let mut more: HashMap<String, String> = HashMap::new();
    if let Some(c) = comments {
        for r in records(c, "sdn_comments.csv")? {
            if let (Some(id), Some(text)) = (field(r.get(0)), r.get(1)) {
                // Joined as given: a continuation may start with the space the cut fell on.
                more.entry(id).or_default().push_str(text);
            }
        }
    }
    let mut entries = Vec::new();
    let mut index = HashMap::new();
    for (i, r) in records(sdn, "sdn.csv")?.into_iter().enumerate() {
        if r.len() < 12 {
            return Err(ComplianceError::list(
                CSV,
                format!(
                    "sdn.csv record {}: {} fields; an SDN record has 12 (ent_num, name, type, programs, …, remarks)",
                    i + 1,
                    r.len()
                ),
            ));
        }
        let uid = field(r.get(0))
            .filter(|u| u.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                ComplianceError::list(
                    CSV,
                    format!("sdn.csv record {}: ent_num is not a number", i + 1),
                )
            })?;
        let name = field(r.get(1)).ok_or_else(|| {
            ComplianceError::list(
                CSV,
                format!("sdn.csv record {}: entry {uid} has no name", i + 1),
            )
        })?;
        let kind = match field(r.get(2))
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => "entity",
            Some("individual") => "individual",
            Some("vessel") => "vessel",
            Some("aircraft") => "aircraft",
            Some(_) => "other",
        };
        let programs = field(r.get(3))
            .map(|p| {
                p.split("] [")
                    .map(|s| s.trim_matches(['[', ']', ' ']).to_string())
                    .collect()
            })
            .unwrap_or_default();
        let mut remarks = field(r.get(11)).unwrap_or_default();
        if let Some(m) = more.get(&uid) {
            remarks.push_str(m);
        }
        index.insert(uid.clone(), entries.len());
        entries.push(Entry {
            uid,
            kind,
            name,
            aliases: Vec::new(),
            countries: Vec::new(),
            programs,
            addresses: remark_addresses(&remarks),
        });
    }
    if let Some(add) = add {
        for r in records(add, "add.csv")? {
            if let (Some(id), Some(country)) = (field(r.get(0)), field(r.get(4))) {
                if let Some(&i) = index.get(&id) {
                    entries[i].countries.push(country);
                }
            }
        }
    }
    if let Some(alt) = alt {
        for r in records(alt, "alt.csv")? {
            if let (Some(id), Some(name)) = (field(r.get(0)), field(r.get(3))) {
                if let Some(&i) = index.get(&id) {
                    entries[i].aliases.push(name);
                }
            }
        }
    }
    Ok(Parsed {
        published: String::new(),
        entries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remarks_give_their_addresses() {
        let r = "DOB 1990; Digital Currency Address - XBT 1AbC; alt. Digital Currency Address - SOL DgmxzQX61DxkAMkAubrgHVJb637fYYTdh7ouVqZGnJrp.";
        assert_eq!(
            remark_addresses(r),
            vec![
                ("XBT".to_string(), "1AbC".to_string()),
                (
                    "SOL".to_string(),
                    "DgmxzQX61DxkAMkAubrgHVJb637fYYTdh7ouVqZGnJrp".to_string()
                )
            ]
        );
    }
}
