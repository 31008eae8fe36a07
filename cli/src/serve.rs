//! `kassa serve`: the indexer, the HTTP API and the background workers in one process, on the
//! layered settings. Several processes can serve one database: the indexer writes each stream
//! under its lease (one writer, the others wait and take over), the API is stateless.
//! `kassa account create` onboards a caller from the command line.

use crate::settings::{redact, shutdown_signal, Settings, SettingsArgs};
use anyhow::{bail, Context, Result};
use kassa_api::{tls::LocalTls, ApiConfig, AppState};
use kassa_indexer::{metrics::Metrics, source::Source, store, Indexer};
use kassa_sdk::api::types::Role;
use secrecy::ExposeSecret;
use solana_sdk::{pubkey::Pubkey, signature::read_keypair_file};
use std::{net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Solana JSON-RPC URL of the cluster (rpc.url).
    #[arg(long)]
    pub rpc_url: Option<String>,
    /// Address to listen on (api.listen).
    #[arg(long)]
    pub listen: Option<String>,
    /// Serve the API only; another process indexes.
    #[arg(long)]
    pub no_indexer: bool,
    /// Run no webhook workers here (webhooks.workers = 0); another process delivers.
    #[arg(long)]
    pub no_workers: bool,
}

/// A running API.
pub struct Api {
    /// Its base URL.
    pub url: String,
    /// The CA certificate clients trust, when the API made a local one.
    pub ca_cert: Option<PathBuf>,
    pub state: AppState,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Starts the API on the settings' `[api]` and `[keys]`, until `shutdown`.
pub async fn start_api(
    settings: &Settings,
    database_url: &str,
    rpc_url: &str,
    indexer_metrics: Option<Metrics>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Api> {
    let api = &settings.api;
    let listener = std::net::TcpListener::bind(&api.listen)
        .with_context(|| format!("cannot listen on {}", api.listen))?;
    let addr: SocketAddr = listener.local_addr()?;
    let scheme = if api.plain_http { "http" } else { "https" };
    let host = if addr.ip().is_loopback() {
        "localhost".to_string()
    } else {
        addr.ip().to_string()
    };
    let url = format!("{scheme}://{host}:{}", addr.port());
    let public_url = api.public_url.clone().unwrap_or_else(|| url.clone());
    let compliance_key = match &settings.keys.compliance {
        Some(path) => Some(Arc::new(read_keypair_file(path).map_err(|e| {
            anyhow::anyhow!("cannot read keys.compliance {}: {e}", path.display())
        })?)),
        None => None,
    };
    let operator_keys = match &settings.keys.operators {
        Some(dir) => Some(Arc::new(kassa_api::operator_keys::OperatorKeys::load(dir)?)),
        None => None,
    };
    let treasury_key = match &settings.keys.treasury {
        Some(path) => Some(Arc::new(read_keypair_file(path).map_err(|e| {
            anyhow::anyhow!("cannot read keys.treasury {}: {e}", path.display())
        })?)),
        None => None,
    };
    let x402 = match &settings.keys.x402_fee_payer {
        Some(path) => {
            let fee_payer = Arc::new(read_keypair_file(path).map_err(|e| {
                anyhow::anyhow!("cannot read keys.x402_fee_payer {}: {e}", path.display())
            })?);
            let genesis =
                solana_rpc_client::nonblocking::rpc_client::RpcClient::new(rpc_url.to_string())
                    .get_genesis_hash()
                    .await
                    .with_context(|| {
                        format!("the x402 facilitator cannot ask {rpc_url} for its cluster")
                    })?;
            let mut networks = vec![kassa_sdk::x402::caip2(&genesis.to_string())];
            networks.extend(
                api.x402_present_as
                    .iter()
                    .filter_map(|n| crate::settings::x402_alias(n))
                    .map(str::to_string),
            );
            Some(kassa_api::x402::X402Config {
                fee_payer,
                networks,
            })
        }
        None => None,
    };
    let config = ApiConfig {
        x402,
        treasury_key,
        webhooks: Some(settings.webhooks.config()?),
        rates: settings.settlement.rates()?,
        operator_keys,
        public_url,
        rpc_url: rpc_url.to_string(),
        compliance_key,
        rate_per_sec: api.rate_per_sec,
        burst: api.burst,
        max_lag_slots: api.max_lag_slots,
        screening: settings.compliance.screening()?,
        document_dir: settings.compliance.document_dir.clone(),
        quote_lock: Duration::from_secs(api.quote_lock_secs),
        ..ApiConfig::default()
    };
    let (tls, ca_cert) = if api.plain_http {
        (None, None)
    } else if let (Some(cert), Some(key)) = (&api.tls_cert, &api.tls_key) {
        (Some(kassa_api::tls::load(cert, key).await?), None)
    } else {
        let local = LocalTls::ensure(&api.tls_dir)?;
        (Some(local.config().await?), Some(local.ca_cert.clone()))
    };
    let pool = kassa_api::connect(database_url, api.db_connections)
        .await
        .context("the API cannot open the database")?;
    let reads = match &settings.database.replica_url {
        Some(url) => kassa_api::connect_replica(url.expose_secret(), api.db_connections)
            .await
            .context("the API cannot read from database.replica_url")?,
        None => pool.clone(),
    };
    let state = AppState::with_reads(pool, reads, config, indexer_metrics);
    let router = kassa_api::router(state.clone());
    let task = tokio::spawn(kassa_api::serve(
        listener,
        tls,
        router,
        shutdown,
        Duration::from_secs(10),
    ));
    Ok(Api {
        url,
        ca_cert,
        state,
        task,
    })
}

pub async fn run(args: Args) -> Result<()> {
    let mut overrides: Vec<(&'static str, figment::value::Value)> = Vec::new();
    if let Some(v) = &args.rpc_url {
        overrides.push(("rpc.url", v.clone().into()));
    }
    if let Some(v) = &args.listen {
        overrides.push(("api.listen", v.clone().into()));
    }
    let settings = Settings::load(&args.settings, &overrides)?;
    let pool = store::connect_with(
        settings.database_url()?.expose_secret(),
        settings.database.max_connections,
    )
    .await
    .context("cannot open the database")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let indexer = (!args.no_indexer).then(|| {
        Arc::new(Indexer::new(
            pool.clone(),
            Source::new(&settings.rpc.url),
            settings.indexer_config(),
        ))
    });
    let follower = indexer.clone().map(|indexer| {
        let rx = stop_rx.clone();
        tokio::spawn(async move { indexer.run(stopped(rx)).await })
    });
    let api = start_api(
        &settings,
        settings.database_url()?.expose_secret(),
        &settings.rpc.url,
        indexer.as_ref().map(|i| i.metrics.clone()),
        stopped(stop_rx.clone()),
    )
    .await?;
    let workers = if args.no_workers {
        0
    } else {
        settings.webhooks.workers
    };
    let delivering = start_workers(&api.state, workers, &stop_rx, "serve")?;
    settings.settlement.apply(&pool).await?;
    let booking = settings.settlement.booking.then(|| {
        let rx = stop_rx.clone();
        tokio::spawn(kassa_settlement::book::run(
            pool.clone(),
            Duration::from_millis(settings.settlement.poll_ms),
            stopped(rx),
        ))
    });
    settings.compliance.apply(&pool).await?;
    let monitoring = if settings.compliance.monitor {
        let config = settings.compliance.monitor_config()?;
        Some(tokio::spawn(kassa_compliance::monitor::run(
            pool.clone(),
            Arc::new(
                solana_rpc_client::nonblocking::rpc_client::RpcClient::new_with_commitment(
                    settings.rpc.url.clone(),
                    solana_commitment_config::CommitmentConfig::confirmed(),
                ),
            ),
            api.state.config.compliance_key.clone(),
            config,
            Duration::from_millis(settings.compliance.poll_ms),
            stopped(stop_rx.clone()),
        )))
    } else {
        None
    };
    let reconciling = (settings.settlement.reconcile_hours > 0).then(|| {
        let mut rx = stop_rx.clone();
        let pool = pool.clone();
        let every = Duration::from_secs(settings.settlement.reconcile_hours * 3600);
        let rpc = settings.rpc.url.clone();
        tokio::spawn(async move {
            let rpc = solana_rpc_client::nonblocking::rpc_client::RpcClient::new(rpc);
            loop {
                tokio::select! {
                    _ = rx.wait_for(|s| *s) => return,
                    _ = tokio::time::sleep(every) => {}
                }
                match kassa_settlement::reconcile::run(&pool, &rpc).await {
                    Ok(r) if r.clean() => {
                        tracing::info!(lines = r.lines.len(), "reconciliation: no difference")
                    }
                    Ok(r) => {
                        for l in r.lines.iter().filter(|l| l.difference != 0) {
                            tracing::error!(account = %l.account, against = %l.what,
                                            ledger = l.ledger, external = l.external,
                                            difference = l.difference,
                                            "reconciliation: the ledger differs");
                        }
                        for f in &r.findings {
                            tracing::error!(finding = %f, "reconciliation");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "reconciliation failed; next run as planned")
                    }
                }
            }
        })
    });
    eprintln!(
        "Kassa API at {} (cluster {}{}{}); Ctrl-C or SIGTERM stops",
        api.url,
        redact(&settings.rpc.url),
        if indexer.is_some() { ", indexing" } else { "" },
        if workers > 0 {
            format!(", {workers} webhook workers")
        } else {
            String::new()
        }
    );
    if let Some(ca) = &api.ca_cert {
        eprintln!("Local TLS: clients trust {}", ca.display());
    }
    api.task.await??;
    if let Some(f) = follower {
        let _ = f.await;
    }
    for w in delivering {
        let _ = w.await;
    }
    if let Some(b) = booking {
        let _ = b.await;
    }
    if let Some(m) = monitoring {
        let _ = m.await;
    }
    if let Some(r) = reconciling {
        let _ = r.await;
    }
    pool.close().await;
    Ok(())
}

/// Starts `n` webhook delivery workers on the API's webhook service, until `stop` turns true.
pub fn start_workers(
    state: &AppState,
    n: usize,
    stop: &tokio::sync::watch::Receiver<bool>,
    name: &str,
) -> Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    // x402 escrow: what a crash left delivered is captured, abandoned reservations released.
    if state.config.x402.is_some() && n > 0 {
        tasks.push(kassa_api::x402::escrow::spawn_recovery(
            state.clone(),
            Duration::from_secs(2),
            stop.clone(),
        ));
    }
    let Some(w) = &state.webhooks else {
        return Ok(tasks);
    };
    if n == 0 {
        return Ok(tasks);
    }
    // The workers' connections are their own: a burst of deliveries never waits behind API
    // requests for a connection, nor they behind it. Lazily opened, on the API pool's options.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(u32::try_from(2 + 2 * n).unwrap_or(u32::MAX))
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with((*w.pool.connect_options()).clone());
    let w = kassa_webhooks::Webhooks::new(pool, w.config.clone());
    for i in 0..n {
        // Named for the process and the worker: attempts say who made them.
        let label = format!("{name}-{}-{i}", std::process::id());
        let worker = kassa_webhooks::worker::Worker::new(w.clone(), &label)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut rx = stop.clone();
        tasks.push(tokio::spawn(worker.run(async move {
            let _ = rx.wait_for(|s| *s).await;
        })));
    }
    Ok(tasks)
}

#[derive(clap::Args)]
pub struct AccountArgs {
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Display name (for merchants, what wallets show payers).
    #[arg(long)]
    pub name: String,
    /// merchant, compliance, operator or consumer.
    #[arg(long)]
    pub role: String,
    /// For a merchant: its merchant PDA (registered on chain and indexed).
    #[arg(long)]
    pub merchant: Option<String>,
}

/// `kassa account create`: an account with its first key, printed once.
pub async fn create_account(args: AccountArgs) -> Result<()> {
    let settings = Settings::load(&args.settings, &[])?;
    let pool = store::connect_with(settings.database_url()?.expose_secret(), 2)
        .await
        .context("cannot open the database")?;
    let Some(role) = Role::parse(&args.role) else {
        bail!(
            "--role {:?} must be merchant, compliance, operator or consumer",
            args.role
        );
    };
    let merchant = args
        .merchant
        .as_deref()
        .map(|m| {
            m.parse::<Pubkey>()
                .with_context(|| format!("--merchant {m:?} is not an address"))
        })
        .transpose()?;
    let (account, key) =
        kassa_api::auth::create_account(&pool, &args.name, role, merchant.as_ref())
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!(
        "account {} ({}, {})\nkey {}: {}\nStore the key now: Kassa keeps only its hash.",
        account.id,
        account.name,
        role.as_str(),
        key.key.id,
        key.secret
    );
    pool.close().await;
    Ok(())
}
