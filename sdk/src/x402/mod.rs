//! x402 (HTTP 402 Payment Required, version 2) on Solana: the protocol's messages, the `exact`
//! scheme's transaction as the specification lays it out, and (feature `x402-client`) an HTTP
//! client that pays `402` answers within a spending policy.
//!
//! The messages follow `specs/x402-specification-v2.md` and `specs/transports-v2/http.md` of
//! the x402 repository: a `402` carries the [`PaymentRequired`] in the `PAYMENT-REQUIRED`
//! header, the client retries with a [`PaymentPayload`] in `PAYMENT-SIGNATURE`, and the answer
//! carries a [`SettleResponse`] in `PAYMENT-RESPONSE`; each header is standard base64 of the
//! JSON. The `exact` scheme on Solana (`specs/schemes/exact/scheme_exact_svm.md`) is a
//! transaction of four instructions (compute unit limit, compute unit price, `TransferChecked`,
//! memo) whose fee payer is the facilitator's key, signed by the client and left for the
//! facilitator to co-sign ([`exact::transaction`]).

#[cfg(feature = "x402-client")]
pub mod client;
pub mod escrow;
pub mod exact;

use base64::Engine;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Map, Value};

/// The protocol version this module speaks.
pub const VERSION: u32 = 2;
/// The header of a `402` answer: the payment requirements.
pub const PAYMENT_REQUIRED: &str = "payment-required";
/// The header of the paid retry: the payment payload.
pub const PAYMENT_SIGNATURE: &str = "payment-signature";
/// The header of the paid answer: the settlement.
pub const PAYMENT_RESPONSE: &str = "payment-response";

/// Solana mainnet-beta's CAIP-2 id.
pub const SOLANA_MAINNET: &str = "solana:5eykt4UsFv8P8NJdTREpY1vzqKqZKvdp";
/// Solana devnet's CAIP-2 id.
pub const SOLANA_DEVNET: &str = "solana:EtWTRABZaYq6iMfeYKouRu166VU2xqa1";
/// Solana testnet's CAIP-2 id.
pub const SOLANA_TESTNET: &str = "solana:4uhcVJyU9pJkvQyS88uRDiswHXSCkY3z";

/// The CAIP-2 id of the cluster whose genesis hash is `genesis_hash` (base58): `solana:` and
/// its first 32 characters.
pub fn caip2(genesis_hash: &str) -> String {
    format!("solana:{}", &genesis_hash[..genesis_hash.len().min(32)])
}

/// What a paid resource is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceInfo {
    /// The resource's URL.
    pub url: String,
    /// What the payment buys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The media type of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
}

/// One way to pay: a scheme on a network, an amount of an asset to a recipient.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequirements {
    /// `exact`, or Kassa's `kassa-escrow`.
    pub scheme: String,
    /// A CAIP-2 network id.
    pub network: String,
    /// The amount in the asset's smallest unit, as a decimal string.
    pub amount: String,
    /// The asset: on Solana, the mint.
    pub asset: String,
    /// The recipient: on Solana, the owner of the destination token account.
    pub pay_to: String,
    /// The longest the resource server waits for the payment to settle.
    pub max_timeout_seconds: u64,
    /// Scheme-specific fields (`feePayer`, `memo`, …).
    #[serde(default)]
    pub extra: Map<String, Value>,
}

impl PaymentRequirements {
    /// A string field of `extra`.
    pub fn extra_str(&self, name: &str) -> Option<&str> {
        self.extra.get(name).and_then(Value::as_str)
    }

    /// The amount as an integer, if it is one.
    pub fn amount_u64(&self) -> Option<u64> {
        self.amount.parse().ok().filter(|a| *a > 0)
    }

    /// Whether a client's `accepted` answers these requirements: every field equal, and the
    /// client's `extra` holding every field of ours (the blockhash hints aside, which the
    /// client may replace).
    pub fn accepted_by(&self, accepted: &PaymentRequirements) -> bool {
        self.scheme == accepted.scheme
            && self.network == accepted.network
            && self.amount == accepted.amount
            && self.asset == accepted.asset
            && self.pay_to == accepted.pay_to
            && self.max_timeout_seconds == accepted.max_timeout_seconds
            && self
                .extra
                .iter()
                .filter(|(k, _)| *k != "recentBlockhash" && *k != "lastValidBlockHeight")
                .all(|(k, v)| accepted.extra.get(k) == Some(v))
    }
}

/// The body of a `402`: what the resource costs and how it can be paid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequired {
    /// Always 2.
    pub x402_version: u32,
    /// Why the request was not served (no payment, or what was wrong with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resource.
    pub resource: ResourceInfo,
    /// The ways to pay, the server's preference first.
    pub accepts: Vec<PaymentRequirements>,
    /// Protocol extensions.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extensions: Map<String, Value>,
}

/// A client's payment: the requirements it chose and the scheme's proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    /// Always 2.
    pub x402_version: u32,
    /// The resource paid for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<ResourceInfo>,
    /// The requirements the client pays, copied from the `402`.
    pub accepted: PaymentRequirements,
    /// The scheme's payload: for `exact` on Solana, `{"transaction": <base64>}`.
    pub payload: Value,
    /// Protocol extensions.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extensions: Map<String, Value>,
}

