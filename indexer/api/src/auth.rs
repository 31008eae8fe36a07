//! API keys and roles. A key is 256 random bits shown once (`kassa_sk_` + base58), stored as
//! its SHA-256: a fast hash is right for a high-entropy secret checked on every request (there
//! is nothing to brute-force), and the database never holds one in clear. Revocation takes
//! effect at once in the process that revoked and within [`CACHE_TTL`] elsewhere.

use crate::{
    error::{ApiError, ApiResult},
    wire, AppState,
};
use axum::{
    extract::{Request, State},
    http::header,
    middleware::Next,
    response::Response,
};
use kassa_sdk::api::types::{Account, ApiKey, NewApiKey, Role};
use rand::RngCore;
use sha2::{Digest, Sha256};
use solana_sdk::pubkey::Pubkey;
use sqlx::PgPool;
use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

/// How long a key check is remembered in a process.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
const CACHE_MAX: usize = 100_000;
const SECRET_PREFIX: &str = "kassa_sk_";

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: i64,
    pub role: Role,
    /// For merchants: the merchant PDA whose data alone they see.
    pub merchant: Option<Pubkey>,
    pub key_id: String,
}

impl Caller {
    /// The merchant this caller is confined to, if any.
    pub fn scope(&self) -> Option<Pubkey> {
        match self.role {
            Role::Merchant => self.merchant,
            _ => None,
        }
    }

    /// May this caller see `merchant`'s data?
    pub fn sees(&self, merchant: &Pubkey) -> bool {
        self.scope().is_none_or(|m| &m == merchant)
    }

    /// Refuses callers whose role is not in `roles`.
    pub fn require(&self, roles: &[Role], what: &str) -> ApiResult<()> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "a {} key may not {what}",
                self.role.as_str()
            )))
        }
    }
}

/// A key check and when it was made (`None`: the key is not live).
type Checked = (Option<Caller>, Instant);

/// Remembered key checks, by hash.
#[derive(Default)]
pub struct KeyCache {
    entries: RwLock<HashMap<[u8; 32], Checked>>,
}

impl KeyCache {
    fn get(&self, hash: &[u8; 32]) -> Option<Option<Caller>> {
        let entries = self.entries.read().ok()?;
        let (caller, at) = entries.get(hash)?;
        (at.elapsed() < CACHE_TTL).then(|| caller.clone())
    }

    fn put(&self, hash: [u8; 32], caller: Option<Caller>) {
        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= CACHE_MAX {
                entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
                if entries.len() >= CACHE_MAX {
                    entries.clear();
                }
            }
            entries.insert(hash, (caller, Instant::now()));
        }
    }

    /// Forgets every check of `key_id`'s account (after a revocation or rotation here).
    pub fn forget_account(&self, account: i64) {
        if let Ok(mut entries) = self.entries.write() {
            entries.retain(|_, (c, _)| c.as_ref().is_none_or(|c| c.account != account));
        }
    }
}

pub fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Could `secret` be a key at all (`kassa_sk_` and the base58 of 32 bytes: 32 to 44 of its
/// characters)? Only then is the database asked.
fn well_formed(secret: &str) -> bool {
    secret.strip_prefix(SECRET_PREFIX).is_some_and(|b| {
        (32..=44).contains(&b.len())
            && b.bytes()
                .all(|c| c.is_ascii_alphanumeric() && !matches!(c, b'0' | b'O' | b'I' | b'l'))
    })
}

/// The caller a secret stands for, if the key is live. Only live keys are remembered, so a
/// flood of made-up keys cannot crowd them out.
pub async fn lookup(state: &AppState, secret: &str) -> ApiResult<Option<Caller>> {
    if !well_formed(secret) {
        return Ok(None);
    }
    let h = hash(secret);
    if let Some(hit) = state.keys.get(&h) {
        return Ok(hit);
    }
    let row: Option<(String, i64, String, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT k.id, a.id, a.role, a.merchant FROM api.key k JOIN api.account a ON a.id = k.account
         WHERE k.hash = $1 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())",
    )
    .bind(&h[..])
    .fetch_optional(&state.pool)
    .await?;
    let caller = match row {
        None => None,
        Some((key_id, account, role, merchant)) => Some(Caller {
            account,
            role: Role::parse(&role)
                .ok_or_else(|| ApiError::Internal(format!("unknown role {role}")))?,
            merchant: merchant
                .map(|m| Pubkey::try_from(m.as_slice()))
                .transpose()
                .map_err(|_| ApiError::Internal("merchant key is not 32 bytes".into()))?,
            key_id,
        }),
    };
    if let Some(c) = &caller {
        state.keys.put(h, Some(c.clone()));
    }
    Ok(caller)
}

/// Middleware: a live key in `Authorization: Bearer`, within its rate; puts the [`Caller`] in
/// the request's extensions.
pub async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let secret = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(|| {
            ApiError::Unauthorized("send an API key as Authorization: Bearer <key>".into())
        })?;
    let client = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let Some(caller) = lookup(&state, secret).await? else {
        // Failed attempts count against the client's address, like Solana Pay requests.
        if let Some(ip) = client {
            if state.limits.clients.check_key(&ip).is_err() {
                return Err(ApiError::RateLimited { retry_after: 1 });
            }
        }
        return Err(ApiError::Unauthorized(
            "the API key is unknown, revoked or expired".into(),
        ));
    };
    if let Err(not_until) = state.limits.keys.check_key(&caller.key_id) {
        let wait = not_until.wait_time_from(governor::clock::Clock::now(
            &governor::clock::DefaultClock::default(),
        ));
        return Err(ApiError::RateLimited {
            retry_after: wait.as_secs().max(1),
        });
    }
    request.extensions_mut().insert(caller);
    Ok(next.run(request).await)
}

fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{SECRET_PREFIX}{}", bs58::encode(bytes).into_string())
}

fn key_of(row: &sqlx::postgres::PgRow) -> ApiResult<ApiKey> {
    Ok(ApiKey {
        id: wire::get(row, "id")?,
        account: wire::get(row, "account")?,
        last4: wire::get(row, "last4")?,
        created_at: wire::stamp(row, "created_at")?,
        expires_at: wire::opt_stamp(row, "expires_at")?,
        revoked_at: wire::opt_stamp(row, "revoked_at")?,
    })
}

pub fn account_of(row: &sqlx::postgres::PgRow) -> ApiResult<Account> {
    let role: String = wire::get(row, "role")?;
    Ok(Account {
        id: wire::get(row, "id")?,
        name: wire::get(row, "name")?,
        role: Role::parse(&role).ok_or_else(|| ApiError::Internal(format!("role {role}")))?,
        merchant: wire::opt_key(row, "merchant")?,
        created_at: wire::stamp(row, "created_at")?,
    })
}

/// Issues a new key for `account`; the secret is in the answer and nowhere else.
pub async fn issue_key<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    account: i64,
) -> ApiResult<NewApiKey> {
    let secret = new_secret();
    let mut id_bytes = [0u8; 8];
    rand::rng().fill_bytes(&mut id_bytes);
    let id = format!(
        "key_{}",
        id_bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let last4 = secret[secret.len() - 4..].to_string();
    let row = sqlx::query(
        "INSERT INTO api.key (id, account, hash, last4) VALUES ($1, $2, $3, $4)
         RETURNING id, account, last4, created_at, expires_at, revoked_at",
    )
    .bind(&id)
    .bind(account)
    .bind(&hash(&secret)[..])
    .bind(&last4)
    .fetch_one(executor)
    .await?;
    Ok(NewApiKey {
        key: key_of(&row)?,
        secret,
    })
}

/// Creates an account (for a merchant: bound to its registered on-chain merchant) with its
/// first key. Used by the operator route and `kassa account create`.
pub async fn create_account(
    pool: &PgPool,
    name: &str,
    role: Role,
    merchant: Option<&Pubkey>,
) -> ApiResult<(Account, NewApiKey)> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable(
            "invalid-name",
            "name must be 1 to 200 characters, none of them control characters",
        ));
    }
    match (role, merchant) {
        (Role::Merchant, None) => {
            return Err(ApiError::unprocessable(
                "merchant-required",
                "a merchant account needs `merchant`: its merchant PDA",
            ))
        }
        (Role::Merchant, Some(m)) => {
            let known: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM chain.merchant WHERE address = $1")
                    .bind(&m.to_bytes()[..])
                    .fetch_optional(pool)
                    .await?;
            if known.is_none() {
                return Err(ApiError::unprocessable(
                    "merchant-not-registered",
                    format!("merchant {m} is not registered on chain (or not yet indexed)"),
                ));
            }
        }
        (_, Some(_)) => {
            return Err(ApiError::unprocessable(
                "merchant-not-allowed",
                "only merchant accounts are bound to a merchant",
            ))
        }
        (_, None) => {}
    }
    let mut tx = pool.begin().await?;
    let row = sqlx::query(
        "INSERT INTO api.account (name, role, merchant) VALUES ($1, $2, $3)
         ON CONFLICT (merchant) DO NOTHING
         RETURNING id, name, role, merchant, created_at",
    )
    .bind(name)
    .bind(role.as_str())
    .bind(merchant.map(|m| m.to_bytes().to_vec()))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::Conflict {
        kind: "account-exists",
        detail: "that merchant already has an API account; issue it another key instead".into(),
    })?;
    let account = account_of(&row)?;
    let key = issue_key(&mut *tx, account.id).await?;
    tx.commit().await?;
    Ok((account, key))
}

/// The keys of `account`.
pub async fn keys(pool: &PgPool, account: i64) -> ApiResult<Vec<ApiKey>> {
    sqlx::query(
        "SELECT id, account, last4, created_at, expires_at, revoked_at FROM api.key
         WHERE account = $1 ORDER BY created_at, id",
    )
    .bind(account)
    .fetch_all(pool)
    .await?
    .iter()
    .map(key_of)
    .collect()
}

/// The account owning key `id`, if any.
pub async fn key_account(pool: &PgPool, id: &str) -> ApiResult<Option<i64>> {
    Ok(
        sqlx::query_scalar("SELECT account FROM api.key WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?,
    )
}

/// Revokes key `id` now. Revoking twice is not an error (it keeps the first time).
pub async fn revoke(pool: &PgPool, id: &str) -> ApiResult<ApiKey> {
    let row = sqlx::query(
        "UPDATE api.key SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
         RETURNING id, account, last4, created_at, expires_at, revoked_at",
    )
    .bind(id)
    .fetch_optional(pool)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no key {id}")))?;
    key_of(&row)
}

/// Issues a new key for the account of `id`; `id` keeps working for `overlap` more (never
/// longer than it already would).
pub async fn rotate(pool: &PgPool, id: &str, overlap: Duration) -> ApiResult<NewApiKey> {
    let mut tx = pool.begin().await?;
    let account: i64 = sqlx::query_scalar(
        "UPDATE api.key SET expires_at = least(coalesce(expires_at, 'infinity'),
                                               now() + make_interval(secs => $2))
         WHERE id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
         RETURNING account",
    )
    .bind(id)
    .bind(overlap.as_secs_f64())
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| ApiError::NotFound(format!("no live key {id}")))?;
    let key = issue_key(&mut *tx, account).await?;
    tx.commit().await?;
    Ok(key)
}
