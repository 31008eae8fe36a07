//! Webhook signatures as the Standard Webhooks specification defines them, so a merchant's
//! receiver can verify Kassa's notifications here or with the specification's libraries in any
//! language.
//!
//! A message carries three headers: `webhook-id` (the message id, the same on every retry),
//! `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`: one or more
//! space-separated `v1,<base64>` entries, each an HMAC-SHA256 over `id.timestamp.body` with one
//! of the endpoint's secrets (two while a rotated secret is in its overlap window). A secret is
//! `whsec_` and the base64 of its bytes.
//!
//! ```
//! use kassa_sdk::webhook::{Secret, sign, verify};
//! let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
//! let body = br#"{"type":"payment.captured"}"#;
//! let header = sign(&[&secret], "msg_1", 1_700_000_000, body);
//! assert!(verify(&[secret], "msg_1", "1700000000", &header, body, 1_700_000_010).is_ok());
//! ```

use base64::{Engine, engine::general_purpose::STANDARD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a secret's string form starts with.
pub const SECRET_PREFIX: &str = "whsec_";

/// How far a message's timestamp may be from the receiver's clock, either way (the
/// specification's five minutes): older messages are refused as replays.
pub const TOLERANCE_SECS: i64 = 300;

/// The message id header: the same on every attempt of one message.
pub const HEADER_ID: &str = "webhook-id";
/// The attempt's Unix time in seconds.
pub const HEADER_TIMESTAMP: &str = "webhook-timestamp";
/// The space-separated `v1,<base64>` signatures.
pub const HEADER_SIGNATURE: &str = "webhook-signature";

/// Why a webhook was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[allow(missing_docs)]
pub enum WebhookError {
    #[error("the secret is not `whsec_` and the base64 of 24 to 64 bytes")]
    BadSecret,
    #[error("the {0} header is missing")]
    MissingHeader(&'static str),
    #[error("the webhook-timestamp header is not a Unix time in seconds")]
    BadTimestamp,
    #[error("the message is {0} s older than the receiver's clock allows (a replay?)")]
    TooOld(i64),
    #[error("the message is {0} s ahead of the receiver's clock")]
    TooNew(i64),
    #[error("no signature in the webhook-signature header matches a secret of this endpoint")]
    NoMatchingSignature,
}

/// An endpoint's signing secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl Secret {
    /// A secret of these bytes (24 to 64 of them).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, WebhookError> {
        if (24..=64).contains(&bytes.len()) {
            Ok(Self(bytes.to_vec()))
        } else {
            Err(WebhookError::BadSecret)
        }
    }

    /// Reads `whsec_<base64>` (the prefix may be left out, as the specification's libraries
    /// allow).
    pub fn parse(s: &str) -> Result<Self, WebhookError> {
        let b64 = s.strip_prefix(SECRET_PREFIX).unwrap_or(s);
        let bytes = STANDARD.decode(b64).map_err(|_| WebhookError::BadSecret)?;
        Self::from_bytes(&bytes)
    }

    /// The bytes HMAC is keyed with.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// `whsec_<base64>`: how the secret is shown (once) and configured at the receiver.
    pub fn encode(&self) -> String {
        format!("{SECRET_PREFIX}{}", STANDARD.encode(&self.0))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes keys of any length; `from_bytes` bounds them anyway.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` header for `body`: one `v1,<base64>` per secret.
pub fn sign(secrets: &[&Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    secrets
        .iter()
        .map(|s| {
            format!(
                "v1,{}",
                STANDARD.encode(s.mac(id, &ts, body).finalize().into_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a message: its timestamp within [`TOLERANCE_SECS`] of `now` (Unix seconds), and one
/// `v1` signature made with one of `secrets` over exactly these bytes (compared in constant
/// time). Pass every secret the endpoint currently has, so a rotation never drops a message.
pub fn verify(
    secrets: &[Secret],
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookError> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| WebhookError::BadTimestamp)?;
    let age = now.saturating_sub(ts);
    if age > TOLERANCE_SECS {
        return Err(WebhookError::TooOld(age));
    }
    if -age > TOLERANCE_SECS {
        return Err(WebhookError::TooNew(-age));
    }
    for entry in signature_header.split(' ') {
        let Some(b64) = entry.strip_prefix("v1,") else {
            continue;
        };
        let Ok(given) = STANDARD.decode(b64) else {
            continue;
        };
        for secret in secrets {
            if secret
                .mac(id, timestamp.trim(), body)
                .verify_slice(&given)
                .is_ok()
            {
                return Ok(());
            }
        }
    }
    Err(WebhookError::NoMatchingSignature)
}

/// [`verify`] over a request's headers, looked up by lowercase name with `header`.
pub fn verify_headers<'h>(
    secrets: &[Secret],
    header: impl Fn(&str) -> Option<&'h str>,
    body: &[u8],
    now: i64,
) -> Result<(), WebhookError> {
    let get = |name: &'static str| header(name).ok_or(WebhookError::MissingHeader(name));
    verify(
        secrets,
        get(HEADER_ID)?,
        get(HEADER_TIMESTAMP)?,
        get(HEADER_SIGNATURE)?,
        body,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn matches_the_specification_example() {
        let secret = Secret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let body = br#"{"test": 2432232314}"#;
        let header = sign(
            &[&secret],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            body,
        );
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn refuses_tampering_replays_and_the_wrong_secret() {
        let a = Secret::from_bytes(&[7; 32]).unwrap();
        let b = Secret::from_bytes(&[8; 32]).unwrap();
        let body = b"{}";
        let h = sign(&[&a], "msg_1", 1000, body);
        let (only_a, only_b) = (vec![a.clone()], vec![b.clone()]);
        assert_eq!(verify(&only_a, "msg_1", "1000", &h, body, 1000), Ok(()));
        assert_eq!(
            verify(&only_a, "msg_1", "1000", &h, b"{ }", 1000),
            Err(WebhookError::NoMatchingSignature)
        );
        assert_eq!(
            verify(&only_a, "msg_2", "1000", &h, body, 1000),
            Err(WebhookError::NoMatchingSignature)
        );
        assert_eq!(
            verify(&only_a, "msg_1", "1001", &h, body, 1000),
            Err(WebhookError::NoMatchingSignature)
        );
        assert_eq!(
            verify(&only_b, "msg_1", "1000", &h, body, 1000),
            Err(WebhookError::NoMatchingSignature)
        );
        assert_eq!(
            verify(&only_a, "msg_1", "1000", &h, body, 1301),
            Err(WebhookError::TooOld(301))
        );
        assert_eq!(
            verify(&only_a, "msg_1", "1000", &h, body, 699),
            Err(WebhookError::TooNew(301))
        );
        // During a rotation both secrets sign: a receiver with either one accepts.
        let both = sign(&[&a, &b], "msg_1", 1000, body);
        assert_eq!(verify(&only_b, "msg_1", "1000", &both, body, 1000), Ok(()));
        assert_eq!(verify(&only_a, "msg_1", "1000", &both, body, 1000), Ok(()));
        assert_eq!(Secret::parse("whsec_short"), Err(WebhookError::BadSecret));
    }
}
