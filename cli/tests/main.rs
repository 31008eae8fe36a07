//! The `kassa` binary as an operator runs it.

use kassa_localnet::server::{start, LocalnetConfig};
use std::{
    net::SocketAddr,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

fn admin_url() -> String {
    std::env::var("DATABASE_URL")
        .expect("DATABASE_URL must point at Postgres; scripts/test starts a private cluster")
}

/// `kassa index` stops cleanly on SIGINT and on SIGTERM: exit status 0 within seconds, and
/// its stream leases released so another indexer takes over at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kassa_index_stops_cleanly_on_sigint_and_sigterm() {
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    })
    .await
    .unwrap();
    for signal in [nix::sys::signal::SIGINT, nix::sys::signal::SIGTERM] {
        let (pool, url) = kassa_testkit::postgres::fresh_database(&admin_url())
            .await
            .unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_kassa"))
            .args(["index", "--rpc-url", &net.rpc_url, "--poll-ms", "50"])
            .env("DATABASE_URL", &url)
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while kassa_indexer::store::Lease::holder_of(&pool, "kassa_payments")
            .await
            .unwrap()
            .is_none()
        {
            assert!(started.elapsed() < Duration::from_secs(30), "never indexed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
            signal,
        )
        .unwrap();
        let stopped = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(
                stopped.elapsed() < Duration::from_secs(10),
                "{signal} did not stop it"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert!(status.success(), "{signal}: {status}");
        assert_eq!(
            kassa_indexer::store::Lease::holder_of(&pool, "kassa_payments")
                .await
                .unwrap(),
            None,
            "{signal}: the leases are released"
        );
    }
}
