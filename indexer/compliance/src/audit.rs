//! The append-only audit log: who did what to which object, with the SHA-256 of the detail
//! (a reason, a case record, a list file) and the transaction signature of what went on chain.
//! It holds ids and hashes only, so erasing personal data elsewhere never touches it; the
//! database refuses to update, delete or truncate it.

use crate::Result;
use serde::Serialize;
use sqlx::{PgConnection, PgPool, Row};

/// Appends one record inside the caller's transaction (so the record and the change it
/// records commit together).
pub async fn record(
    conn: &mut PgConnection,
    officer: Option<i64>,
    action: &str,
    object: &str,
    sha256: &[u8; 32],
    signature: Option<&str>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO compliance.audit (officer, action, object, sha256, signature)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(officer)
    .bind(action)
    .bind(object)
    .bind(&sha256[..])
    .bind(signature)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, Serialize)]
pub struct Record {
    pub id: i64,
    pub at: String,
    /// The officer's API account id; absent for the monitor's own actions.
    pub officer: Option<i64>,
    pub action: String,
    pub object: String,
    pub sha256: String,
    pub signature: Option<String>,
}

/// Records after `after` (oldest first), optionally only those of `object`.
pub async fn list(
    pool: &PgPool,
    object: Option<&str>,
    after: i64,
    limit: i64,
) -> Result<Vec<Record>> {
    let rows = sqlx::query(
        "SELECT id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), officer,
                action, object, encode(sha256, 'hex'), signature
         FROM compliance.audit
         WHERE id > $1 AND ($2::text IS NULL OR object = $2)
         ORDER BY id LIMIT $3",
    )
    .bind(after)
    .bind(object)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| Record {
            id: r.get(0),
            at: r.get(1),
            officer: r.get(2),
            action: r.get(3),
            object: r.get(4),
            sha256: r.get(5),
            signature: r.get(6),
        })
        .collect())
}
