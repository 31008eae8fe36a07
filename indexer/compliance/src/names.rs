//! Fuzzy name matching against the sanctions names in force: names are transliterated to
//! ASCII (`Пётр` → `Piotr`), lower-cased, stripped of punctuation and of legal-form words
//! (`GmbH`, `Ltd`, `OOO`…), and their words sorted, so that `IVANOV, Pyotr` and
//! `Pyotr Ivanov` are the same name. Two names score the larger of the Jaro-Winkler
//! similarity of their sorted forms and the mean over the shorter name's words of their best
//! Jaro-Winkler match in the other; a score at or above the threshold is a potential match
//! for an officer to clear.

use serde::{Deserialize, Serialize};
use sqlx::{PgPool, Row};

/// Words that say what kind of company a name is, not which.
const LEGAL_FORMS: &[&str] = &[
    "ltd",
    "limited",
    "llc",
    "llp",
    "inc",
    "incorporated",
    "corp",
    "corporation",
    "co",
    "company",
    "gmbh",
    "ag",
    "sa",
    "sarl",
    "srl",
    "sro",
    "spa",
    "bv",
    "nv",
    "plc",
    "oy",
    "ab",
    "as",
    "ooo",
    "oao",
    "zao",
    "pao",
    "jsc",
    "ojsc",
    "cjsc",
    "fze",
    "fzco",
    "pte",
    "pty",
    "kg",
    "the",
    "of",
    "and",
];

/// A name reduced to its comparable words, sorted.
pub fn normalize(name: &str) -> Vec<String> {
    let ascii = deunicode::deunicode(name).to_ascii_lowercase();
    let mut words: Vec<String> = ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !LEGAL_FORMS.contains(w))
        .map(String::from)
        .collect();
    words.sort();
    words.dedup();
    words
}

/// How alike two normalized names are, from 0 to 1.
pub fn score(a: &[String], b: &[String]) -> f64 {
    if a.is_empty() || b.is_empty() {
        return 0.0;
    }
    let whole = strsim::jaro_winkler(&a.join(" "), &b.join(" "));
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    // Every word of the shorter name must find itself in the longer one; a name of one word
    // matching one word of a long name is weak evidence, so the share of the longer name's
    // words covered weighs in.
    let mean = short
        .iter()
        .map(|w| {
            long.iter()
                .map(|v| strsim::jaro_winkler(w, v))
                .fold(0.0, f64::max)
        })
        .sum::<f64>()
        / short.len() as f64;
    let coverage = short.len() as f64 / long.len() as f64;
    let words = mean * (0.85 + 0.15 * coverage);
    whole.max(words)
}

/// A sanctions name a screened name resembles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NameHit {
    pub screened: String,
    pub list: String,
    pub uid: String,
    pub listed_name: String,
    pub programs: Vec<String>,
    /// Rounded to 3 places.
    pub score: f64,
}

/// One listed party's names, normalized.
struct Listed {
    list: String,
    uid: String,
    name: String,
    programs: Vec<String>,
    forms: Vec<Vec<String>>,
}

/// The names on the lists in force, ready to match.
pub struct NameIndex {
    entries: Vec<Listed>,
}

impl NameIndex {
    /// Loads every name and alias of the lists in force.
    pub async fn load(pool: &PgPool) -> crate::Result<Self> {
        let rows = sqlx::query(
            "SELECT e.list, e.uid, e.name, e.aliases, e.programs
             FROM compliance.list l
             JOIN compliance.list_entry e ON e.list = l.id AND e.version = l.current
             WHERE e.kind <> 'wallet'",
        )
        .fetch_all(pool)
        .await?;
        let entries = rows
            .iter()
            .map(|r| {
                let name: String = r.get(2);
                let aliases: Vec<String> = r.get(3);
                let mut forms = vec![normalize(&name)];
                forms.extend(aliases.iter().map(|a| normalize(a)));
                Listed {
                    list: r.get(0),
                    uid: r.get(1),
                    name,
                    programs: r.get(4),
                    forms,
                }
            })
            .collect();
        Ok(Self { entries })
    }

    /// The entries `name` resembles at `threshold` or above, best first.
    pub fn search(&self, name: &str, threshold: f64) -> Vec<NameHit> {
        let q = normalize(name);
        let mut hits: Vec<NameHit> = self
            .entries
            .iter()
            .filter_map(|l| {
                let best = l.forms.iter().map(|f| score(&q, f)).fold(0.0, f64::max);
                (best >= threshold).then(|| NameHit {
                    screened: name.to_string(),
                    list: l.list.clone(),
                    uid: l.uid.clone(),
                    listed_name: l.name.clone(),
                    programs: l.programs.clone(),
                    score: (best * 1000.0).round() / 1000.0,
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &str, b: &str) -> f64 {
        score(&normalize(a), &normalize(b))
    }

    #[test]
    fn the_same_name_in_other_orders_scripts_and_legal_forms_matches() {
        assert_eq!(
            s("IVANOV, Pyotr Sergeyevich", "Pyotr Sergeyevich Ivanov"),
            1.0
        );
        assert!(s("Пётр Сергеевич Иванов", "IVANOV, Pyotr Sergeyevich") > 0.9);
        assert_eq!(
            s(
                "Kassa Test Sanctioned Trading GmbH",
                "KASSA TEST SANCTIONED TRADING LTD"
            ),
            1.0
        );
        assert!(
            s(
                "Kassa Test Sanctiond Trading",
                "Kassa Test Sanctioned Trading"
            ) > 0.95
        );
    }

    #[test]
    fn different_people_and_firms_do_not() {
        assert!(s("Ivan Petrov", "IVANOV, Pyotr Sergeyevich") < 0.9);
        assert!(s("Harbour Bakery", "Kassa Test Sanctioned Trading GmbH") < 0.8);
        assert!(s("Maria Chen", "Mario Cheng Holdings") < 0.9);
        assert_eq!(s("GmbH", "Ltd"), 0.0);
    }
}
