//! Solana Pay URLs (<https://docs.solanapay.com/spec>): encode and parse transfer requests and
//! transaction requests.
//!
//! - Transfer request: `solana:<recipient>?amount=<amount>&spl-token=<mint>&reference=<ref>...
//!   &label=<label>&message=<message>&memo=<memo>`, see [`TransferRequest`].
//! - Transaction request: `solana:<link>`, an absolute https URL, percent-encoded as a whole when
//!   it has a query, see [`TransactionRequest`].
//!
//! Parsing follows the spec and, where the spec is silent, the reference implementation
//! (`parseURL` of `@solana/pay`):
//!
//! - the scheme `solana:` is matched case-insensitively, as URL schemes are;
//! - a path containing `:` or `%` is a transaction-request link (base58 has neither), any other
//!   path a transfer-request recipient;
//! - a transaction-request link is always percent-decoded, as the spec requires of wallets
//!   ("this has no effect if the value isn't URL-encoded"); the encoder therefore leaves a link
//!   unencoded only when it has no query and decoding cannot change it;
//! - query values are percent-decoded and `+` decodes to a space (form encoding, which the
//!   reference implementation both writes and reads); the encoder writes a space as `%20` and
//!   `+` as `%2B`, so either reading gives the same text;
//! - `amount`, `spl-token`, `label`, `message` and `memo` may appear at most once, `reference`
//!   any number of times (order kept);
//! - unknown query parameters are ignored, because the spec allows later versions to add
//!   parameters; a transaction request's query is ignored entirely for the same reason;
//! - a fragment (`#...`) is not part of the request and is ignored; the encoder never writes one.

use std::fmt::{self, Write as _};
use std::str::FromStr;

use anchor_lang::prelude::Pubkey;

const SCHEME: &str = "solana:";
const HTTPS: &str = "https://";

/// Why a Solana Pay URL or one of its parts was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SolanaPayError {
    /// The URL does not start with `solana:`.
    #[error("not a Solana Pay URL: it must start with `solana:`")]
    MissingScheme,
    /// The transfer-request path is not a base58 public key.
    #[error("recipient {0:?} is not a base58 public key")]
    InvalidRecipient(String),
    /// The amount is not a plain non-negative decimal; the text says why.
    #[error("invalid amount: {0}")]
    InvalidAmount(String),
    /// A query parameter that must hold a public key does not.
    #[error("{field} {value:?} is not a base58 public key")]
    InvalidPubkey {
        /// The query parameter, `spl-token` or `reference`.
        field: &'static str,
        /// The decoded value that failed to parse.
        value: String,
    },
    /// A parameter the spec allows once appears more than once.
    #[error("parameter `{0}` appears more than once")]
    DuplicateParameter(String),
    /// A `%` escape is malformed or the decoded bytes are not UTF-8.
    #[error("invalid percent-encoding: {0}")]
    InvalidPercentEncoding(String),
    /// The transaction-request link is not an absolute https URL; the text says why.
    #[error("invalid transaction request link: {0}")]
    InvalidLink(String),
    /// The amount has more significant fractional digits than the mint has decimals.
    #[error("amount has more fractional digits than the mint's {decimals} decimals")]
    TooManyDecimals {
        /// The mint's decimals.
        decimals: u8,
    },
    /// The amount in base units does not fit in a `u64`.
    #[error("amount does not fit in a u64 of base units")]
    AmountOverflow,
}

/// A Solana Pay URL of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SolanaPayUrl {
    /// `solana:<recipient>?...`: the wallet composes a SOL or SPL Token transfer itself.
    Transfer(TransferRequest),
    /// `solana:<link>`: the wallet fetches the transaction from the link.
    Transaction(TransactionRequest),
}

