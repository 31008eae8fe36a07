//! An address as a projection column: 32 bytes in Postgres (`chain.pubkey`, a `bytea`), base58
//! when shown. Rows travel to and from Postgres as JSON (`row_to_json` on read, `COPY` text
//! on write), where a `bytea` is `\x` and its hex digits; that is the form `Key` takes in serde.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use solana_sdk::pubkey::Pubkey;
use std::fmt;

/// A 32-byte address of a projection row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(pub Pubkey);

impl Key {
    pub fn to_bytes(self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// `None` for the default key, which the programs use for "none".
    pub fn some(k: Pubkey) -> Option<Key> {
        (k != Pubkey::default()).then_some(Key(k))
    }
}

impl From<Pubkey> for Key {
    fn from(k: Pubkey) -> Self {
        Key(k)
    }
}

impl PartialEq<Pubkey> for Key {
    fn eq(&self, other: &Pubkey) -> bool {
        self.0 == *other
    }
}

/// Base58, as wallets and explorers show it.
impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `\x` and the lowercase hex of `bytes`: Postgres's text form of a `bytea`.
pub fn bytea_text(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * bytes.len());
    s.push_str("\\x");
    for b in bytes {
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 15)]));
    }
    s
}

fn from_bytea_text(s: &str) -> Option<[u8; 32]> {
    let hex = s.strip_prefix("\\x")?.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

impl Serialize for Key {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&bytea_text(self.0.as_ref()))
    }
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // A visitor rather than a `String`: JSON escapes the backslash, so the text cannot be
        // borrowed, but `visit_str` reads it from the parser's scratch buffer without a copy.
        struct Bytea;
        impl serde::de::Visitor<'_> for Bytea {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a 32-byte bytea in Postgres text form (\\x and 64 hex digits)")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key, E> {
                from_bytea_text(s)
                    .map(|b| Key(Pubkey::new_from_array(b)))
                    .ok_or_else(|| E::custom(format!("not a 32-byte bytea: {s:?}")))
            }
        }
        d.deserialize_str(Bytea)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_postgres_text() {
        let k = Key(Pubkey::new_unique());
        let json = serde_json::to_string(&k).unwrap();
        assert!(json.starts_with("\"\\\\x"), "{json}");
        assert_eq!(serde_json::from_str::<Key>(&json).unwrap(), k);
        assert_eq!(k.to_string(), k.0.to_string());
        assert!(serde_json::from_str::<Key>("\"\\\\x00\"").is_err());
        assert!(serde_json::from_str::<Key>(&format!("\"{}\"", k.0)).is_err());
    }
}
