//! Kassa's webhooks: every merchant-facing event the indexer stores is told to the merchant's
//! endpoints, exactly as the chain decided it.
//!
//! - The indexer writes one [outbox](fanout) row per event in the same database transaction as
//!   the event itself (at `confirmed`), again when its transaction finalizes, and again when it
//!   is rolled back, so nothing is sent that was not stored and nothing stored is left unsent.
//! - [`fanout`] turns outbox rows into messages (the exact body, with a `webhook-id` derived from
//!   the event and its phase) and one delivery per matching endpoint, in one serialized pass.
//! - [`worker`]s lease due deliveries with `FOR UPDATE SKIP LOCKED` (any number, in any number
//!   of processes), sign them per Standard Webhooks, post them through the [`guard`] that refuses
//!   private destinations, and retry with exponential backoff and jitter for three days before
//!   disabling the endpoint, raising an operator alert and telling the merchant.
//! - [`endpoints`]: what the API's routes do: register, list, update, disable, rotate a secret
//!   (both sign during the overlap), send a test event, list deliveries with their attempts,
//!   redeliver one, replay since a time or a message.
//!
//! Secrets are sealed at rest with a key from the settings ([`crypto`]); they are shown once.

pub mod crypto;
pub mod endpoints;
pub mod events;
pub mod fanout;
pub mod guard;
pub mod worker;

use sqlx::PgPool;
use std::{
    sync::{
        atomic::{AtomicI64, Ordering},
        Arc,
    },
    time::Duration,
};
use time::OffsetDateTime;

pub use crypto::SealingKey;

/// What went wrong, in terms the API turns into problems.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing there, or nothing this caller may see.
    #[error("{0}")]
    NotFound(String),
    /// Well-formed but not acceptable (a URL that may not be used, an unknown event type, …).
    #[error("{0}")]
    Invalid(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// A stored secret does not open with the configured key (the key changed?).
    #[error("a stored webhook secret cannot be opened with the configured key: {0}")]
    Key(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How long failed deliveries are retried, and how far apart.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Wait after the first failure.
    pub first: Duration,
    /// Each wait is this many times the previous one…
    pub factor: u32,
    /// …up to this.
    pub cap: Duration,
    /// A delivery still failing this long after it was created fails for good and disables
    /// its endpoint.
    pub give_up_after: Duration,
}

impl Default for RetryPolicy {
    /// 5 s, 15 s, 45 s, 2¼ min, … up to 6 h apart, for three days (about 20 attempts).
    fn default() -> Self {
        Self {
            first: Duration::from_secs(5),
            factor: 3,
            cap: Duration::from_secs(6 * 3600),
            give_up_after: Duration::from_secs(3 * 86_400),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (1-based), before jitter.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let mut d = self.first;
        for _ in 1..attempt.max(1) {
            d = d.saturating_mul(self.factor);
            if d >= self.cap {
                return self.cap;
            }
        }
        d.min(self.cap)
    }

    /// The wait after failed attempt `attempt` with jitter: uniformly between 75 % and 125 % of
    /// [`Self::base_delay`], so endpoints that failed together do not retry together.
    /// `jitter_permille` is drawn in `0..=500`.
    pub fn delay(&self, attempt: u32, jitter_permille: u32) -> Duration {
        let base = self.base_delay(attempt).as_millis() as u64;
        Duration::from_millis(base.saturating_mul(750 + u64::from(jitter_permille.min(500))) / 1000)
    }
}

/// The webhook service's settings.
#[derive(Clone)]
pub struct Config {
    /// Seals endpoint secrets at rest.
    pub sealing_key: Arc<SealingKey>,
    /// Deliver to loopback and private addresses (and over plain `http`): for tests, the demo
    /// and receivers on the operator's own network. Off in production.
    pub allow_private: bool,
    /// Longest a delivery may take, connection to last byte.
    pub request_timeout: Duration,
    pub retry: RetryPolicy,
    /// How often an idle worker looks for work.
    pub poll: Duration,
    /// Deliveries one worker has in flight at most.
    pub concurrency: usize,
    /// How long a rotated secret keeps signing unless the request says otherwise.
    pub default_overlap: Duration,
    /// How long finished deliveries, their attempts and their messages are kept (replays
    /// reach this far back).
    pub retention: Duration,
    /// The service's clock (tests advance it).
    pub clock: Clock,
}

impl Config {
    /// Production defaults with this key.
    pub fn new(sealing_key: SealingKey) -> Self {
        Self {
            sealing_key: Arc::new(sealing_key),
            allow_private: false,
            request_timeout: Duration::from_secs(10),
            retry: RetryPolicy::default(),
            poll: Duration::from_millis(100),
            concurrency: 16,
            default_overlap: Duration::from_secs(86_400),
            retention: Duration::from_secs(30 * 86_400),
            clock: Clock::default(),
        }
    }

    /// How long a worker holds a delivery before another may take it over (it died).
    pub fn lease(&self) -> Duration {
        self.request_timeout + Duration::from_secs(20)
    }
}

/// The service's clock: the system's, plus an offset a test can advance to let days pass.
#[derive(Clone, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
            + time::Duration::milliseconds(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
}

/// The webhook service: the database and its settings.
#[derive(Clone)]
pub struct Webhooks {
    pub pool: PgPool,
    pub config: Config,
}

impl Webhooks {
    pub fn new(pool: PgPool, config: Config) -> Self {
        Self { pool, config }
    }
}

/// RFC 3339, as the API writes times.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_spread_over_three_days_growing_to_the_cap() {
        let p = RetryPolicy::default();
        assert_eq!(p.base_delay(1), Duration::from_secs(5));
        assert_eq!(p.base_delay(2), Duration::from_secs(15));
        assert_eq!(p.base_delay(3), Duration::from_secs(45));
        assert_eq!(p.base_delay(40), p.cap);
        assert_eq!(p.delay(1, 0), Duration::from_millis(3750));
        assert_eq!(p.delay(1, 500), Duration::from_millis(6250));
        assert_eq!(p.delay(1, 9999), Duration::from_millis(6250));
        // With the longest jitter every time, three days still take more than a dozen tries.
        let (mut elapsed, mut n) = (Duration::ZERO, 0);
        while elapsed < p.give_up_after {
            n += 1;
            elapsed += p.delay(n, 500);
        }
        assert!((12..40).contains(&n), "{n} attempts");
    }
}
