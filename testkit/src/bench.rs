//! What the bench binaries share: a two-worker runtime (the machine's two cores), the world
//! most of them measure in, and latency percentiles.

use std::{future::Future, time::Duration};

/// A bench's world: a fresh database (on `DATABASE_URL`'s server, or a private cluster kept
/// alive by `cluster`), a local node at 400 ms slots on a free port, and the protocol
/// bootstrapped on it with no merchant yet.
pub struct World {
    pub cluster: Option<crate::postgres::PgCluster>,
    /// The server's admin URL, to drop the database at the end.
    pub admin: String,
    pub pool: sqlx::PgPool,
    pub url: String,
    pub net: kassa_localnet::server::Localnet,
    pub scenario: crate::demo_day::Scenario,
}

/// Stands a bench's [`World`] up; panics with what failed.
pub async fn world() -> World {
    let (cluster, admin) =
        crate::postgres::server_from_env().expect("DATABASE_URL or a private Postgres");
    let (pool, url) = crate::postgres::fresh_database(&admin)
        .await
        .expect("a fresh database");
    let net = kassa_localnet::server::start(kassa_localnet::server::LocalnetConfig {
        rpc_addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    })
    .await
    .expect("localnet");
    let scenario = crate::demo_day::bare(&net.rpc_url)
        .await
        .expect("bootstrap");
    World {
        cluster,
        admin,
        pool,
        url,
        net,
        scenario,
    }
}

/// A [`World`]'s parts, bound at once by a bench: `(cluster, admin, pool, url, net, scenario)`.
pub type Parts = (
    Option<crate::postgres::PgCluster>,
    String,
    sqlx::PgPool,
    String,
    kassa_localnet::server::Localnet,
    crate::demo_day::Scenario,
);

impl World {
    /// The parts in field order; keep the cluster bound for as long as the database is used.
    pub fn parts(self) -> Parts {
        (
            self.cluster,
            self.admin,
            self.pool,
            self.url,
            self.net,
            self.scenario,
        )
    }
}

/// Runs `f` to completion on a multi-threaded runtime with two workers.
pub fn run_on_two_workers<F: Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f);
}

/// The `p` quantile (0 to 1) of `sorted`, nearest rank.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// p50 and p99 of `samples` (sorted here).
pub fn p50_p99(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    (percentile(samples, 0.5), percentile(samples, 0.99))
}

/// `d` in milliseconds, two decimals.
pub fn millis(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let (p50, p99) = p50_p99(&mut s);
        assert_eq!(p50, Duration::from_millis(51));
        assert_eq!(p99, Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
        assert_eq!(millis(Duration::from_micros(1_234)), "1.23 ms");
    }
}
