//! The pages' languages: English, Traditional Chinese and Simplified Chinese, one message file
//! each (`web/messages/*.toml`, compiled in and checked to have the same keys). The language is
//! chosen by `?lang=`, then the `kassa_lang` cookie the switch sets, then `Accept-Language`.

use axum::http::{header, HeaderMap};
use std::{collections::HashMap, sync::LazyLock};

/// A page language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    ZhHant,
    ZhHans,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::En, Lang::ZhHant, Lang::ZhHans];

    /// The BCP 47 tag (`lang` attribute, `?lang=`, the cookie).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhHant => "zh-Hant",
            Lang::ZhHans => "zh-Hans",
        }
    }

    /// The language's own name, for the switch.
    pub fn own_name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhHant => "繁體中文",
            Lang::ZhHans => "简体中文",
        }
    }

    fn index(self) -> usize {
        self as usize
    }

    /// A tag as written in `?lang=`, a cookie or `Accept-Language` (case-insensitive; regions
    /// map Chinese to its script: TW, HK and MO write Traditional, CN and SG Simplified).
    pub fn parse(tag: &str) -> Option<Lang> {
        let t = tag.trim().to_ascii_lowercase();
        let mut parts = t.split(['-', '_']);
        match parts.next()? {
            "en" => Some(Lang::En),
            "zh" => {
                let rest: Vec<&str> = parts.collect();
                if rest
                    .iter()
                    .any(|p| *p == "hant" || matches!(*p, "tw" | "hk" | "mo"))
                {
                    Some(Lang::ZhHant)
                } else {
                    Some(Lang::ZhHans)
                }
            }
            _ => None,
        }
    }

    /// The best language for `Accept-Language` (by q-value, then order), English when none
    /// is offered.
    pub fn negotiate(accept: &str) -> Lang {
        let mut best: Option<(f32, usize, Lang)> = None;
        for (i, item) in accept.split(',').enumerate() {
            let mut fields = item.split(';');
            let Some(lang) = fields.next().and_then(Lang::parse) else {
                continue;
            };
            let q = fields
                .filter_map(|f| f.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            if best.is_none_or(|(bq, _, _)| q > bq) {
                best = Some((q, i, lang));
            }
        }
        best.map_or(Lang::En, |(_, _, l)| l)
    }

    /// The request's language: `?lang=`, the cookie, `Accept-Language`.
    pub fn of_request(query: Option<&str>, headers: &HeaderMap) -> Lang {
        if let Some(l) = query.and_then(Lang::parse) {
            return l;
        }
        if let Some(l) = cookie(headers, "kassa_lang").and_then(|c| Lang::parse(&c)) {
            return l;
        }
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .map_or(Lang::En, Lang::negotiate)
    }
}

/// The value of cookie `name`.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

const FILES: [&str; 3] = [
    include_str!("../../web/messages/en.toml"),
    include_str!("../../web/messages/zh-Hant.toml"),
    include_str!("../../web/messages/zh-Hans.toml"),
];

static CATALOG: LazyLock<[HashMap<String, String>; 3]> = LazyLock::new(|| {
    FILES.map(|text| {
        let table: toml::Table = text.parse().unwrap_or_else(|e| {
            tracing::error!("a message file does not parse: {e}");
            toml::Table::new()
        });
        table
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_string())))
            .collect()
    })
});

/// The messages of one language, for a template.
#[derive(Clone, Copy, Debug)]
pub struct Msgs {
    pub lang: Lang,
}

impl Msgs {
    pub fn new(lang: Lang) -> Self {
        Self { lang }
    }

    /// The message `key` (English when this language lacks it; the key itself when no
    /// language has it, which a unit test rules out for every key the templates use).
    pub fn m(&self, key: &str) -> String {
        CATALOG[self.lang.index()]
            .get(key)
            .or_else(|| CATALOG[0].get(key))
            .cloned()
            .unwrap_or_else(|| key.to_string())
    }

