//! Kassa's own lists: a CSV with the header `address,currency,name,reason`, one wallet per
//! row. The reason is kept where published lists keep their programmes.

use super::{solana_wallet, Entry, Parsed};
use crate::{ComplianceError, Result};

const FORMAT: &str = "internal";

pub(super) fn entry(address: &str, currency: &str, name: &str, reason: &str) -> Result<Entry> {
    let address = address.trim();
    let currency = currency.trim().to_ascii_uppercase();
    if currency.is_empty() || currency.len() > 20 {
        return Err(ComplianceError::list(
            FORMAT,
            format!("{address}: currency {currency:?} is not a currency code"),
        ));
    }
    if currency == "SOL" && solana_wallet(address).is_none() {
        return Err(ComplianceError::list(
            FORMAT,
            format!("{address:?} is not a Solana address"),
        ));
    }
    if address.is_empty() || address.len() > 200 {
        return Err(ComplianceError::list(
            FORMAT,
            format!("address {address:?}"),
        ));
    }
    let name = name.trim();
    Ok(Entry {
        uid: address.to_string(),
        kind: "wallet",
        name: if name.is_empty() {
            address.to_string()
        } else {
            name.to_string()
        },
        aliases: Vec::new(),
        countries: Vec::new(),
        programs: [reason.trim()]
            .into_iter()
            .filter(|r| !r.is_empty())
            .map(String::from)
            .collect(),
        addresses: vec![(currency, address.to_string())],
    })
}

pub(super) fn parse(bytes: &[u8]) -> Result<Parsed> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| ComplianceError::list(FORMAT, e.to_string()))?
        .clone();
    if header.iter().collect::<Vec<_>>() != ["address", "currency", "name", "reason"] {
        return Err(ComplianceError::list(
            FORMAT,
            "the first line must be the header address,currency,name,reason",
        ));
    }
    let mut entries = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| ComplianceError::list(FORMAT, format!("line {}: {e}", i + 2)))?;
        entries.push(
            entry(&row[0], &row[1], &row[2], &row[3])
                .map_err(|e| ComplianceError::list(FORMAT, format!("line {}: {e}", i + 2)))?,
        );
    }
    Ok(Parsed {
        published: String::new(),
        entries,
    })
}

/// `entries` written back in this format.
pub fn render(entries: &[Entry]) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(["address", "currency", "name", "reason"]);
    for e in entries {
        let currency = e.addresses.first().map_or("SOL", |(c, _)| c.as_str());
        let _ = w.write_record([
            e.uid.as_str(),
            currency,
            e.name.as_str(),
            &e.programs.join("; "),
        ]);
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_renders_the_same_entries() {
        let body = "address,currency,name,reason\n\
                    DgmxzQX61DxkAMkAubrgHVJb637fYYTdh7ouVqZGnJrp,sol,Mule,fraud ring\n";
        let p = parse(body.as_bytes()).unwrap();
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.entries[0].addresses[0].0, "SOL");
        assert_eq!(
            parse(render(&p.entries).as_bytes()).unwrap().entries,
            p.entries
        );
    }

    #[test]
    fn refuses_what_is_not_a_wallet_or_lacks_the_header() {
        let e = parse(b"address,currency,name,reason\nnot-a-key,SOL,x,y\n").unwrap_err();
        assert!(e.to_string().contains("line 2"), "{e}");
        let e = parse(b"wallet,name\nabc,x\n").unwrap_err();
        assert!(e.to_string().contains("header"), "{e}");
    }
}
