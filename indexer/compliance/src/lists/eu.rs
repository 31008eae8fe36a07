//! The EU consolidated financial sanctions list, `xmlFullSanctionsList_1_1`: an `export`
//! root (namespace `http://eu.europa.ec/fpi/fsd/export`, `generationDate`) of
//! `sanctionEntity` elements keyed by `logicalId`, each with its `regulation`s (the
//! `programme`), `subjectType` (`person`, `enterprise`), `nameAlias`es (`wholeName`, or first,
//! middle and last names), and `citizenship`, `address` and `birthdate` countries
//! (`countryIso2Code`, `00` when unknown). The list has no field for wallet addresses; the EU
//! publishes them in remarks, so every `remark` is scanned for Solana addresses.

use super::{
    solana_wallet,
    xml::{attr, Node, Xml},
    Entry, Parsed,
};
use crate::Result;

const FORMAT: &str = "eu-fsf";
const NAMESPACE: &str = "http://eu.europa.ec/fpi/fsd/export";

pub(super) fn parse(bytes: &[u8]) -> Result<Parsed> {
    let mut xml = Xml::new(bytes, FORMAT);
    let published = loop {
        match xml.next()? {
            Node::Start { name, attrs } if name == "export" => {
                if attr(&attrs, "xmlns").is_some_and(|ns| ns != NAMESPACE) {
                    return Err(xml.error(format!("the export's namespace is not {NAMESPACE}")));
                }
                break attr(&attrs, "generationDate")
                    .unwrap_or_default()
                    .to_string();
            }
            Node::Start { name, .. } => {
                return Err(xml.error(format!(
                    "the root element is <{name}>, not the EU list's <export>"
                )))
            }
            Node::Eof => return Err(xml.error("no <export> element: not an EU sanctions list")),
            _ => {}
        }
    };
    let mut entries = Vec::new();
    loop {
        match xml.next()? {
            Node::Start { name, attrs } if name == "sanctionEntity" => {
                let uid = attr(&attrs, "logicalId")
                    .ok_or_else(|| xml.error("a sanctionEntity without its logicalId"))?
                    .to_string();
                entries.push(entity(&mut xml, uid)?);
            }
            Node::Start { .. } => {
                xml.text()?;
            }
            Node::End(name) if name == "export" => break,
            Node::Eof => return Err(xml.error("the file ends before </export>")),
            _ => {}
        }
    }
    Ok(Parsed { published, entries })
}

fn entity(xml: &mut Xml<'_>, uid: String) -> Result<Entry> {
    let mut kind = "other";
    let mut names: Vec<String> = Vec::new();
    let mut countries = Vec::new();
    let mut programs = Vec::new();
    let mut addresses = Vec::new();
    let mut depth = 1;
    while depth > 0 {
        match xml.next()? {
            Node::Start { name, attrs } => {
                match name.as_str() {
                    "subjectType" => {
                        kind = match attr(&attrs, "code") {
                            Some("person") => "individual",
                            Some("enterprise") => "entity",
                            _ => "other",
                        }
                    }
                    "regulation" => {
                        if let Some(p) = attr(&attrs, "programme") {
                            programs.push(p.to_string());
                        }
                    }
                    "nameAlias" => {
                        let whole =
                            attr(&attrs, "wholeName")
                                .map(String::from)
                                .unwrap_or_else(|| {
                                    ["firstName", "middleName", "lastName"]
                                        .iter()
                                        .filter_map(|k| attr(&attrs, k))
                                        .collect::<Vec<_>>()
                                        .join(" ")
                                });
                        if !whole.is_empty() {
                            names.push(whole);
                        }
                    }
                    "citizenship" | "address" | "birthdate" => {
                        if let Some(c) = attr(&attrs, "countryIso2Code").filter(|c| *c != "00") {
                            countries.push(c.to_string());
                        }
                    }
                    "remark" => {
                        let text = xml.text()?;
                        addresses.extend(wallets_in(&text));
                        continue;
                    }
                    _ => {}
                }
                depth += 1;
            }
            Node::End(_) => depth -= 1,
            Node::Text(_) => {}
            Node::Eof => return Err(xml.error(format!("the file ends inside entity {uid}"))),
        }
    }
    if names.is_empty() {
        return Err(xml.error(format!("entity {uid} has no name")));
    }
    let name = names.remove(0);
    Ok(Entry {
        uid,
        kind,
        name,
        aliases: names,
        countries,
        programs,
        addresses,
    })
}

/// Solana addresses written in free text.
pub(super) fn wallets_in(text: &str) -> Vec<(String, String)> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| solana_wallet(w).is_some())
        .map(|w| ("SOL".to_string(), w.to_string()))
        .collect()
}