impl SolanaPayUrl {
    /// Parses a Solana Pay URL; the path decides the kind (a link contains `:` or `%`, a
    /// recipient never does). Never panics, whatever the input.
    ///
    /// ```
    /// use kassa_sdk::solana_pay::{SolanaPayUrl, UiAmount};
    ///
    /// let url = "solana:mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN?amount=1&label=Michael\
    ///            &message=Thanks%20for%20all%20the%20fish&memo=OrderId12345";
    /// let SolanaPayUrl::Transfer(request) = SolanaPayUrl::parse(url).unwrap() else {
    ///     panic!("not a transfer request");
    /// };
    /// assert_eq!(request.amount.as_ref().map(UiAmount::as_str), Some("1"));
    /// assert_eq!(request.message.as_deref(), Some("Thanks for all the fish"));
    /// // Encoding gives back the same URL.
    /// assert_eq!(request.to_string(), url);
    /// ```
    pub fn parse(url: &str) -> Result<Self, SolanaPayError> {
        let (path, query) = split_url(url)?;
        if is_link_path(path) {
            TransactionRequest::from_path(path).map(Self::Transaction)
        } else {
            TransferRequest::from_parts(path, query).map(Self::Transfer)
        }
    }
}

impl FromStr for SolanaPayUrl {
    type Err = SolanaPayError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        Self::parse(url)
    }
}

impl fmt::Display for SolanaPayUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Transfer(request) => fmt::Display::fmt(request, f),
            Self::Transaction(request) => fmt::Display::fmt(request, f),
        }
    }
}

/// A transfer request: everything a wallet needs to compose a SOL or SPL Token transfer.
///
/// `Display` encodes it (parameters in the spec's order, text percent-encoded), `FromStr`
/// parses it.
///
/// ```
/// use anchor_lang::prelude::Pubkey;
/// use kassa_sdk::solana_pay::TransferRequest;
///
/// let mut request = TransferRequest::new(Pubkey::new_from_array([7; 32]));
/// request.amount = Some("0.01".parse().unwrap());
/// request.references.push(Pubkey::new_from_array([9; 32]));
/// request.label = Some("Café ☕".to_string());
/// let url = request.to_string();
/// assert!(url.ends_with("&label=Caf%C3%A9%20%E2%98%95"));
/// assert_eq!(url.parse::<TransferRequest>(), Ok(request));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// The native SOL account paid, or for SPL Tokens the wallet owning the associated token
    /// account paid (never the token account itself).
    pub recipient: Pubkey,
    /// The amount in user units (SOL, not lamports); `None` lets the wallet ask the user.
    pub amount: Option<UiAmount>,
    /// The SPL Token mint; `None` means native SOL.
    pub spl_token: Option<Pubkey>,
    /// Keys the wallet attaches, in order, to the transfer instruction so the payment can be
    /// found with `getSignaturesForAddress`.
    pub references: Vec<Pubkey>,
    /// Who asks for the payment (merchant, store, person).
    pub label: Option<String>,
    /// What the payment is for.
    pub message: Option<String>,
    /// Text the wallet puts in an SPL Memo instruction; it is public on chain.
    pub memo: Option<String>,
}

impl TransferRequest {
    /// A request to pay `recipient` with every optional field unset.
    pub fn new(recipient: Pubkey) -> Self {
        Self {
            recipient,
            amount: None,
            spl_token: None,
            references: Vec::new(),
            label: None,
            message: None,
            memo: None,
        }
    }

    fn from_parts(path: &str, query: Option<&str>) -> Result<Self, SolanaPayError> {
        let recipient =
            parse_pubkey(path).ok_or_else(|| SolanaPayError::InvalidRecipient(path.to_owned()))?;
        let mut request = Self::new(recipient);
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|pair| !pair.is_empty())
        {
            let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
            let key = decode_query_component(raw_key, "parameter name")?;
            let value = || decode_query_component(raw_value, &key);
            match key.as_str() {
                "amount" => set_once(&mut request.amount, &key, || value()?.parse::<UiAmount>())?,
                "spl-token" => set_once(&mut request.spl_token, &key, || {
                    pubkey_param("spl-token", value()?)
                })?,
                "reference" => request
                    .references
                    .push(pubkey_param("reference", value()?)?),
                "label" => set_once(&mut request.label, &key, value)?,
                "message" => set_once(&mut request.message, &key, value)?,
                "memo" => set_once(&mut request.memo, &key, value)?,
                // Later versions of the spec may add parameters (e.g. `redirect`).
                _ => {}
            }
        }
        Ok(request)
    }
}

impl FromStr for TransferRequest {
    type Err = SolanaPayError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let (path, query) = split_url(url)?;
        Self::from_parts(path, query)
    }
}

