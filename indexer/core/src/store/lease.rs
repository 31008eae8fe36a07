//! One writer per stream. Several `kassa` processes may share a database: each stream (a
//! program's transactions, or the finality pass) is written only by the process holding its
//! lease in `chain.stream_lease`. The holder renews the lease inside every write transaction
//! (so a write commits only while the lease is held, and a competitor's takeover waits for
//! it), and on every pass. Each holder keeps one database session open for its whole life
//! (its anchor): when that session is gone the holder is dead and another process takes the
//! stream over at once; a holder that is alive but stopped renewing loses it at expiry. A
//! holder that stops cleanly releases it.

use super::StoreError;
use sqlx::{PgConnection, PgPool};
use std::time::Duration;

/// This process's claim on one stream.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The stream: a program's crate name, or `finality`.
    pub stream: String,
    /// Who holds it: host, process and a random part, unique per process.
    pub holder: String,
    /// How long a grant lasts without renewal.
    pub ttl: Duration,
    /// The backend pid of the holder's anchor session.
    pub anchor_pid: i32,
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Lease {
    pub fn new(
        stream: impl Into<String>,
        holder: impl Into<String>,
        ttl: Duration,
        anchor_pid: i32,
    ) -> Self {
        Self {
            stream: stream.into(),
            holder: holder.into(),
            ttl,
            anchor_pid,
        }
    }

    /// Takes the lease when it is free, has expired or its holder is dead (its anchor session
    /// is gone), or renews it when this process holds it. Returns whether this process holds
    /// it now.
    pub async fn acquire(&self, pool: &PgPool) -> Result<bool, StoreError> {
        let held = sqlx::query(
            "INSERT INTO chain.stream_lease AS l (stream, holder, holder_pid, acquired_at, expires_at)
             VALUES ($1, $2, $4, now(), now() + $3 * interval '1 millisecond')
             ON CONFLICT (stream) DO UPDATE
             SET holder = EXCLUDED.holder,
                 holder_pid = EXCLUDED.holder_pid,
                 acquired_at = CASE WHEN l.holder = EXCLUDED.holder THEN l.acquired_at
                                    ELSE EXCLUDED.acquired_at END,
                 expires_at = EXCLUDED.expires_at
             WHERE l.holder = EXCLUDED.holder
                OR l.expires_at < now()
                OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.holder_pid)
             RETURNING 1",
        )
        .bind(&self.stream)
        .bind(&self.holder)
        .bind(millis(self.ttl))
        .bind(self.anchor_pid)
        .fetch_optional(pool)
        .await?
        .is_some();
        Ok(held)
    }

    /// Inside a write transaction: renews the lease and locks it until the transaction ends,
    /// or fails with [`StoreError::LeaseLost`] when this process no longer holds it.
    pub async fn hold(&self, tx: &mut PgConnection) -> Result<(), StoreError> {
        let renewed = sqlx::query(
            "UPDATE chain.stream_lease SET expires_at = now() + $3 * interval '1 millisecond'
             WHERE stream = $1 AND holder = $2 AND expires_at > now()",
        )
        .bind(&self.stream)
        .bind(&self.holder)
        .bind(millis(self.ttl))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if renewed == 1 {
            Ok(())
        } else {
            Err(StoreError::LeaseLost(self.stream.clone()))
        }
    }

    /// Gives the lease up (a clean shutdown), so another process takes over at once.
    pub async fn release(&self, pool: &PgPool) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM chain.stream_lease WHERE stream = $1 AND holder = $2")
            .bind(&self.stream)
            .bind(&self.holder)
            .execute(pool)
            .await?;
        Ok(())
    }

    /// Who holds `stream` now, if anyone holds it unexpired.
    pub async fn holder_of(pool: &PgPool, stream: &str) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT holder FROM chain.stream_lease WHERE stream = $1 AND expires_at > now()",
        )
        .bind(stream)
        .fetch_optional(pool)
        .await?)
    }
}
