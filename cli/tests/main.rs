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

/// Both `kassa serve` processes run webhook workers on the one database: 400 queued messages
/// for one endpoint, 20 entities of 20 each, to a receiver that takes 100 ms per request. Each
/// message arrives once, each entity's in order, and workers of both processes delivered.
async fn two_processes_deliver_each_webhook_once_in_order(
    pool: &sqlx::PgPool,
    key_file: &std::path::Path,
    pids: [u32; 2],
) {
    use kassa_testkit::receiver::{Behaviour, Receiver};
    let receiver = Receiver::start().await.unwrap();
    receiver.set_behaviour(Behaviour::Hang(Duration::from_millis(100)));
    let key =
        kassa_webhooks::SealingKey::from_hex(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    let secret = [9u8; 32];
    receiver.set_secrets(vec![
        kassa_sdk::webhook::Secret::from_bytes(&secret).unwrap()
    ]);
    let endpoint = "we_00000000000000aa";
    sqlx::query(
        "INSERT INTO webhooks.endpoint (id, merchant, url, created_at, updated_at)
         VALUES ($1, $2, $3, now(), now())",
    )
    .bind(endpoint)
    .bind(&[1u8; 32][..])
    .bind(&receiver.url)
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO webhooks.secret (endpoint, version, sealed, created_at) VALUES ($1, 1, $2, now())",
    )
    .bind(endpoint)
    .bind(key.seal(
        kassa_webhooks::endpoints::secret_aad(endpoint, 1).as_bytes(),
        &secret,
    ))
    .execute(pool)
    .await
    .unwrap();
    sqlx::query(
        "WITH m AS (
             INSERT INTO webhooks.message (id, merchant, type, order_key, body, created_at)
             SELECT 'msg_' || md5('two' || i), $1, 'webhook.test', int4send(i % 20),
                    json_build_object('type', 'webhook.test',
                                      'data', json_build_object('key', i % 20, 'n', i))::text,
                    now()
             FROM generate_series(1, 400) AS i ORDER BY i
             RETURNING id, order_key, seq)
         INSERT INTO webhooks.delivery (endpoint, message, order_key, state, next_attempt_at,
                                        created_at, retry_since)
         SELECT $2, id, order_key, 'pending', now(), now(), now() FROM m ORDER BY seq",
    )
    .bind(&[1u8; 32][..])
    .bind(endpoint)
    .execute(pool)
    .await
    .unwrap();
    assert!(
        receiver
            .wait_until(Duration::from_secs(60), |got| got.len() >= 400)
            .await,
        "delivered {} of 400",
        receiver.received().len()
    );
    let got = receiver.received();
    let mut ids: Vec<&str> = got.iter().map(|g| g.id.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 400, "each message once");
    assert!(got.iter().all(|g| g.verified));
    let mut last = std::collections::HashMap::new();
    for g in &got {
        let body = g.json();
        let (k, n) = (
            body["data"]["key"].as_i64().unwrap(),
            body["data"]["n"].as_i64().unwrap(),
        );
        if let Some(prev) = last.insert(k, n) {
            assert!(n > prev, "entity {k}: {n} after {prev}");
        }
    }
    let workers: Vec<String> = sqlx::query_scalar("SELECT DISTINCT worker FROM webhooks.attempt")
        .fetch_all(pool)
        .await
        .unwrap();
    for pid in pids {
        assert!(
            workers.iter().any(|w| w.contains(&format!("-{pid}-"))),
            "no worker of process {pid} delivered: {workers:?}"
        );
    }
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
            .env("KASSA_WEBHOOKS__KEY_FILE", tls.join("webhook.key"))
            // The test's receiver is on loopback.
            .env("KASSA_WEBHOOKS__ALLOW_PRIVATE", "true")
            .env("KASSA_INDEXER__POLL_MS", "50")
            // Two deliveries in flight per worker: one process cannot hold every due
            // delivery of the 20 keys, so both processes deliver.
            .env("KASSA_WEBHOOKS__CONCURRENCY", "2")
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

    two_processes_deliver_each_webhook_once_in_order(
        &pool,
        &tls.join("webhook.key"),
        [first.id(), second.id()],
    )
    .await;

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
