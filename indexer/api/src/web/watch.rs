//! Live payment status for the pages: one task per process polls the mirrored state of every
//! payment some page is watching, in one query every [`POLL`], and wakes the pages whose
//! payment changed (server-sent events). The cost is one query per interval however many pages
//! are open; a page learns of a change at most one interval after the indexer stored it.

use sqlx::{PgPool, Row as _};
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::watch;

/// How often the watched payments are read.
pub const POLL: Duration = Duration::from_millis(150);

/// What a page shows of a payment, as mirrored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// `chain.payment.status` (empty: not mirrored).
    pub status: String,
    /// The highest live event sequence.
    pub seq: i64,
    /// How many of its events are finalized.
    pub finalized: i64,
    /// Whether its authorization (the payment itself) is finalized.
    pub paid_final: bool,
}

impl Snapshot {
    /// The checkout's phase: `waiting`, `paid`, `finalized`, `expired`, `cancelled`.
    pub fn phase(&self, expired_by_clock: bool) -> &'static str {
        match self.status.as_str() {
            "" | "open" if expired_by_clock => "expired",
            "" | "open" => "waiting",
            "expired" => "expired",
            "cancelled" => "cancelled",
            _ if self.paid_final => "finalized",
            _ => "paid",
        }
    }
}

/// The payments being watched and their latest snapshots.
#[derive(Default)]
pub struct Watch {
    senders: Mutex<HashMap<[u8; 32], watch::Sender<Snapshot>>>,
    started: std::sync::OnceLock<()>,
    /// The chain's clock less the wall clock, and when it was read.
    offset: Mutex<Option<(std::time::Instant, i64)>>,
}

/// How long the pages trust a reading of the chain's clock (its offset from the wall clock).
pub const CLOCK_TTL: Duration = Duration::from_secs(10);

// A payment's live events through their keys in `chain.entity_seq`, each read from the one
// partition its slot names. A paid payment whose authorization is not stored was archived
// (`kassa archive` takes only finalized history): it is finalized.
const READ: &str = "SELECT p.address, p.status,
            coalesce((SELECT max(k.seq) FROM chain.entity_seq k WHERE k.entity = p.address), 0) AS seq,
            (SELECT count(*) FROM chain.entity_seq k
              CROSS JOIN LATERAL (SELECT * FROM chain.event e
                                  WHERE (e.entity, e.seq, e.slot) = (k.entity, k.seq, k.slot)
                                    AND NOT e.reverted OFFSET 0) e
              JOIN chain.transaction t ON (t.signature, t.slot) = (e.signature, e.slot)
              WHERE k.entity = p.address AND t.commitment = 'finalized') AS finalized,
            coalesce((SELECT t.commitment = 'finalized' FROM chain.entity_seq k
              CROSS JOIN LATERAL (SELECT * FROM chain.event e
                                  WHERE (e.entity, e.seq, e.slot) = (k.entity, k.seq, k.slot)
                                    AND NOT e.reverted OFFSET 0) e
              JOIN chain.transaction t ON (t.signature, t.slot) = (e.signature, e.slot)
              WHERE k.entity = p.address AND e.name = 'PaymentAuthorized'
              ORDER BY e.seq DESC LIMIT 1), p.payer IS NOT NULL) AS paid_final
     FROM chain.payment p WHERE p.address = ANY($1)";

/// The snapshot of one payment, read now.
pub async fn read_one(pool: &PgPool, payment: &[u8; 32]) -> Result<Snapshot, sqlx::Error> {
    Ok(read(pool, &[payment.to_vec()])
        .await?
        .remove(payment)
        .unwrap_or_default())
}

async fn read(
    pool: &PgPool,
    payments: &[Vec<u8>],
) -> Result<HashMap<[u8; 32], Snapshot>, sqlx::Error> {
    let rows = sqlx::query(READ).bind(payments).fetch_all(pool).await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        let a: Vec<u8> = r.try_get("address")?;
        let Ok(a) = <[u8; 32]>::try_from(a.as_slice()) else {
            continue;
        };
        out.insert(
            a,
            Snapshot {
                status: r.try_get("status")?,
                seq: r.try_get("seq")?,
                finalized: r.try_get("finalized")?,
                paid_final: r.try_get("paid_final")?,
            },
        );
    }
    Ok(out)
}

impl Watch {
    /// The chain's clock now, from its offset to the wall clock read at most [`CLOCK_TTL`]
    /// ago (a page does not wait for the cluster on every load); the wall clock when the
    /// cluster cannot be asked.
    pub async fn chain_now(&self, state: &crate::AppState) -> i64 {
        let wall = time::OffsetDateTime::now_utc().unix_timestamp();
        let cached = *self.offset.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, offset)) = cached {
            if at.elapsed() < CLOCK_TTL {
                return wall + offset;
            }
        }
        match state.chain_now().await {
            Ok(now) => {
                *self.offset.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((std::time::Instant::now(), now - wall));
                now
            }
            Err(_) => cached.map_or(wall, |(_, offset)| wall + offset),
        }
    }

    /// A receiver of `payment`'s snapshots, starting from `now`.
    pub fn subscribe(
        self: &Arc<Self>,
        pool: &PgPool,
        payment: [u8; 32],
        now: Snapshot,
    ) -> watch::Receiver<Snapshot> {
        self.started.get_or_init(|| {
            let this = Arc::downgrade(self);
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(POLL);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(this) = this.upgrade() else { return };
                    this.poll(&pool).await;
                }
            });
        });
        let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
        senders
            .entry(payment)
            .or_insert_with(|| watch::channel(now).0)
            .subscribe()
    }

    async fn poll(&self, pool: &PgPool) {
        let watched: Vec<Vec<u8>> = {
            let mut senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
            senders.retain(|_, s| s.receiver_count() > 0);
            senders.keys().map(|k| k.to_vec()).collect()
        };
        if watched.is_empty() {
            return;
        }
        match read(pool, &watched).await {
            Ok(now) => {
                let senders = self.senders.lock().unwrap_or_else(|e| e.into_inner());
                for (payment, snap) in now {
                    if let Some(s) = senders.get(&payment) {
                        s.send_if_modified(|old| {
                            let changed = *old != snap;
                            *old = snap.clone();
                            changed
                        });
                    }
                }
            }
            // The pages keep their last state and the next poll tries again.
            Err(e) => tracing::warn!("watching payments for the pages: {e}"),
        }
    }
}