impl fmt::Display for TransferRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}", self.recipient)?;
        let mut query = QueryWriter { f, separator: '?' };
        if let Some(amount) = &self.amount {
            query.param("amount", amount.as_str())?;
        }
        if let Some(mint) = &self.spl_token {
            query.param("spl-token", &mint.to_string())?;
        }
        for reference in &self.references {
            query.param("reference", &reference.to_string())?;
        }
        if let Some(label) = &self.label {
            query.param("label", label)?;
        }
        if let Some(message) = &self.message {
            query.param("message", message)?;
        }
        if let Some(memo) = &self.memo {
            query.param("memo", memo)?;
        }
        Ok(())
    }
}

/// A transaction request: the wallet fetches the transaction to sign from an https link.
///
/// `Display` writes `solana:<link>`, percent-encoding the whole link when it has a query (as the
/// spec requires) or any character that decoding would change; otherwise the link is written as
/// is, for a shorter URL and a less dense QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRequest {
    link: String,
}

impl TransactionRequest {
    /// Checks `link` is an absolute https URL with a host and no whitespace or control
    /// characters.
    pub fn new(link: impl Into<String>) -> Result<Self, SolanaPayError> {
        let link = link.into();
        validate_link(&link)?;
        Ok(Self { link })
    }

    /// The https link the wallet sends its GET and POST requests to.
    pub fn link(&self) -> &str {
        &self.link
    }

    /// The spec requires wallets to percent-decode the link whether or not it was encoded.
    fn from_path(path: &str) -> Result<Self, SolanaPayError> {
        Self::new(percent_decode(path, "link", PlusSign::Literal)?)
    }
}

impl FromStr for TransactionRequest {
    type Err = SolanaPayError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let (path, _query) = split_url(url)?;
        Self::from_path(path)
    }
}

impl fmt::Display for TransactionRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(SCHEME)?;
        if self.link.bytes().all(is_plain_link_byte) {
            f.write_str(&self.link)
        } else {
            write!(f, "{}", PercentEncoded(&self.link))
        }
    }
}

/// The transaction-request link of a Kassa payment: `<base>/v1/pay/<payment>`.
///
/// `base` must be an https URL without query or fragment; trailing `/` are dropped.
///
/// ```
/// use anchor_lang::prelude::Pubkey;
/// use kassa_sdk::solana_pay::payment_link;
///
/// let payment = Pubkey::new_from_array([1; 32]);
/// let request = payment_link("https://pay.example.com/", &payment).unwrap();
/// assert_eq!(request.to_string(), format!("solana:https://pay.example.com/v1/pay/{payment}"));
/// ```
pub fn payment_link(base: &str, payment: &Pubkey) -> Result<TransactionRequest, SolanaPayError> {
    let base = base.trim_end_matches('/');
    if base.contains(['?', '#']) {
        return Err(SolanaPayError::InvalidLink(format!(
            "base {base:?} must not have a query or fragment"
        )));
    }
    TransactionRequest::new(format!("{base}/v1/pay/{payment}"))
}

/// An amount in user units ("1.5" USDC, not 1500000), as the spec's `amount` parameter.
///
/// Holds the validated text: digits, optionally one `.` with digits on both sides; no sign, no
/// exponent. Equality is textual (`"1.50"` and `"1.5"` differ). The mint's decimals are not
/// in the URL, so they are checked on conversion ([`UiAmount::to_base_units`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UiAmount(String);

impl UiAmount {
    /// The amount as written in the URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The amount in base units of a mint with `decimals` decimals (9 for SOL).
    ///
    /// Trailing zeros of the fraction do not count as decimals (`"1.50"` fits a 1-decimal
    /// mint), as in the reference implementation.
    pub fn to_base_units(&self, decimals: u8) -> Result<u64, SolanaPayError> {
        let (integer, fraction) = self.0.split_once('.').unwrap_or((self.0.as_str(), ""));
        let fraction = fraction.trim_end_matches('0');
        let decimals_len = usize::from(decimals);
        if fraction.len() > decimals_len {
            return Err(SolanaPayError::TooManyDecimals { decimals });
        }
        let padding = std::iter::repeat_n(b'0', decimals_len - fraction.len());
        integer
            .bytes()
            .chain(fraction.bytes())
            .chain(padding)
            // Only ASCII digits get here: both constructors guarantee it.
            .try_fold(0u64, |total, digit| {
                total.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
            })
            .ok_or(SolanaPayError::AmountOverflow)
    }

