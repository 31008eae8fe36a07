//! One layered settings type for every `kassa` command that talks to the database or the
//! cluster (`index`, `demo`, and the services): built-in defaults, then an optional TOML file
//! (`--config`, `KASSA_CONFIG`, or `kassa.toml` in the working directory), then environment
//! variables (`KASSA_<SECTION>__<KEY>`, e.g. `KASSA_INDEXER__BATCH_SIZE`, and the conventional
//! `DATABASE_URL`), then command-line flags. Each layer overrides the ones before. Values are
//! validated at start with one message per bad field. Secrets (the database URL, which may
//! carry a password) are `SecretString`s: never printed, never logged.

use anyhow::{bail, Context, Result};
use figment::{
    providers::{Env, Format, Serialized, Toml},
    Figment,
};
use kassa_indexer::IndexerConfig;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::{path::PathBuf, time::Duration};

/// Every setting, by section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub rpc: RpcSettings,
    pub indexer: IndexerSettings,
    pub api: ApiSettings,
    pub keys: KeySettings,
    pub webhooks: WebhookSettings,
    pub settlement: SettlementSettings,
    pub compliance: ComplianceSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ComplianceSettings {
    /// Run the KYT monitor in this process (one process monitors at a time).
    pub monitor: bool,
    /// Milliseconds between monitor passes.
    pub poll_ms: u64,
    /// Authorizations per monitor pass.
    pub batch: i64,
    /// Transfers walked from a flagged wallet when measuring exposure.
    pub max_hops: u8,
    /// A wallet with more counterparties than this is not walked through.
    pub hub_degree: u32,
    /// Screening refuses a payer at this risk or above (low, medium, high, severe).
    pub refuse_at: String,
    /// Screening raises an alert (and allows) at this risk or above, below `refuse_at`.
    pub review_at: String,
    /// Lists imported at start when their file changed (each a new version).
    pub lists: Vec<ListSetting>,
    /// Where KYB documents are kept (one file per content, named by its SHA-256).
    pub document_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSetting {
    pub id: String,
    pub name: String,
    /// ofac-advanced, ofac-csv, eu-fsf or internal.
    pub format: String,
    /// refuse or review.
    pub action: String,
    /// The file (for ofac-csv: sdn.csv).
    pub file: PathBuf,
    /// ofac-csv: add.csv, alt.csv and sdn_comments.csv.
    pub addresses_file: Option<PathBuf>,
    pub aliases_file: Option<PathBuf>,
    pub comments_file: Option<PathBuf>,
}

impl Default for ComplianceSettings {
    fn default() -> Self {
        Self {
            monitor: true,
            poll_ms: 250,
            batch: 2_000,
            max_hops: 2,
            hub_degree: 50,
            refuse_at: "high".into(),
            review_at: "medium".into(),
            lists: Vec::new(),
            document_dir: "kassa-documents".into(),
        }
    }
}

impl ComplianceSettings {
    fn risk(field: &str, v: &str) -> Result<kassa_compliance::Risk> {
        kassa_compliance::Risk::parse(v).ok_or_else(|| {
            anyhow::anyhow!("compliance.{field}: {v:?} is not low, medium, high or severe")
        })
    }

    /// The screening policy these settings give.
    pub fn screening(&self) -> Result<kassa_compliance::screen::ScreenPolicy> {
        let refuse_at = Self::risk("refuse_at", &self.refuse_at)?;
        let review_at = Self::risk("review_at", &self.review_at)?;
        if review_at > refuse_at {
            bail!("compliance.review_at ({review_at:?}) is above compliance.refuse_at ({refuse_at:?})");
        }
        Ok(kassa_compliance::screen::ScreenPolicy {
            refuse_at,
            review_at,
        })
    }

    pub fn monitor_config(&self) -> Result<kassa_compliance::monitor::MonitorConfig> {
        if !(1..=6).contains(&self.max_hops) {
            bail!("compliance.max_hops: 1 to 6");
        }
        if self.batch < 1 {
            bail!("compliance.batch: at least 1");
        }
        Ok(kassa_compliance::monitor::MonitorConfig {
            batch: self.batch,
            exposure: kassa_compliance::graph::ExposurePolicy {
                max_hops: self.max_hops,
                hub_degree: self.hub_degree,
            },
            // The built-in rules and screening; an external risk API is plugged in here.
            providers: Vec::new(),
        })
    }

    /// Creates the lists these settings name and imports their files (a file imported before
    /// is a no-op; a malformed one stops the start with the reason, the version in force kept).
    pub async fn apply(&self, pool: &sqlx::PgPool) -> Result<()> {
        use kassa_compliance::lists;
        for l in &self.lists {
            let format = lists::Format::parse(&l.format).ok_or_else(|| {
                anyhow::anyhow!(
                    "compliance.lists {}: format {:?} is not ofac-advanced, ofac-csv, eu-fsf or internal",
                    l.id,
                    l.format
                )
            })?;
            lists::create(pool, &l.id, &l.name, format, &l.action)
                .await
                .map_err(|e| anyhow::anyhow!("compliance.lists {}: {e}", l.id))?;
            let read = |p: &PathBuf| {
                std::fs::read(p)
                    .with_context(|| format!("compliance.lists {}: {}", l.id, p.display()))
            };
            let main = read(&l.file)?;
            let add = l.addresses_file.as_ref().map(read).transpose()?;
            let alt = l.aliases_file.as_ref().map(read).transpose()?;
            let comments = l.comments_file.as_ref().map(read).transpose()?;
            let files = lists::Files {
                main: &main,
                addresses: add.as_deref(),
                aliases: alt.as_deref(),
                comments: comments.as_deref(),
            };
            let done = lists::import(
                pool,
                &l.id,
                &files,
                &lists::Actor::Process("kassa serve".into()),
            )
            .await
            .map_err(|e| anyhow::anyhow!("compliance.lists {}: {e}", l.id))?;
            if done.new {
                tracing::info!(list = %l.id, version = done.version, entries = done.entries,
                               added = done.added, removed = done.removed, changed = done.changed,
                               "sanctions list imported");
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettlementSettings {
    /// Book the chain into the ledger in this process (one process books at a time).
    pub booking: bool,
    /// Milliseconds between booking passes.
    pub poll_ms: u64,
    /// The treasury wallet (base58): fiat merchants' settlement wallet. Fixed once set.
    pub treasury: Option<String>,
    /// The stablecoins the ledger books. Until one is set, the chain's events wait in the
    /// settlement inbox.
    pub currencies: Vec<CurrencySetting>,
    /// Daily conversion rates for payouts: a CSV of `date,base,quote,rate` (unset: payout
    /// batches cannot be cut by this server).
    pub rates_file: Option<PathBuf>,
    /// Hours between reconciliations of the ledger with the chain and the bank run by this
    /// process (0: none; operators can run one through the API).
    pub reconcile_hours: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurrencySetting {
    /// The mint (base58).
    pub mint: String,
    /// The code its ledger accounts carry, e.g. `USDC`.
    pub code: String,
    pub decimals: u8,
}

impl Default for SettlementSettings {
    fn default() -> Self {
        Self {
            booking: true,
            poll_ms: 500,
            treasury: None,
            currencies: Vec::new(),
            rates_file: None,
            reconcile_hours: 24,
        }
    }
}

impl SettlementSettings {
    /// The rate source `rates_file` names, read and checked now.
    pub fn rates(&self) -> Result<Option<std::sync::Arc<dyn kassa_settlement::rates::RateSource>>> {
        let Some(path) = &self.rates_file else {
            return Ok(None);
        };
        let rates = kassa_settlement::rates::FileRates::load(path)
            .map_err(|e| anyhow::anyhow!("settlement.rates_file: {e}"))?;
        Ok(Some(std::sync::Arc::new(rates)))
    }

    /// Stores the treasury and currencies these settings name (each a no-op when stored
    /// already; a change the ledger cannot take is refused with the reason).
    pub async fn apply(&self, pool: &sqlx::PgPool) -> Result<()> {
        use kassa_settlement::setup;
        use std::str::FromStr;
        let key = |what: &str, v: &str| {
            solana_sdk::pubkey::Pubkey::from_str(v)
                .map_err(|_| anyhow::anyhow!("settlement.{what}: {v:?} is not a base58 address"))
        };
        if let Some(t) = &self.treasury {
            setup::set_treasury(pool, &key("treasury", t)?)
                .await
                .map_err(|e| anyhow::anyhow!("settlement.treasury: {e}"))?;
        }
        for c in &self.currencies {
            setup::set_currency(pool, &key("currencies.mint", &c.mint)?, &c.code, c.decimals)
                .await
                .map_err(|e| anyhow::anyhow!("settlement.currencies {}: {e}", c.code))?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// The key that seals endpoint secrets at rest: 64 hex digits. Prefer `key_file`.
    pub key: Option<SecretString>,
    /// A file holding that key; made with a fresh key (mode 0600) when missing. Back it up:
    /// without it the stored secrets cannot sign.
    pub key_file: PathBuf,
    /// Delivery workers in this process (0: another process delivers).
    pub workers: usize,
    /// Deliveries each worker has in flight at once (at least 1).
    pub concurrency: usize,
    /// Deliver to loopback and private addresses, and over plain http (local receivers only).
    pub allow_private: bool,
    /// Seconds a delivery may take.
    pub timeout_secs: u64,
    /// Days a failing delivery is retried before its endpoint is disabled.
    pub retry_days: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            key: None,
            key_file: PathBuf::from(".kassa/webhook.key"),
            workers: 2,
            concurrency: 16,
            allow_private: false,
            timeout_secs: 10,
            retry_days: 3,
        }
    }
}

impl WebhookSettings {
    /// The webhook service's configuration: the sealing key from `key`, or from `key_file`
    /// (made when missing).
    pub fn config(&self) -> Result<kassa_webhooks::Config> {
        let hex = match &self.key {
            Some(k) => k.expose_secret().to_string(),
            None => {
                let path = &self.key_file;
                if !path.exists() {
                    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                        std::fs::create_dir_all(dir)
                            .with_context(|| format!("cannot create {}", dir.display()))?;
                    }
                    write_private(path, &kassa_webhooks::SealingKey::generate_hex())?;
                    tracing::warn!(
                        file = %path.display(),
                        "made a new webhook sealing key; back it up with the database"
                    );
                }
                std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read webhooks.key_file {}", path.display()))?
            }
        };
        let key = kassa_webhooks::SealingKey::from_hex(&hex)
            .map_err(|e| anyhow::anyhow!("webhooks.key: {e}"))?;
        let mut c = kassa_webhooks::Config::new(key);
        c.allow_private = self.allow_private;
        c.concurrency = self.concurrency;
        c.request_timeout = Duration::from_secs(self.timeout_secs);
        c.retry.give_up_after = Duration::from_secs(self.retry_days * 86_400);
        Ok(c)
    }
}

/// Writes a file only its owner can read.
fn write_private(path: &std::path::Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    /// Address the API listens on.
    pub listen: String,
    /// The public https base URL (Solana Pay links point here). Default: https://localhost:<port>.
    pub public_url: Option<String>,
    /// TLS certificate chain (PEM). Unset: a local CA and certificate in `tls_dir`.
    pub tls_cert: Option<PathBuf>,
    /// TLS key (PEM), with `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Where the local CA and certificate are made when no certificate is given.
    pub tls_dir: PathBuf,
    /// Serve plain HTTP (only behind a proxy that terminates TLS).
    pub plain_http: bool,
    /// Requests per second per API key, and per client on Solana Pay routes.
    pub rate_per_sec: u32,
    /// Burst above that rate.
    pub burst: u32,
    /// `/readyz` is false when the indexer is further behind than this many slots.
    pub max_lag_slots: u64,
    /// The API's own database connections (reads are short; more than a few per core only
    /// adds switching).
    pub db_connections: u32,
    /// How long the checkout holds a quote in another stablecoin (1 to 60 seconds: no longer
    /// than a blockhash lives).
    pub quote_lock_secs: u64,
    /// Other names the x402 facilitator presents the cluster as, beside its own CAIP-2 id:
    /// `devnet`, `testnet` or `mainnet` (the official x402 clients know only those three, so a
    /// local node is presented as devnet to them).
    pub x402_present_as: Vec<String>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        let d = kassa_api::ApiConfig::default();
        Self {
            listen: "127.0.0.1:8443".into(),
            public_url: None,
            tls_cert: None,
            tls_key: None,
            tls_dir: PathBuf::from(".kassa/tls"),
            plain_http: false,
            rate_per_sec: d.rate_per_sec,
            burst: d.burst,
            max_lag_slots: d.max_lag_slots,
            db_connections: 4,
            quote_lock_secs: d.quote_lock.as_secs(),
            x402_present_as: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct KeySettings {
    /// The compliance authority's keypair file (Solana JSON), to co-sign KYT-screened payments.
    pub compliance: Option<PathBuf>,
    /// Directory of operator keys Kassa holds for merchants who opt in (unset: none).
    pub operators: Option<PathBuf>,
    /// The treasury wallet's keypair file (Solana JSON), to send mass payouts.
    pub treasury: Option<PathBuf>,
    /// The x402 facilitator's fee payer (Solana JSON keypair file, funded with SOL): it pays
    /// the fee of every x402 payment it settles and signs nothing else (unset: no facilitator).
    pub x402_fee_payer: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Postgres URL. Unset: the commands that can (the demo) start a private cluster.
    pub url: Option<SecretString>,
    /// A streaming replica of `url`'s database for the API's read routes (unset: they read
    /// the primary). Nothing is migrated there; it must already hold the schema.
    pub replica_url: Option<SecretString>,
    /// Connections in the pool.
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            replica_url: None,
            max_connections: 8,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcSettings {
    /// Solana JSON-RPC URL of the cluster.
    pub url: String,
}

impl Default for RpcSettings {
    fn default() -> Self {
        Self {
            url: "http://127.0.0.1:8899".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexerSettings {
    /// Transactions per database transaction.
    pub batch_size: usize,
    /// `getTransaction` calls in flight.
    pub concurrency: usize,
    /// Milliseconds between passes when following the tip.
    pub poll_ms: u64,
    /// Where a first run starts its backfill (0: the whole history).
    pub from_slot: u64,
    /// Seconds a stream lease lasts without renewal (another process takes a stream over this
    /// long after its holder stopped renewing; at once when the holder died).
    pub lease_ttl_secs: u64,
}

impl Default for IndexerSettings {
    fn default() -> Self {
        let d = IndexerConfig::default();
        Self {
            batch_size: d.batch_size,
            concurrency: d.concurrency,
            poll_ms: u64::try_from(d.poll.as_millis()).unwrap_or(u64::MAX),
            from_slot: d.from_slot,
            lease_ttl_secs: d.lease_ttl.as_secs(),
        }
    }
}

/// Flags every command that reads settings accepts.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SettingsArgs {
    /// TOML settings file (default: kassa.toml in the working directory, if present).
    #[arg(long, env = "KASSA_CONFIG")]
    pub config: Option<PathBuf>,
    /// Postgres URL (overrides database.url and DATABASE_URL).
    #[arg(long)]
    pub database_url: Option<String>,
}

impl Settings {
    /// The layers in order: defaults, file, environment, then `overrides` (command-line
    /// flags, as dotted keys such as `rpc.url`).
    pub fn load(args: &SettingsArgs, overrides: &[(&str, figment::value::Value)]) -> Result<Self> {
        let mut figment = Figment::new();
        let file = args.config.clone().or_else(|| {
            let default = PathBuf::from("kassa.toml");
            default.exists().then_some(default)
        });
        if let Some(path) = &file {
            if !path.exists() {
                bail!("the settings file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            )
            // Only KASSA_<SECTION>__<KEY>: other KASSA_ variables (test and bench knobs) are
            // not settings.
            .merge(
                Env::prefixed("KASSA_")
                    .filter(|key| key.as_str().contains("__"))
                    .split("__"),
            );
        if let Some(url) = &args.database_url {
            figment = figment.merge(Serialized::default("database.url", url));
        }
        for (key, value) in overrides {
            figment = figment.merge(Serialized::default(key, value.clone()));
        }
        let settings: Settings = figment.extract().map_err(|e| {
            anyhow::anyhow!(
                "invalid settings{}: {e}",
                file.map(|f| format!(" (file {})", f.display()))
                    .unwrap_or_default()
            )
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// One message per bad field.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if let Some(url) = &self.database.url {
            let url = url.expose_secret();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                problems.push(format!(
                    "database.url must be a postgres:// URL, got {}",
                    redact(url)
                ));
            }
        }
        if let Some(url) = &self.database.replica_url {
            let url = url.expose_secret();
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                problems.push(format!(
                    "database.replica_url must be a postgres:// URL, got {}",
                    redact(url)
                ));
            }
        }
        if self.database.max_connections == 0 {
            problems.push("database.max_connections must be at least 1".into());
        }
        if !(self.rpc.url.starts_with("http://") || self.rpc.url.starts_with("https://")) {
            problems.push(format!(
                "rpc.url must be an http:// or https:// URL, got {:?}",
                self.rpc.url
            ));
        }
        if self.indexer.batch_size == 0 {
            problems.push("indexer.batch_size must be at least 1".into());
        }
        if self.indexer.concurrency == 0 {
            problems.push("indexer.concurrency must be at least 1".into());
        }
        if self.indexer.lease_ttl_secs == 0 {
            problems.push("indexer.lease_ttl_secs must be at least 1".into());
        }
        if self.api.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "api.listen must be an address such as 127.0.0.1:8443, got {:?}",
                self.api.listen
            ));
        }
        if let Some(url) = &self.api.public_url {
            if !url.starts_with("https://") {
                problems.push(format!(
                    "api.public_url must be an https:// URL (Solana Pay requires it), got {url:?}"
                ));
            }
        }
        if !(1..=60).contains(&self.api.quote_lock_secs) {
            problems.push(format!(
                "api.quote_lock_secs must be 1 to 60 (a quote must not outlive a blockhash), got {}",
                self.api.quote_lock_secs
            ));
        }
        for name in &self.api.x402_present_as {
            if x402_alias(name).is_none() {
                problems.push(format!(
                    "api.x402_present_as takes devnet, testnet or mainnet, got {name:?}"
                ));
            }
        }
        if self.api.tls_cert.is_some() != self.api.tls_key.is_some() {
            problems.push("api.tls_cert and api.tls_key go together".into());
        }
        if self.api.db_connections == 0 {
            problems.push("api.db_connections must be at least 1".into());
        }
        if self.api.rate_per_sec == 0 || self.api.burst == 0 {
            problems.push("api.rate_per_sec and api.burst must be at least 1".into());
        }
        if self.webhooks.concurrency == 0 {
            problems.push("webhooks.concurrency must be at least 1".into());
        }
        if self.webhooks.timeout_secs == 0 || self.webhooks.retry_days == 0 {
            problems
                .push("webhooks.timeout_secs and webhooks.retry_days must be at least 1".into());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("invalid settings:\n  {}", problems.join("\n  "))
        }
    }

    /// The database URL, or an error naming how to set it.
    pub fn database_url(&self) -> Result<&SecretString> {
        self.database
            .url
            .as_ref()
            .context("no database: set database.url in kassa.toml, DATABASE_URL, or --database-url")
    }

    pub fn indexer_config(&self) -> IndexerConfig {
        IndexerConfig {
            batch_size: self.indexer.batch_size,
            concurrency: self.indexer.concurrency,
            poll: Duration::from_millis(self.indexer.poll_ms),
            from_slot: self.indexer.from_slot,
            lease_ttl: Duration::from_secs(self.indexer.lease_ttl_secs),
            ..IndexerConfig::default()
        }
    }
}

/// `url` with what may be a secret replaced, for messages and logs: a password, and a query
/// string (RPC providers put API keys there). Postgres's `host=` socket directory is kept.
pub fn redact(url: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.split_once("://").and_then(|(scheme, rest)| {
        let (credentials, host) = rest.split_once('@')?;
        let (user, _) = credentials.split_once(':')?;
        Some(format!("{scheme}://{user}:***@{host}"))
    }) {
        Some(b) => b,
        None => base.to_string(),
    };
    match query {
        None => base,
        Some(q) => {
            let kept: Vec<String> = q
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some(("host", v)) => format!("host={v}"),
                    Some((k, _)) => format!("{k}=***"),
                    None => pair.to_string(),
                })
                .collect();
            format!("{base}?{}", kept.join("&"))
        }
    }
}

/// Resolves when the process is asked to stop: SIGINT (Ctrl-C) or SIGTERM (a supervisor).
/// The handlers are installed when this is called, not when the future is first polled, so
/// a signal that arrives while the caller is still busy (an indexer's first pass) is not
/// lost to the default action, which would kill the process without cleanup.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let interrupt = signal(SignalKind::interrupt());
    let terminate = signal(SignalKind::terminate());
    async move {
        match (interrupt, terminate) {
            (Ok(mut interrupt), Ok(mut terminate)) => tokio::select! {
                _ = interrupt.recv() => tracing::info!("SIGINT: shutting down"),
                _ = terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            },
            // No signal handling available: wait for Ctrl-C the portable way.
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

/// The CAIP-2 id of a cluster the x402 clients know by name.
pub fn x402_alias(name: &str) -> Option<&'static str> {
    match name {
        "devnet" => Some(kassa_sdk::x402::SOLANA_DEVNET),
        "testnet" => Some(kassa_sdk::x402::SOLANA_TESTNET),
        "mainnet" => Some(kassa_sdk::x402::SOLANA_MAINNET),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compliance_settings_are_checked_with_the_field_named() {
        let ok = ComplianceSettings::default();
        assert_eq!(
            ok.screening().unwrap().refuse_at,
            kassa_compliance::Risk::High
        );
        let bad = ComplianceSettings {
            refuse_at: "extreme".into(),
            ..ComplianceSettings::default()
        };
        let e = bad.screening().unwrap_err().to_string();
        assert!(
            e.contains("compliance.refuse_at") && e.contains("extreme"),
            "{e}"
        );
        let upside_down = ComplianceSettings {
            refuse_at: "medium".into(),
            review_at: "high".into(),
            ..ComplianceSettings::default()
        };
        let e = upside_down.screening().unwrap_err().to_string();
        assert!(e.contains("review_at"), "{e}");
        let far = ComplianceSettings {
            max_hops: 9,
            ..ComplianceSettings::default()
        };
        assert!(far
            .monitor_config()
            .unwrap_err()
            .to_string()
            .contains("max_hops"));
    }

    #[test]
    fn a_quote_lock_longer_than_a_blockhash_lives_is_refused() {
        let mut s = Settings::default();
        assert!(s.validate().is_ok());
        s.api.quote_lock_secs = 61;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("api.quote_lock_secs") && e.contains("61"), "{e}");
        s.api.quote_lock_secs = 0;
        assert!(s.validate().is_err());
    }

    #[test]
    fn webhook_workers_need_a_delivery_in_flight_and_the_setting_reaches_them() {
        let mut s = Settings::default();
        s.webhooks.concurrency = 0;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("webhooks.concurrency must be at least 1"), "{e}");
        s.webhooks.concurrency = 3;
        s.webhooks.key = Some(SecretString::from("ab".repeat(32)));
        assert_eq!(s.webhooks.config().unwrap().concurrency, 3);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://kassa:s3cret@db:5432/kassa"),
            "postgres://kassa:***@db:5432/kassa"
        );
        assert_eq!(
            redact("postgres://postgres@localhost/x?host=/tmp"),
            "postgres://postgres@localhost/x?host=/tmp"
        );
        assert_eq!(
            redact("https://rpc.example.com/?api-key=abc123"),
            "https://rpc.example.com/?api-key=***"
        );
    }

    #[test]
    // figment's test jail returns its own (large) error type.
    #[allow(clippy::result_large_err)]
    fn layers_override_in_order_and_bad_fields_are_named() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "kassa.toml",
                "[indexer]\nbatch_size = 100\nconcurrency = 4\n[rpc]\nurl = \"http://file:1\"\n",
            )?;
            jail.set_env("KASSA_INDEXER__BATCH_SIZE", "50");
            // Test and bench knobs share the prefix but are not settings.
            jail.set_env("KASSA_BENCH_EVENTS", "1000");
            jail.set_env("DATABASE_URL", "postgres://u:pw@h/db");
            let s = Settings::load(
                &SettingsArgs::default(),
                &[("rpc.url", "http://flag:2".into())],
            )
            .map_err(|e| e.to_string())?;
            // Default < file < environment < flags.
            assert_eq!(s.indexer.poll_ms, 400);
            assert_eq!(s.indexer.concurrency, 4);
            assert_eq!(s.indexer.batch_size, 50);
            assert_eq!(s.rpc.url, "http://flag:2");
            assert_eq!(
                s.database.url.as_ref().unwrap().expose_secret(),
                "postgres://u:pw@h/db"
            );
            // The secret never shows in a debug print.
            assert!(!format!("{s:?}").contains("pw"));

            jail.set_env("KASSA_INDEXER__BATCH_SIZE", "0");
            jail.set_env("KASSA_RPC__URL", "ftp://x");
            jail.set_env("KASSA_DATABASE__REPLICA_URL", "mysql://replica/x");
            let err = Settings::load(&SettingsArgs::default(), &[])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("indexer.batch_size must be at least 1"),
                "{err}"
            );
            assert!(err.contains("rpc.url must be an http"), "{err}");
            assert!(
                err.contains("database.replica_url must be a postgres:// URL"),
                "{err}"
            );
            jail.set_env("KASSA_DATABASE__REPLICA_URL", "postgres://r/x");

            jail.set_env("KASSA_INDEXER__BATCH_SIZE", "many");
            let err = Settings::load(&SettingsArgs::default(), &[])
                .unwrap_err()
                .to_string();
            assert!(err.to_lowercase().contains("batch_size"), "{err}");

            jail.create_file("kassa.toml", "[indexer]\nbach_size = 1\n")?;
            jail.set_env("KASSA_INDEXER__BATCH_SIZE", "5");
            let err = Settings::load(&SettingsArgs::default(), &[])
                .unwrap_err()
                .to_string();
            assert!(err.contains("bach_size"), "{err}");
            Ok(())
        });
    }
}
