//! `kassa demo`: a local chain, the indexer on Postgres and a realistic day of payments, in
//! one process. The day itself is `kassa_testkit::demo_day`; `report` prints what the indexer
//! mirrored and checks it against the chain.

mod api;
mod archive;
mod checkout;
mod compliance;
mod report;
mod settlement;
mod webhooks;
mod x402;

use crate::settings::{redact, shutdown_signal, Settings, SettingsArgs};
use anyhow::{Context, Result};
use kassa_indexer::{source::Source, store, Indexer};
use kassa_localnet::{
    node::NodeConfig,
    server::{start, LocalnetConfig},
};
use kassa_testkit::{
    demo_day::{caught_up, run_scenario},
    postgres::PgCluster,
};
use secrecy::ExposeSecret;
use std::{net::SocketAddr, sync::Arc, time::Duration};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// JSON-RPC port of the local node (0 picks a free one).
    #[arg(long, default_value_t = 8899)]
    pub rpc_port: u16,
    /// Port of the HTTPS API (0 picks a free one).
    #[arg(long, default_value_t = 8443)]
    pub api_port: u16,
    /// Exit when the scenario and its checks are done: 0 when every check held.
    #[arg(long)]
    pub exit: bool,
    /// On a server given through DATABASE_URL (or database.url), keep the demo's database
    /// after it ends instead of dropping it.
    #[arg(long)]
    pub keep_database: bool,
}

/// A database the demo made on the user's server for this run.
struct OwnDatabase {
    server: String,
    name: String,
}