    /// The user-unit amount of `amount` base units of a mint with `decimals` decimals, without
    /// trailing zeros or a trailing `.` (`1_500_000` with 6 decimals is `"1.5"`).
    pub fn from_base_units(amount: u64, decimals: u8) -> Self {
        let decimals = usize::from(decimals);
        let digits = format!("{amount:0>width$}", width = decimals + 1);
        let (integer, fraction) = digits.split_at(digits.len() - decimals);
        let fraction = fraction.trim_end_matches('0');
        if fraction.is_empty() {
            Self(integer.to_owned())
        } else {
            Self(format!("{integer}.{fraction}"))
        }
    }
}

impl FromStr for UiAmount {
    type Err = SolanaPayError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        validate_amount(value)?;
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Display for UiAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn validate_amount(value: &str) -> Result<(), SolanaPayError> {
    let invalid = |why: &str| SolanaPayError::InvalidAmount(format!("{value:?} {why}"));
    if value.is_empty() {
        return Err(invalid("is empty"));
    }
    if value.starts_with(['-', '+']) {
        return Err(invalid("must not have a sign"));
    }
    if value.contains(['e', 'E']) {
        return Err(invalid("uses scientific notation"));
    }
    if !value
        .bytes()
        .all(|byte| byte.is_ascii_digit() || byte == b'.')
    {
        return Err(invalid("has characters other than digits and '.'"));
    }
    if let Some((integer, fraction)) = value.split_once('.') {
        if fraction.contains('.') {
            return Err(invalid("has more than one '.'"));
        }
        if integer.is_empty() {
            return Err(invalid("needs a leading 0 before the '.'"));
        }
        if fraction.is_empty() {
            return Err(invalid("needs digits after the '.'"));
        }
    }
    Ok(())
}

/// Splits `solana:<path>?<query>#<fragment>` into path and query, dropping the fragment.
fn split_url(url: &str) -> Result<(&str, Option<&str>), SolanaPayError> {
    let rest = match url.split_at_checked(SCHEME.len()) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case(SCHEME) => rest,
        _ => return Err(SolanaPayError::MissingScheme),
    };
    let rest = rest
        .split_once('#')
        .map_or(rest, |(before, _fragment)| before);
    Ok(match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    })
}

fn is_link_path(path: &str) -> bool {
    path.contains([':', '%'])
}

fn validate_link(link: &str) -> Result<(), SolanaPayError> {
    let invalid = |why: &str| SolanaPayError::InvalidLink(format!("{link:?} {why}"));
    let rest = match link.split_at_checked(HTTPS.len()) {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case(HTTPS) => rest,
        _ => return Err(invalid("is not an absolute https URL")),
    };
    if link.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("contains whitespace or control characters"));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let host_port = authority
        .rsplit_once('@')
        .map_or(authority, |(_userinfo, host)| host);
    let host = match host_port.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|byte| byte.is_ascii_digit()) => host,
        _ => host_port,
    };
    if host.is_empty() {
        return Err(invalid("has no host"));
    }
    Ok(())
}

/// Bytes a link may keep unencoded: they survive percent-decoding and cannot be taken for the
/// start of the Solana Pay query (`?`) or a fragment (`#`).
fn is_plain_link_byte(byte: u8) -> bool {
    is_unreserved(byte) || b":/@!$&'()*+,;=".contains(&byte)
}

/// RFC 3986 unreserved characters: the only ones the encoder leaves as they are.
fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~')
}

/// Parses a base58 public key; `None` for anything else, including the empty string.
fn parse_pubkey(value: &str) -> Option<Pubkey> {
    if value.is_empty() {
        return None;
    }
    Pubkey::from_str(value).ok()
}

fn pubkey_param(field: &'static str, value: String) -> Result<Pubkey, SolanaPayError> {
    match parse_pubkey(&value) {
        Some(pubkey) => Ok(pubkey),
        None => Err(SolanaPayError::InvalidPubkey { field, value }),
    }
}

fn set_once<T>(
    slot: &mut Option<T>,
    key: &str,
    value: impl FnOnce() -> Result<T, SolanaPayError>,
) -> Result<(), SolanaPayError> {
    if slot.is_some() {
        return Err(SolanaPayError::DuplicateParameter(key.to_owned()));
    }
    *slot = Some(value()?);
    Ok(())
}