    /// `key` with `{name}` replaced by `value`.
    pub fn f(&self, key: &str, name: &str, value: &str) -> String {
        self.m(key).replace(&format!("{{{name}}}"), value)
    }

    /// `key` with two placeholders filled.
    pub fn f2(&self, key: &str, a: &str, va: &str, b: &str, vb: &str) -> String {
        self.f(key, a, va).replace(&format!("{{{b}}}"), vb)
    }

    pub fn tag(&self) -> &'static str {
        self.lang.tag()
    }

    /// A payment status's name (`st_<status>`).
    pub fn status(&self, status: &str) -> String {
        self.m(&format!("st_{status}"))
    }

    /// A commitment's name (`cm_<commitment>`).
    pub fn commitment(&self, commitment: &str) -> String {
        self.m(&format!("cm_{commitment}"))
    }

    /// The other languages, for the switch.
    pub fn others(&self) -> Vec<Lang> {
        Lang::ALL.into_iter().filter(|l| *l != self.lang).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_language_has_every_message_and_the_templates_use_only_those() {
        let keys: Vec<BTreeSet<&String>> = CATALOG.iter().map(|c| c.keys().collect()).collect();
        assert!(keys[0].len() > 50, "the English file parses");
        assert_eq!(keys[0], keys[1], "zh-Hant has exactly the English keys");
        assert_eq!(keys[0], keys[2], "zh-Hans has exactly the English keys");
        // Every key the templates and the page code ask for exists.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/");
        let mut sources = Vec::new();
        for sub in ["templates", "src/web"] {
            for e in std::fs::read_dir(format!("{dir}{sub}")).unwrap() {
                sources.push(std::fs::read_to_string(e.unwrap().path()).unwrap());
            }
        }
        let mut used = 0;
        for s in &sources {
            for call in [".m(\"", ".f(\"", ".f2(\""] {
                for part in s.split(call).skip(1) {
                    let key = &part[..part.find('"').unwrap()];
                    assert!(CATALOG[0].contains_key(key), "message {key} is missing");
                    used += 1;
                }
            }
        }
        assert!(used > 50);
        // The keys pages build from data.
        for s in crate::read::STATUSES {
            assert!(CATALOG[0].contains_key(&format!("st_{s}")), "status {s}");
        }
        for c in ["confirmed", "finalized", "reverted"] {
            assert!(
                CATALOG[0].contains_key(&format!("cm_{c}")),
                "commitment {c}"
            );
        }
        for p in ["waiting", "paid", "finalized", "expired", "cancelled"] {
            assert!(CATALOG[0].contains_key(&format!("co_{p}")), "phase {p}");
            assert!(
                CATALOG[0].contains_key(&format!("co_{p}_help")),
                "phase {p}"
            );
        }
    }

    #[test]
    fn the_language_follows_the_query_then_the_cookie_then_accept_language() {
        assert_eq!(Lang::negotiate("zh-TW,zh;q=0.9,en;q=0.8"), Lang::ZhHant);
        assert_eq!(Lang::negotiate("zh-HK"), Lang::ZhHant);
        assert_eq!(Lang::negotiate("zh-Hant-TW"), Lang::ZhHant);
        assert_eq!(Lang::negotiate("zh-CN,zh;q=0.9"), Lang::ZhHans);
        assert_eq!(Lang::negotiate("fr-FR, en;q=0.5, zh;q=0.7"), Lang::ZhHans);
        assert_eq!(Lang::negotiate("de, fr"), Lang::En);
        assert_eq!(Lang::negotiate("zh;q=0, en"), Lang::En);
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, "zh-CN".parse().unwrap());
        assert_eq!(Lang::of_request(None, &h), Lang::ZhHans);
        h.insert(header::COOKIE, "a=b; kassa_lang=zh-Hant".parse().unwrap());
        assert_eq!(Lang::of_request(None, &h), Lang::ZhHant);
        assert_eq!(Lang::of_request(Some("en"), &h), Lang::En);
        assert_eq!(
            Msgs::new(Lang::En).f("co_title", "merchant", "A&B"),
            "Pay A&B"
        );
    }
}
