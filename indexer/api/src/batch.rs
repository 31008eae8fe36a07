//! Payment lookups by address, coalesced: requests that arrive while a lookup is running are
//! answered together by the next one (`address = ANY($1)`), so under load the database sees a
//! few queries of many addresses instead of one round trip per request. Nothing waits for a
//! batch to fill: a lookup on an idle server runs at once, alone. Each answer is read after its
//! request arrived, so it is as fresh as a query of its own.

use crate::error::ApiError;
use sqlx::{postgres::PgRow, PgPool, Row};
use std::{collections::HashMap, sync::Arc};
use tokio::sync::{mpsc, oneshot, Mutex};

type Reply = oneshot::Sender<Result<Option<Arc<PgRow>>, ApiError>>;

/// Lookups in flight at once (each with any number of addresses).
const WORKERS: usize = 4;
/// Addresses in one lookup at most.
const MAX_BATCH: usize = 256;

#[derive(Clone)]
pub struct PaymentLoader {
    tx: mpsc::Sender<([u8; 32], Reply)>,
}

impl PaymentLoader {
    /// Starts the lookup workers on the current runtime; they end when the loader is dropped.
    /// They have connections of their own, on the API pool's options, set to plan the one
    /// lookup once (`plan_cache_mode = force_generic_plan`: an index probe of `address = ANY`
    /// whatever the batch) instead of planning it again for every batch.
    pub fn start(pool: PgPool) -> Self {
        let options = (*pool.connect_options())
            .clone()
            .options([("plan_cache_mode", "force_generic_plan")]);
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(WORKERS as u32)
            .acquire_timeout(std::time::Duration::from_secs(2))
            .test_before_acquire(false)
            .connect_lazy_with(options);
        let (tx, rx) = mpsc::channel::<([u8; 32], Reply)>(4096);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WORKERS {
            let (rx, pool) = (rx.clone(), pool.clone());
            tokio::spawn(async move {
                loop {
                    let mut batch = Vec::new();
                    {
                        let mut rx = rx.lock().await;
                        let Some(first) = rx.recv().await else { return };
                        batch.push(first);
                        while batch.len() < MAX_BATCH {
                            match rx.try_recv() {
                                Ok(item) => batch.push(item),
                                Err(_) => break,
                            }
                        }
                    }
                    answer(&pool, batch).await;
                }
            });
        }
        Self { tx }
    }

    /// The payment row at `address`, if any.
    pub async fn load(&self, address: [u8; 32]) -> Result<Option<Arc<PgRow>>, ApiError> {
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((address, reply))
            .await
            .map_err(|_| ApiError::Internal("the payment loader stopped".into()))?;
        answer
            .await
            .map_err(|_| ApiError::Internal("the payment loader dropped a lookup".into()))?
    }
}

async fn answer(pool: &PgPool, batch: Vec<([u8; 32], Reply)>) {
    let keys: Vec<Vec<u8>> = batch.iter().map(|(a, _)| a.to_vec()).collect();
    let rows = sqlx::query("SELECT * FROM chain.payment WHERE address = ANY($1)")
        .bind(&keys)
        .fetch_all(pool)
        .await;
    match rows {
        Ok(rows) => {
            let mut by_address: HashMap<Vec<u8>, Arc<PgRow>> = HashMap::with_capacity(rows.len());
            for row in rows {
                if let Ok(a) = row.try_get::<Vec<u8>, _>("address") {
                    by_address.insert(a, Arc::new(row));
                }
            }
            for (address, reply) in batch {
                let _ = reply.send(Ok(by_address.get(&address[..]).cloned()));
            }
        }
        Err(e) => {
            let e = ApiError::from(e);
            for (_, reply) in batch {
                let _ = reply.send(Err(clone_error(&e)));
            }
        }
    }
}

/// The same error for every lookup of a failed batch.
fn clone_error(e: &ApiError) -> ApiError {
    match e {
        ApiError::Unavailable {
            detail,
            retry_after,
        } => ApiError::Unavailable {
            detail: detail.clone(),
            retry_after: *retry_after,
        },
        other => ApiError::Internal(other.to_string()),
    }
}