/// Writes `?key=value` then `&key=value`, percent-encoding the value.
struct QueryWriter<'a, 'b> {
    f: &'a mut fmt::Formatter<'b>,
    separator: char,
}

impl QueryWriter<'_, '_> {
    fn param(&mut self, key: &str, value: &str) -> fmt::Result {
        write!(self.f, "{}{key}={}", self.separator, PercentEncoded(value))?;
        self.separator = '&';
        Ok(())
    }
}

/// Percent-encodes every byte of the UTF-8 text except the unreserved characters, with
/// uppercase hex.
struct PercentEncoded<'a>(&'a str);

impl fmt::Display for PercentEncoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for byte in self.0.bytes() {
            if is_unreserved(byte) {
                f.write_char(char::from(byte))?;
            } else {
                f.write_char('%')?;
                f.write_char(char::from(HEX[usize::from(byte >> 4)]))?;
                f.write_char(char::from(HEX[usize::from(byte & 0x0F)]))?;
            }
        }
        Ok(())
    }
}

/// How a literal `+` decodes.
#[derive(Clone, Copy)]
enum PlusSign {
    /// Query values are form-encoded, where `+` is a space.
    Space,
    /// The link is decoded like `decodeURIComponent`, which keeps `+`.
    Literal,
}

fn decode_query_component(raw: &str, field: &str) -> Result<String, SolanaPayError> {
    percent_decode(raw, field, PlusSign::Space)
}

