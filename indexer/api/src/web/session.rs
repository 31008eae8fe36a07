//! Signed-in browsers. Signing in with an API key opens a session: a new 256-bit secret in a
//! `__Host-` cookie (HttpOnly, Secure, SameSite=Strict, path `/`), stored only as its SHA-256,
//! acting with that key for eight hours or until the key is revoked or expires. Every sign-in
//! makes a new session, so a session id planted before sign-in gets nothing (fixation). Every
//! form and script request that changes something carries the session's CSRF token, compared
//! in constant time; the sign-in form itself carries a double-submit token of its own.

use crate::{
    auth::{hash, Caller},
    error::ApiError,
    AppState,
};
use axum::http::{header, HeaderMap, HeaderValue};
use kassa_sdk::api::types::Role;
use rand::RngCore;
use solana_sdk::pubkey::Pubkey;

pub const COOKIE: &str = "__Host-kassa_session";
pub const LOGIN_COOKIE: &str = "__Host-kassa_signin";
/// How long a session lasts.
pub const HOURS: i64 = 8;

/// A signed-in browser.
#[derive(Clone, Debug)]
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    pub id: [u8; 32],
}

/// 256 random bits, as 64 hex digits.
pub fn secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Equal, compared in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// csrf, key id, account, role, merchant.
type SessionRow = (String, String, i64, String, Option<Vec<u8>>);

/// The session the request's cookie stands for, if live.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, ApiError> {
    let Some(secret) = super::i18n::cookie(headers, COOKIE) else {
        return Ok(None);
    };
    if secret.len() != 64 {
        return Ok(None);
    }
    let id = hash(&secret);
    let row: Option<SessionRow> = sqlx::query_as(
        "SELECT s.csrf, k.id, a.id, a.role, a.merchant
         FROM api.web_session s JOIN api.key k ON k.id = s.key_id JOIN api.account a ON a.id = k.account
         WHERE s.web_session_id = $1 AND s.expires_at > now() AND s.signed_out_at IS NULL
           AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())",
    )
    .bind(&id[..])
    .fetch_optional(&state.pool)
    .await?;
    let Some((csrf, key_id, account, role, merchant)) = row else {
        return Ok(None);
    };
    Ok(Some(Session {
        caller: Caller {
            account,
            role: Role::parse(&role).ok_or_else(|| ApiError::Internal(format!("role {role}")))?,
            merchant: merchant
                .map(|m| Pubkey::try_from(m.as_slice()))
                .transpose()
                .map_err(|_| ApiError::Internal("merchant is not 32 bytes".into()))?,
            key_id,
        },
        csrf,
        id,
    }))
}

/// Opens a session for `caller`; answers the `Set-Cookie` value.
pub async fn open(state: &AppState, caller: &Caller) -> Result<HeaderValue, ApiError> {
    let secret = secret();
    sqlx::query(
        "INSERT INTO api.web_session (web_session_id, key_id, csrf, expires_at)
         VALUES ($1, $2, $3, now() + make_interval(hours => $4))",
    )
    .bind(&hash(&secret)[..])
    .bind(&caller.key_id)
    .bind(self::secret())
    .bind(HOURS as i32)
    .execute(&state.pool)
    .await?;
    // Sessions ended a day ago or more go (signing in is rare enough to carry it).
    sqlx::query(
        "DELETE FROM api.web_session
         WHERE expires_at < now() - interval '1 day' OR signed_out_at < now() - interval '1 day'",
    )
    .execute(&state.pool)
    .await?;
    HeaderValue::from_str(&format!(
        "{COOKIE}={secret}; Path=/; Max-Age={}; HttpOnly; Secure; SameSite=Strict",
        HOURS * 3600
    ))
    .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Ends `session`; answers the `Set-Cookie` that clears the cookie.
pub async fn close(state: &AppState, session: &Session) -> Result<HeaderValue, ApiError> {
    sqlx::query("UPDATE api.web_session SET signed_out_at = now() WHERE web_session_id = $1")
        .bind(&session.id[..])
        .execute(&state.pool)
        .await?;
    Ok(HeaderValue::from_static(
        "__Host-kassa_session=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict",
    ))
}

/// Refuses a request that changes something without the session's CSRF token (`token`: the
/// form field or the `x-csrf-token` header), or that a browser says came from another site.
pub fn check(session: &Session, headers: &HeaderMap, token: Option<&str>) -> Result<(), ApiError> {
    let cross = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site");
    let token = token.or_else(|| headers.get("x-csrf-token").and_then(|v| v.to_str().ok()));
    match token {
        Some(t) if !cross && same(t, &session.csrf) => Ok(()),
        _ => Err(ApiError::Forbidden(
            "the form's CSRF token is missing or wrong: reload the page and try again".into(),
        )),
    }
}

/// The `Set-Cookie` of the sign-in form's token.
pub fn login_cookie(token: &str) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{LOGIN_COOKIE}={token}; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Strict"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Is `token` the sign-in form's own (the cookie set with the form)?
pub fn login_ok(headers: &HeaderMap, token: &str) -> bool {
    super::i18n::cookie(headers, LOGIN_COOKIE).is_some_and(|c| c.len() == 64 && same(&c, token))
}

pub fn set_cookie(h: &mut HeaderMap, v: HeaderValue) {
    h.append(header::SET_COOKIE, v);
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::same("abc", "abc"));
        assert!(!super::same("abc", "abd"));
        assert!(!super::same("abc", "ab"));
        assert_eq!(super::secret().len(), 64);
        assert_ne!(super::secret(), super::secret());
    }
}