/// What a resource server sends a facilitator's `/verify` and `/settle`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FacilitatorRequest {
    /// The payload's version.
    pub x402_version: u32,
    /// The client's payment.
    pub payment_payload: PaymentPayload,
    /// The resource server's own requirements that the payment answers.
    pub payment_requirements: PaymentRequirements,
    /// Kassa's `kassa-escrow` settle: the delivered answer, kept for a retried call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<escrow::StoredResponse>,
}

/// A facilitator's `/verify` answer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifyResponse {
    /// Whether the payment would settle.
    pub is_valid: bool,
    /// The specification's reason when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_reason: Option<String>,
    /// The reason in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid_message: Option<String>,
    /// The paying wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// Scheme-specific fields (`kassa-escrow`: `settlementId`, and `replay` for a call seen
    /// before).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// A settlement: the facilitator's `/settle` answer and the `PAYMENT-RESPONSE` header.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SettleResponse {
    /// Whether the payment settled.
    pub success: bool,
    /// The specification's reason when not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_reason: Option<String>,
    /// The reason in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// The paying wallet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<String>,
    /// The transaction's signature (base58); empty when nothing was sent.
    pub transaction: String,
    /// The network it settled on.
    pub network: String,
    /// Kassa's fields: `settlementId` (the id to ask about a lost answer with) and the amount.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// One scheme and network a facilitator settles.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SupportedKind {
    /// The protocol version.
    pub x402_version: u32,
    /// The scheme.
    pub scheme: String,
    /// The CAIP-2 network.
    pub network: String,
    /// For Solana: `{"feePayer"}`.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// A facilitator's `/supported` answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Supported {
    /// What it settles.
    pub kinds: Vec<SupportedKind>,
    /// Extensions it knows.
    #[serde(default)]
    pub extensions: Vec<String>,
    /// Its signing keys by network family (`"solana:*"`).
    #[serde(default)]
    pub signers: Map<String, Value>,
}

/// A header value: standard base64 (with padding) of the JSON.
pub fn encode_header<T: Serialize>(value: &T) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(value).expect("x402 messages serialize"))
}

/// Reads a header value written by [`encode_header`].
pub fn decode_header<T: DeserializeOwned>(value: &str) -> Result<T, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("not the expected JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn requirements() -> PaymentRequirements {
        PaymentRequirements {
            scheme: "exact".into(),
            network: SOLANA_DEVNET.into(),
            amount: "1000".into(),
            asset: "4zMMC9srt5Ri5X14GAgXhaHii3GnPAEERYPJgZJDncDU".into(),
            pay_to: "2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4".into(),
            max_timeout_seconds: 60,
            extra: serde_json::from_value(serde_json::json!({
                "feePayer": "EwWqGE4ZFKLofuestmU4LDdK7XM1N4ALgdZccwYugwGd",
                "recentBlockhash": "11111111111111111111111111111111"
            }))
            .unwrap(),
        }
    }

    #[test]
    fn the_specifications_example_payload_reads_and_writes_back_the_same() {
        let spec = serde_json::json!({
            "x402Version": 2,
            "resource": {"url": "https://example.com/weather", "description": "Access to protected content", "mimeType": "application/json"},
            "accepted": {"scheme": "exact", "network": SOLANA_MAINNET, "amount": "1000",
                "asset": "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
                "payTo": "2wKupLR9q6wXYppw8Gr2NvWxKBUqm4PPJKkQfoxHDBg4", "maxTimeoutSeconds": 60,
                "extra": {"feePayer": "EwWqGE4ZFKLofuestmU4LDdK7XM1N4ALgdZccwYugwGd", "memo": "pi_3abc123def456"}},
            "payload": {"transaction": "AAAA"}
        });
        let p: PaymentPayload = serde_json::from_value(spec.clone()).unwrap();
        assert_eq!(p.accepted.extra_str("memo"), Some("pi_3abc123def456"));
        assert_eq!(serde_json::to_value(&p).unwrap(), spec);
        let back: PaymentPayload = decode_header(&encode_header(&p)).unwrap();
        assert_eq!(back, p);
        assert!(
            encode_header(&p)
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        );
    }

    #[test]
    fn accepted_requirements_match_on_every_field_and_may_add_to_extra() {
        let ours = requirements();
        let mut theirs = ours.clone();
        theirs
            .extra
            .insert("recentBlockhash".into(), "other".into());
        theirs.extra.insert("note".into(), "added".into());
        assert!(ours.accepted_by(&theirs));
        for change in [
            |r: &mut PaymentRequirements| r.amount = "999".into(),
            |r: &mut PaymentRequirements| r.pay_to = "x".into(),
            |r: &mut PaymentRequirements| r.asset = "x".into(),
            |r: &mut PaymentRequirements| r.network = SOLANA_MAINNET.into(),
            |r: &mut PaymentRequirements| {
                r.extra.remove("feePayer");
            },
        ] {
            let mut t = ours.clone();
            change(&mut t);
            assert!(!ours.accepted_by(&t));
        }
        assert!(
            decode_header::<PaymentRequired>("%%%")
                .unwrap_err()
                .starts_with("not base64")
        );
    }
}