/// Decodes `%XX` escapes; the result must be UTF-8. `field` names the value in errors.
fn percent_decode(raw: &str, field: &str, plus: PlusSign) -> Result<String, SolanaPayError> {
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'%' => {
                let high = bytes.get(i + 1).copied().and_then(hex_value);
                let low = bytes.get(i + 2).copied().and_then(hex_value);
                let (Some(high), Some(low)) = (high, low) else {
                    return Err(SolanaPayError::InvalidPercentEncoding(format!(
                        "{field}: {raw:?} has a '%' not followed by two hex digits"
                    )));
                };
                decoded.push((high << 4) | low);
                i += 3;
            }
            b'+' if matches!(plus, PlusSign::Space) => {
                decoded.push(b' ');
                i += 1;
            }
            _ => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| {
        SolanaPayError::InvalidPercentEncoding(format!(
            "{field}: {raw:?} is not UTF-8 once decoded"
        ))
    })
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MVINES: &str = "mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN";
    const USDC: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";

    fn key(base58: &str) -> Pubkey {
        Pubkey::from_str(base58).unwrap()
    }

    fn filled(byte: u8) -> Pubkey {
        Pubkey::new_from_array([byte; 32])
    }

    fn amount(text: &str) -> UiAmount {
        text.parse().unwrap()
    }

    fn full_request(label: &str, message: &str, memo: &str) -> TransferRequest {
        TransferRequest {
            recipient: filled(1),
            amount: Some(amount("12.345")),
            spl_token: Some(key(USDC)),
            references: vec![filled(2), filled(3), filled(4)],
            label: Some(label.to_string()),
            message: Some(message.to_string()),
            memo: Some(memo.to_string()),
        }
    }

    #[test]
    fn transfer_requests_round_trip() {
        let cases = vec![
            TransferRequest::new(filled(1)),
            TransferRequest {
                amount: Some(amount("0")),
                ..TransferRequest::new(filled(1))
            },
            TransferRequest {
                references: vec![filled(9)],
                ..TransferRequest::new(filled(1))
            },
            full_request("Kassa Store", "Order 42, thanks!", "OrderId12345"),
            full_request("Café ☕", "Grüße & 😀", "ünïcödé"),
            full_request("a&b=c", "100% sure", "#hash ?q +plus"),
            full_request("", " ", "%20 is not a space"),
        ];
        for request in cases {
            let url = request.to_string();
            assert_eq!(
                SolanaPayUrl::parse(&url),
                Ok(SolanaPayUrl::Transfer(request.clone())),
                "{url}"
            );
            assert_eq!(url.parse::<TransferRequest>(), Ok(request), "{url}");
        }
    }

    #[test]
    fn text_is_percent_encoded_as_utf8_with_uppercase_hex() {
        let mut request = TransferRequest::new(key(MVINES));
        request.label = Some("Café ☕ & = % # + ~-_.".to_string());
        assert_eq!(
            request.to_string(),
            format!(
                "solana:{MVINES}?label=Caf%C3%A9%20%E2%98%95%20%26%20%3D%20%25%20%23%20%2B%20~-_."
            )
        );
    }

    #[test]
    fn references_keep_their_order() {
        let mut request = TransferRequest::new(key(MVINES));
        request.references = vec![filled(3), filled(2)];
        let url = request.to_string();
        assert_eq!(
            url,
            format!(
                "solana:{MVINES}?reference={}&reference={}",
                filled(3),
                filled(2)
            )
        );
        assert_eq!(
            url.parse::<TransferRequest>().unwrap().references,
            vec![filled(3), filled(2)]
        );
    }

    #[test]
    fn spec_transfer_examples() {
        let cases = vec![
            (
                "solana:mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN?amount=1&label=Michael\
                 &message=Thanks%20for%20all%20the%20fish&memo=OrderId12345",
                TransferRequest {
                    amount: Some(amount("1")),
                    label: Some("Michael".to_string()),
                    message: Some("Thanks for all the fish".to_string()),
                    memo: Some("OrderId12345".to_string()),
                    ..TransferRequest::new(key(MVINES))
                },
            ),
            (
                "solana:mvines9iiHiQTysrwkJjGf2gb9Ex9jXJX8ns3qwf2kN?amount=0.01\
                 &spl-token=EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v",
                TransferRequest {
                    amount: Some(amount("0.01")),
                    spl_token: Some(key(USDC)),
                    ..TransferRequest::new(key(MVINES))
                },
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(
                SolanaPayUrl::parse(url),
                Ok(SolanaPayUrl::Transfer(expected.clone()))
            );
            assert_eq!(expected.to_string(), url);
        }
    }

    #[test]
    fn spec_transaction_examples() {
        let cases = [
            (
                "solana:https://example.com/solana-pay",
                "https://example.com/solana-pay",
            ),
            (
                "solana:https%3A%2F%2Fexample.com%2Fsolana-pay%3Forder%3D12345",
                "https://example.com/solana-pay?order=12345",
            ),
        ];
        for (url, link) in cases {
            let expected = TransactionRequest::new(link).unwrap();
            assert_eq!(
                SolanaPayUrl::parse(url),
                Ok(SolanaPayUrl::Transaction(expected.clone()))
            );
            assert_eq!(url.parse::<TransactionRequest>(), Ok(expected.clone()));
            assert_eq!(expected.link(), link);
            assert_eq!(expected.to_string(), url);
        }
    }

    #[test]
    fn transaction_links_round_trip() {
        let links = [
            "https://example.com",
            "https://example.com/pay/a+b&c=d",
            "https://user@example.com:8443/pay",
            "https://example.com/a%20b",
            "https://example.com/caf\u{e9}",
            "https://example.com/pay#fragment",
            "https://[::1]:443/pay?x=1&y=%2F",
        ];
        for link in links {
            let request = TransactionRequest::new(link).unwrap();
            let url = SolanaPayUrl::Transaction(request.clone()).to_string();
            assert_eq!(
                SolanaPayUrl::parse(&url),
                Ok(SolanaPayUrl::Transaction(request)),
                "{url}"
            );
        }
    }

    #[test]
    fn parse_details() {
        let cases = vec![
            // Unknown parameters are ignored (forward compatibility).
            (
                format!("solana:{MVINES}?amount=1&redirect=https%3A%2F%2Fx.y&foo"),
                TransferRequest {
                    amount: Some(amount("1")),
                    ..TransferRequest::new(key(MVINES))
                },
            ),
            // '+' is a space in query values, '%2B' a plus.
            (
                format!("solana:{MVINES}?label=Thanks+for%2Ball"),
                TransferRequest {
                    label: Some("Thanks for+all".to_string()),
                    ..TransferRequest::new(key(MVINES))
                },
            ),
            // Scheme is case-insensitive; empty pairs and the fragment are skipped.
            (
                format!("SOLANA:{MVINES}?&memo=x&&#label=ignored"),
                TransferRequest {
                    memo: Some("x".to_string()),
                    ..TransferRequest::new(key(MVINES))
                },
            ),
            // Escaped parameter names are decoded; a name without '=' has an empty value.
            (
                format!("solana:{MVINES}?spl%2Dtoken={USDC}&label"),
                TransferRequest {
                    spl_token: Some(key(USDC)),
                    label: Some(String::new()),
                    ..TransferRequest::new(key(MVINES))
                },
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(
                SolanaPayUrl::parse(&url),
                Ok(SolanaPayUrl::Transfer(expected)),
                "{url}"
            );
        }
        // A transaction request's own query is ignored.
        assert_eq!(
            SolanaPayUrl::parse("solana:https://example.com/pay?label=Shop"),
            Ok(SolanaPayUrl::Transaction(
                TransactionRequest::new("https://example.com/pay").unwrap()
            ))
        );
    }

    #[test]
    fn rejections() {
        let amount_error =
            |value: &str, why: &str| SolanaPayError::InvalidAmount(format!("{value:?} {why}"));
        let cases = vec![
            (format!("{MVINES}?amount=1"), SolanaPayError::MissingScheme),
            (format!("bitcoin:{MVINES}"), SolanaPayError::MissingScheme),
            (String::new(), SolanaPayError::MissingScheme),
            (
                "solana:not-a-key".to_string(),
                SolanaPayError::InvalidRecipient("not-a-key".to_string()),
            ),
            (
                "solana:".to_string(),
                SolanaPayError::InvalidRecipient(String::new()),
            ),
            (
                "solana:?amount=1".to_string(),
                SolanaPayError::InvalidRecipient(String::new()),
            ),
            // The spec's third example writes '&' where '?' belongs; as a URL its path is not a key.
            (
                format!("solana:{MVINES}&label=Michael"),
                SolanaPayError::InvalidRecipient(format!("{MVINES}&label=Michael")),
            ),
            (
                format!("solana:{MVINES}?amount=-1"),
                amount_error("-1", "must not have a sign"),
            ),
            (
                format!("solana:{MVINES}?amount=1e3"),
                amount_error("1e3", "uses scientific notation"),
            ),
            (
                format!("solana:{MVINES}?amount=.5"),
                amount_error(".5", "needs a leading 0 before the '.'"),
            ),
            (
                format!("solana:{MVINES}?amount=1."),
                amount_error("1.", "needs digits after the '.'"),
            ),
            (
                format!("solana:{MVINES}?amount=1.2.3"),
                amount_error("1.2.3", "has more than one '.'"),
            ),
            (
                format!("solana:{MVINES}?amount="),
                amount_error("", "is empty"),
            ),
            (
                format!("solana:{MVINES}?amount=1%2C5"),
                amount_error("1,5", "has characters other than digits and '.'"),
            ),
            (
                format!("solana:{MVINES}?amount=1&amount=2"),
                SolanaPayError::DuplicateParameter("amount".to_string()),
            ),
            (
                format!("solana:{MVINES}?spl-token={USDC}&spl-token={USDC}"),
                SolanaPayError::DuplicateParameter("spl-token".to_string()),
            ),
            (
                format!("solana:{MVINES}?label=a&memo=b&label=c"),
                SolanaPayError::DuplicateParameter("label".to_string()),
            ),
            (
                format!("solana:{MVINES}?label=%G1"),
                SolanaPayError::InvalidPercentEncoding(
                    "label: \"%G1\" has a '%' not followed by two hex digits".to_string(),
                ),
            ),
            (
                format!("solana:{MVINES}?message=100%"),
                SolanaPayError::InvalidPercentEncoding(
                    "message: \"100%\" has a '%' not followed by two hex digits".to_string(),
                ),
            ),
            (
                format!("solana:{MVINES}?label=%FF"),
                SolanaPayError::InvalidPercentEncoding(
                    "label: \"%FF\" is not UTF-8 once decoded".to_string(),
                ),
            ),
            (
                "solana:http://example.com/solana-pay".to_string(),
                SolanaPayError::InvalidLink(
                    "\"http://example.com/solana-pay\" is not an absolute https URL".to_string(),
                ),
            ),
            (
                "solana:https%3A%2F%2F%2Fpay".to_string(),
                SolanaPayError::InvalidLink("\"https:///pay\" has no host".to_string()),
            ),
            (
                "solana:https%3A%2F%2Fexample.com%2Fa%20b".to_string(),
                SolanaPayError::InvalidLink(
                    "\"https://example.com/a b\" contains whitespace or control characters"
                        .to_string(),
                ),
            ),
            (
                format!("solana:{MVINES}?reference={USDC}&reference=abc"),
                SolanaPayError::InvalidPubkey {
                    field: "reference",
                    value: "abc".to_string(),
                },
            ),
            (
                format!("solana:{MVINES}?spl-token=not-a-mint"),
                SolanaPayError::InvalidPubkey {
                    field: "spl-token",
                    value: "not-a-mint".to_string(),
                },
            ),
        ];
        for (url, expected) in cases {
            assert_eq!(SolanaPayUrl::parse(&url), Err(expected), "{url}");
        }
    }

    #[test]
    fn arbitrary_input_does_not_panic() {
        let inputs = [
            "solana",
            "solanä:",
            "sola\u{e9}:x",
            "solana:é",
            "solana:%",
            "solana:%E2%98",
            "solana:https%3A%2F%2F%E2%98",
            "solana:https://é@:",
            "solana:https://[",
            "solana::",
            "solana:?&&=&=",
            "solana:😀?amount=😀&label=%F0%9F%98%80&reference=😀",
            "solana:11111111111111111111111111111111?amount=0.%",
        ];
        for input in inputs {
            let _ = SolanaPayUrl::parse(input);
        }
    }

    #[test]
    fn amount_validation_accepts_plain_decimals() {
        for text in [
            "0",
            "0.01",
            "10",
            "007",
            "1.50",
            "123456789012345678901234567890",
        ] {
            assert_eq!(
                text.parse::<UiAmount>().map(|a| a.to_string()),
                Ok(text.to_string())
            );
        }
    }

    #[test]
    fn to_base_units() {
        let cases = [
            ("1.5", 6, Ok(1_500_000)),
            ("0.01", 6, Ok(10_000)),
            ("1", 9, Ok(1_000_000_000)),
            ("0", 0, Ok(0)),
            ("007", 0, Ok(7)),
            ("1.50", 1, Ok(15)),
            ("0", 255, Ok(0)),
            ("18446744073709551615", 0, Ok(u64::MAX)),
            ("18446744073.709551615", 9, Ok(u64::MAX)),
            (
                "0.0000001",
                6,
                Err(SolanaPayError::TooManyDecimals { decimals: 6 }),
            ),
            (
                "1.5",
                0,
                Err(SolanaPayError::TooManyDecimals { decimals: 0 }),
            ),
            (
                "18446744073709551616",
                0,
                Err(SolanaPayError::AmountOverflow),
            ),
            (
                "18446744073.709551616",
                9,
                Err(SolanaPayError::AmountOverflow),
            ),
            ("1", 20, Err(SolanaPayError::AmountOverflow)),
        ];
        for (text, decimals, expected) in cases {
            assert_eq!(
                amount(text).to_base_units(decimals),
                expected,
                "{text} @ {decimals}"
            );
        }
    }

    #[test]
    fn from_base_units() {
        let cases = [
            (1_500_000, 6, "1.5"),
            (5, 6, "0.000005"),
            (2_000_000, 6, "2"),
            (0, 6, "0"),
            (0, 0, "0"),
            (42, 0, "42"),
            (1, 19, "0.0000000000000000001"),
            (u64::MAX, 9, "18446744073.709551615"),
        ];
        for (base_units, decimals, text) in cases {
            let ui = UiAmount::from_base_units(base_units, decimals);
            assert_eq!(ui.as_str(), text);
            assert_eq!(ui.to_base_units(decimals), Ok(base_units));
        }
    }

    #[test]
    fn payment_links() {
        let payment = filled(5);
        let expected = format!("https://pay.example.com/v1/pay/{payment}");
        for base in [
            "https://pay.example.com",
            "https://pay.example.com/",
            "https://pay.example.com//",
        ] {
            let request = payment_link(base, &payment).unwrap();
            assert_eq!(request.link(), expected);
            assert_eq!(request.to_string(), format!("solana:{expected}"));
        }
        assert_eq!(
            payment_link("http://pay.example.com", &payment),
            Err(SolanaPayError::InvalidLink(format!(
                "\"http://pay.example.com/v1/pay/{payment}\" is not an absolute https URL"
            )))
        );
        assert_eq!(
            payment_link("https://pay.example.com/?shop=1", &payment),
            Err(SolanaPayError::InvalidLink(
                "base \"https://pay.example.com/?shop=1\" must not have a query or fragment"
                    .to_string()
            ))
        );
    }
}
