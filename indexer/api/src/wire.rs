//! Reading rows into the wire types: keys as base58, `u64` amounts as integer strings, chain
//! times (unix seconds) as RFC 3339.

use crate::error::{ApiError, ApiResult};
use rust_decimal::Decimal;
use solana_sdk::{pubkey::Pubkey, signature::Signature};
use sqlx::{postgres::PgRow, Row};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

/// A column read failed: the schema and the code disagree, which is a bug.
fn column(name: &str, e: sqlx::Error) -> ApiError {
    ApiError::Internal(format!("column {name}: {e}"))
}

/// Bytes as base58: addresses and signatures through the Solana types' fixed-size encoders
/// (several times faster than the general one, and this is on every answer's path).
pub fn base58(bytes: &[u8]) -> String {
    if let Ok(k) = <[u8; 32]>::try_from(bytes) {
        Pubkey::from(k).to_string()
    } else if let Ok(s) = <[u8; 64]>::try_from(bytes) {
        Signature::from(s).to_string()
    } else {
        bs58::encode(bytes).into_string()
    }
}

/// A 32- or 64-byte key column as base58.
pub fn key(row: &PgRow, name: &str) -> ApiResult<String> {
    let bytes: &[u8] = row.try_get(name).map_err(|e| column(name, e))?;
    Ok(base58(bytes))
}

/// A nullable key column.
pub fn opt_key(row: &PgRow, name: &str) -> ApiResult<Option<String>> {
    let bytes: Option<&[u8]> = row.try_get(name).map_err(|e| column(name, e))?;
    Ok(bytes.map(base58))
}

/// A `u64` (numeric) column as an integer string.
pub fn amount(row: &PgRow, name: &str) -> ApiResult<String> {
    let d: Decimal = row.try_get(name).map_err(|e| column(name, e))?;
    Ok(d.normalize().to_string())
}

/// A nullable `u64` column.
pub fn opt_amount(row: &PgRow, name: &str) -> ApiResult<Option<String>> {
    let d: Option<Decimal> = row.try_get(name).map_err(|e| column(name, e))?;
    Ok(d.map(|d| d.normalize().to_string()))
}

/// Any other column.
pub fn get<'r, T>(row: &'r PgRow, name: &str) -> ApiResult<T>
where
    T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    row.try_get(name).map_err(|e| column(name, e))
}

/// Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(ts: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ts.to_string())
}

/// A chain-time column as RFC 3339.
pub fn time(row: &PgRow, name: &str) -> ApiResult<String> {
    Ok(rfc3339(get::<i64>(row, name)?))
}

/// A nullable chain-time column (0 also means unset on chain).
pub fn opt_time(row: &PgRow, name: &str) -> ApiResult<Option<String>> {
    Ok(get::<Option<i64>>(row, name)?
        .filter(|t| *t != 0)
        .map(rfc3339))
}

/// A `timestamptz` column as RFC 3339.
pub fn stamp(row: &PgRow, name: &str) -> ApiResult<String> {
    let t: OffsetDateTime = get(row, name)?;
    Ok(t.format(&Rfc3339).unwrap_or_default())
}

/// A nullable `timestamptz` column.
pub fn opt_stamp(row: &PgRow, name: &str) -> ApiResult<Option<String>> {
    let t: Option<OffsetDateTime> = get(row, name)?;
    Ok(t.and_then(|t| t.format(&Rfc3339).ok()))
}

/// `s` as an address, or a 400 naming the field.
pub fn parse_key(field: &str, s: &str) -> ApiResult<Pubkey> {
    s.parse().map_err(|_| {
        ApiError::bad(
            "invalid-address",
            format!("{field} {s:?} is not a base58 address of 32 bytes"),
        )
    })
}

/// `s` as a transaction signature, or a 400 naming the field.
pub fn parse_signature(field: &str, s: &str) -> ApiResult<Signature> {
    s.parse().map_err(|_| {
        ApiError::bad(
            "invalid-signature",
            format!("{field} {s:?} is not a base58 signature of 64 bytes"),
        )
    })
}

/// `s` as a positive `u64` amount in base units, or a 422 naming the field.
pub fn parse_amount(field: &str, s: &str) -> ApiResult<u64> {
    let ok = !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit());
    match s.parse::<u64>() {
        Ok(v) if ok && v > 0 => Ok(v),
        _ => Err(ApiError::unprocessable(
            "invalid-amount",
            format!(
                "{field} {s:?} must be a positive integer string in base units, at most 18446744073709551615"
            ),
        )),
    }
}

/// An RFC 3339 time as unix seconds, or a 400 naming the field.
pub fn parse_time(field: &str, s: &str) -> ApiResult<i64> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map(|t| t.unix_timestamp())
        .map_err(|_| {
            ApiError::bad(
                "invalid-time",
                format!("{field} {s:?} is not an RFC 3339 time such as 2026-11-30T09:00:00Z"),
            )
        })
}