pub async fn run(args: Args) -> Result<bool> {
    // The API's local certificate authority lives as long as the demo.
    let tls_dir = std::env::temp_dir().join(format!("kassa-demo-tls-{}", std::process::id()));
    let rates = settlement::write_rates()?;
    // The x402 facilitator's fee payer, funded once the node runs.
    std::fs::create_dir_all(&tls_dir)?;
    let x402_fee_payer = tls_dir.join("x402-fee-payer.json");
    solana_sdk::signature::write_keypair_file(
        &solana_sdk::signature::Keypair::new(),
        &x402_fee_payer,
    )
    .map_err(|e| anyhow::anyhow!("cannot write the x402 fee payer's key: {e}"))?;
    let settings = Settings::load(
        &args.settings,
        &[
            ("api.listen", format!("127.0.0.1:{}", args.api_port).into()),
            ("api.tls_dir", tls_dir.display().to_string().into()),
            // The demo's own receiver is on loopback; its sealing key lives with the demo.
            ("webhooks.allow_private", true.into()),
            (
                "webhooks.key_file",
                tls_dir.join("webhook.key").display().to_string().into(),
            ),
            ("settlement.rates_file", rates.display().to_string().into()),
            (
                "keys.x402_fee_payer",
                x402_fee_payer.display().to_string().into(),
            ),
            // Operator keys Kassa holds for merchants that opt in (x402 escrow sessions).
            (
                "keys.operators",
                tls_dir.join("operators").display().to_string().into(),
            ),
            // The official x402 clients know devnet's id, not a local node's.
            ("api.x402_present_as", vec!["devnet".to_string()].into()),
        ],
    )?;
    // Postgres: the given server, or a private cluster that lives as long as this command.
    let (database_url, _cluster, own) = match &settings.database.url {
        Some(url) => {
            // Each run's node is a cluster of its own, and a database mirrors one cluster: the
            // demo works in a database of its own on the given server.
            let server = url.expose_secret().to_string();
            let name = format!(
                "kassa_demo_{}_{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            );
            let admin = sqlx::PgPool::connect(&server)
                .await
                .with_context(|| format!("cannot connect to {}", redact(&server)))?;
            sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                .execute(&admin)
                .await
                .with_context(|| format!("cannot create the demo's database {name}"))?;
            admin.close().await;
            println!(
                "Using a database of its own on your server: {name} ({})",
                if args.keep_database {
                    "kept at exit"
                } else {
                    "dropped at exit; --keep-database keeps it"
                }
            );
            (
                kassa_testkit::postgres::with_database(&server, &name),
                None,
                Some(OwnDatabase { server, name }),
            )
        }
        None => {
            println!("Starting a private Postgres cluster (set DATABASE_URL to use your own)...");
            let cluster = tokio::task::spawn_blocking(PgCluster::start)
                .await?
                .context("cannot start a private Postgres cluster")?;
            (cluster.url.clone(), Some(cluster), None)
        }
    };
    let pool = store::connect_with(&database_url, settings.database.max_connections)
        .await
        .context("cannot open the database")?;
    sqlx::query("UPDATE chain.partitioning SET width = $1")
        .bind(archive::WIDTH)
        .execute(&pool)
        .await?;

    let net = start(LocalnetConfig {
        rpc_addr: SocketAddr::from(([127, 0, 0, 1], args.rpc_port)),
        node: NodeConfig::default(),
        slot_interval: Duration::from_millis(400),
    })
    .await
    .context("failed to start the local node")?;
    println!(
        "Local node at {} (WebSocket {}), cluster {}",
        net.rpc_url,
        net.ws_url,
        net.caip2()
    );
    let indexer = Arc::new(Indexer::new(
        pool,
        Source::new(&net.rpc_url),
        kassa_indexer::IndexerConfig {
            // The demo follows its own node closely.
            poll: Duration::from_millis(200),
            ..settings.indexer_config()
        },
    ));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let follower = {
        let indexer = indexer.clone();
        tokio::spawn(async move {
            indexer
                .run(async {
                    let _ = stop_rx.await;
                })
                .await
        })
    };
    println!("Indexer following the node into Postgres\n");

    println!("Running the scenario: 3 merchants, 3 customers, 10 invoices...");
    let mut s = run_scenario(&net.rpc_url).await?;
    println!(
        "Scenario done: {} Kassa transactions sent",
        s.signatures.len()
    );
    caught_up(&indexer.pool, &s.signatures).await?;
    let mut checks = report::print_and_check(&s, &indexer).await?;

    let fee_payer = solana_sdk::signature::read_keypair_file(&x402_fee_payer)
        .map_err(|e| anyhow::anyhow!("cannot read the x402 fee payer's key: {e}"))?;
    s.fund(&fee_payer).await?;
    let (api_stop_tx, api_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let api = crate::serve::start_api(
        &settings,
        &database_url,
        &net.rpc_url,
        Some(indexer.metrics.clone()),
        async {
            let _ = api_stop_rx.await;
        },
    )
    .await?;
    let keys = api::onboard(&indexer.pool, &s).await?;
    api::check(&api, &keys, &indexer.pool, &mut checks).await?;
    let hooks = webhooks::register(&api, &keys).await?;
    let (workers_stop_tx, workers_stop_rx) = tokio::sync::watch::channel(false);
    let workers = crate::serve::start_workers(
        &api.state,
        settings.webhooks.workers.max(1),
        &workers_stop_rx,
        "demo",
    )?;
    webhooks::show(&indexer.pool, &hooks, &mut checks).await?;
    settlement::run(&indexer.pool, &mut s, &net.rpc_url, &rates, &mut checks).await?;
    compliance::run(&indexer.pool, &mut s, &net.rpc_url, &api, &mut checks).await?;
    checkout::run(&indexer.pool, &mut s, &net.rpc_url, &api, &mut checks).await?;
    x402::run(&indexer.pool, &mut s, &net.rpc_url, &api, &mut checks).await?;
    archive::run(&indexer, &mut checks).await?;
    println!("\nThe API (HTTPS, OpenAPI at {}/v1/openapi.json):", api.url);
    let cacert = api
        .ca_cert
        .as_ref()
        .map(|c| format!(" --cacert {}", c.display()))
        .unwrap_or_default();
    println!("  operator key:          {}", keys.operator_key);
    for (name, merchant, key) in &keys.merchants {
        println!("  {name:<22} {key}  (merchant {merchant})");
    }
    if let Some((name, _, key)) = keys.merchants.first() {
        println!("  {name}'s payments:");
        println!(
            "    curl{cacert} -H 'Authorization: Bearer {key}' {}/v1/payments",
            api.url
        );
    }
    println!("  The ledger's trial balance and the payout report (operator):");
    for path in [
        "/v1/settlement/trial-balance",
        "/v1/settlement/payouts?format=csv",
    ] {
        println!(
            "    curl{cacert} -H 'Authorization: Bearer {}' '{}{path}'",
            keys.operator_key, api.url
        );
    }
    let ok = checks.failed.is_empty();
    println!(
        "\nChecks: {} held, {} failed",
        checks.passed,
        checks.failed.len()
    );
    if !args.exit {
        println!(
            "\nStill running: RPC {}  Postgres {}",
            net.rpc_url,
            redact(&database_url)
        );
        println!("Ctrl-C (or SIGTERM) stops the node, the indexer and the private database.");
        shutdown_signal().await;
    }
    let _ = workers_stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    let _ = api_stop_tx.send(());
    let _ = api.task.await;
    let _ = std::fs::remove_dir_all(&tls_dir);
    let _ = stop_tx.send(());
    let _ = follower.await;
    indexer.pool.close().await;
    if let Some(own) = own.filter(|_| !args.keep_database) {
        if let Ok(admin) = sqlx::PgPool::connect(&own.server).await {
            let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                own.name
            )))
            .execute(&admin)
            .await;
            admin.close().await;
        }
    }
    Ok(ok)
}
