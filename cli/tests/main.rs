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

/// Sends `signal` and waits up to `within` for the child to exit with status 0.
async fn stop(child: &mut std::process::Child, signal: nix::sys::signal::Signal, within: Duration) {
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
        assert!(stopped.elapsed() < within, "{signal} did not stop it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{signal}: {status}");
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
        stop(&mut child, signal, Duration::from_secs(10)).await;
        assert_eq!(
            kassa_indexer::store::Lease::holder_of(&pool, "kassa_payments")
                .await
                .unwrap(),
            None,
            "{signal}: the leases are released"
        );
    }
}

/// Reads the child's stderr until a line starts with `prefix`; returns the rest of that line.
fn line_starting(child: &mut std::process::Child, prefix: &str) -> String {
    use std::io::{BufRead, BufReader};
    let stderr = child.stderr.take().expect("stderr piped");
    let mut lines = BufReader::new(stderr).lines();
    let found = loop {
        let line = lines
            .next()
            .expect("the process printed what it serves")
            .unwrap();
        if let Some(rest) = line.strip_prefix(prefix) {
            break rest.to_string();
        }
    };
    // Keep draining so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    found
}

/// `kassa serve` as an operator runs it: the indexer and the API over TLS with a local CA; a
/// key made by `kassa account create` works against it; a second process serves the API alone
/// beside it; SIGTERM stops both cleanly with the leases released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kassa_serve_answers_over_tls_scales_out_and_stops_cleanly() {
    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        ..Default::default()
    })
    .await
    .unwrap();
    let (pool, url) = kassa_testkit::postgres::fresh_database(&admin_url())
        .await
        .unwrap();
    let tls = std::env::temp_dir().join(format!("kassa-serve-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tls);
    let serve = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_kassa"))
            .args([
                "serve",
                "--rpc-url",
                &net.rpc_url,
                "--listen",
                "127.0.0.1:0",
            ])
            .args(extra)
            .env("DATABASE_URL", &url)
            .env("KASSA_API__TLS_DIR", &tls)
            .env("KASSA_INDEXER__POLL_MS", "50")
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = serve(&[]);
    let first_url = line_starting(&mut first, "Kassa API at ");
    let first_url = first_url.split_whitespace().next().unwrap().to_string();
    let mut second = serve(&["--no-indexer"]);
    let second_url = line_starting(&mut second, "Kassa API at ");
    let second_url = second_url.split_whitespace().next().unwrap().to_string();
    assert!(first_url.starts_with("https://localhost:"), "{first_url}");

    let created = Command::new(env!("CARGO_BIN_EXE_kassa"))
        .args(["account", "create", "--name", "Ops", "--role", "consumer"])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let out = String::from_utf8_lossy(&created.stdout);
    let key = out
        .lines()
        .find_map(|l| l.strip_prefix("key ").and_then(|r| r.split(": ").nth(1)))
        .expect("the key is printed once")
        .to_string();
    let bad = Command::new(env!("CARGO_BIN_EXE_kassa"))
        .args(["account", "create", "--name", "X", "--role", "merchant"])
        .env("DATABASE_URL", &url)
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("merchant"));

    let ca = std::fs::read(tls.join("ca.pem")).expect("the local CA");
    let http = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    for base in [&first_url, &second_url] {
        let health = http.get(format!("{base}/healthz")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        let merchants = http
            .get(format!("{base}/v1/merchants"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(merchants.status(), 200, "{base}");
    }
    // Readiness follows the indexer (the first process) for both.
    let started = Instant::now();
    loop {
        let ready = http
            .get(format!("{second_url}/readyz"))
            .send()
            .await
            .unwrap();
        if ready.status() == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "never ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    for mut child in [first, second] {
        stop(
            &mut child,
            nix::sys::signal::SIGTERM,
            Duration::from_secs(15),
        )
        .await;
    }
    assert_eq!(
        kassa_indexer::store::Lease::holder_of(&pool, "kassa_payments")
            .await
            .unwrap(),
        None
    );
    let _ = std::fs::remove_dir_all(&tls);
}
