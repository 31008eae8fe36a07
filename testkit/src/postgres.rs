//! A private, throwaway Postgres cluster started with the machine's `initdb` and `pg_ctl`,
//! for the demo and for anyone without a `DATABASE_URL`. It listens on a Unix socket in its
//! own temporary directory only (no TCP port to collide with), runs as the `postgres` user
//! when started by root (Postgres refuses to run as root), and is stopped and deleted when
//! dropped.

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error(
        "PostgreSQL's `{0}` was not found on PATH or under /usr/lib/postgresql/*/bin. Install \
         PostgreSQL (Debian: `apt install postgresql`) or point DATABASE_URL at a server."
    )]
    Missing(&'static str),
    #[error("running as root, but there is no `postgres` user to run the cluster as")]
    NoPostgresUser,
    #[error("{0} failed: {1}")]
    Failed(&'static str, String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// A running private cluster.
pub struct PgCluster {
    dir: Option<tempfile::TempDir>,
    pg_ctl: PathBuf,
    user: Option<(u32, u32)>,
    /// Connection URL of the `postgres` database.
    pub url: String,
}

fn find(tool: &'static str) -> Result<PathBuf, PgError> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(tool);
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .map(|v| v.join("bin").join(tool))
        .find(|p| p.is_file())
        .ok_or(PgError::Missing(tool))
}

/// (uid, gid) of the `postgres` user when running as root.
fn run_as() -> Result<Option<(u32, u32)>, PgError> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    let user = nix::unistd::User::from_name("postgres")
        .ok()
        .flatten()
        .ok_or(PgError::NoPostgresUser)?;
    Ok(Some((user.uid.as_raw(), user.gid.as_raw())))
}

fn run(tool: &'static str, mut cmd: Command, user: Option<(u32, u32)>) -> Result<(), PgError> {
    if let Some((uid, gid)) = user {
        cmd.uid(uid).gid(gid);
    }
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(PgError::Failed(
            tool,
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ))
    }
}

/// The Postgres server a bench or tool uses: `DATABASE_URL`, or a private cluster that lives as
/// long as the returned handle. Returns the handle (if any) and an admin URL.
pub fn server_from_env() -> Result<(Option<PgCluster>, String), PgError> {
    match std::env::var("DATABASE_URL") {
        Ok(url) => Ok((None, url)),
        Err(_) => {
            let c = PgCluster::start()?;
            let url = c.url.clone();
            Ok((Some(c), url))
        }
    }
}

/// A numeric knob from the environment (`KASSA_BENCH_…`), or `default`.
pub fn knob(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl PgCluster {
    /// Creates and starts a cluster in a new temporary directory.
    pub fn start() -> Result<Self, PgError> {
        let initdb = find("initdb")?;
        let pg_ctl = find("pg_ctl")?;
        let user = run_as()?;
        let dir = tempfile::Builder::new().prefix("kassa-pg-").tempdir()?;
        if let Some((uid, gid)) = user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let data = dir.path().join("data");
        let mut init = Command::new(&initdb);
        init.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run("initdb", init, user)?;
        Self::launch(dir, pg_ctl, user)
    }

    /// A hot standby of this cluster, streaming from it: a base backup (`pg_basebackup -R`,
    /// which writes the standby settings) started in a directory of its own.
    pub fn start_replica(&self) -> Result<Self, PgError> {
        let basebackup = find("pg_basebackup")?;
        let dir = tempfile::Builder::new()
            .prefix("kassa-pg-replica-")
            .tempdir()?;
        if let Some((uid, gid)) = self.user {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))?;
        }
        let mut backup = Command::new(&basebackup);
        backup
            .arg("-D")
            .arg(dir.path().join("data"))
            .arg("-h")
            .arg(self.dir())
            .args(["-p", "5432", "-U", "postgres", "-R", "-X", "stream"])
            .args(["--checkpoint=fast", "--no-sync"]);
        run("pg_basebackup", backup, self.user)?;
        Self::launch(dir, self.pg_ctl.clone(), self.user)
    }

    /// Starts the cluster whose data directory is `dir/data`, listening in `dir`.
    fn launch(
        dir: tempfile::TempDir,
        pg_ctl: PathBuf,
        user: Option<(u32, u32)>,
    ) -> Result<Self, PgError> {
        let data = dir.path().join("data");
        let mut cluster = Self {
            dir: Some(dir),
            pg_ctl,
            user,
            url: String::new(),
        };
        let socket = cluster.dir().to_path_buf();
        let mut start = Command::new(&cluster.pg_ctl);
        start
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(socket.join("postgres.log"))
            .arg("-o")
            .arg(format!(
                "-c listen_addresses='' -k {} -p 5432 -c fsync=off -c synchronous_commit=off \
                 -c full_page_writes=off -c max_connections=200 -c shared_buffers=1GB",
                socket.display()
            ))
            .args(["-w", "-t", "60", "start"]);
        run("pg_ctl start", start, user)?;
        cluster.url = format!(
            "postgres://postgres@localhost:5432/postgres?host={}",
            socket.display()
        );
        Ok(cluster)
    }

    /// The cluster's directory (data, socket and log).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().expect("present until drop").path()
    }

    /// URL of another database of the same cluster.
    pub fn database_url(&self, database: &str) -> String {
        self.url.replacen("/postgres?", &format!("/{database}?"), 1)
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.dir().join("data");
        let mut stop = Command::new(&self.pg_ctl);
        stop.arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "stop"]);
        if let Err(e) = run("pg_ctl stop", stop, self.user) {
            tracing::warn!("stopping the private Postgres cluster: {e}");
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
    }
}

/// `url` with its database replaced by `database` (query parameters, such as a socket
/// directory, kept).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, ""), |(b, q)| (b, q));
    let server = base.rfind('/').map_or(base, |i| &base[..i]);
    if query.is_empty() {
        format!("{server}/{database}")
    } else {
        format!("{server}/{database}?{query}")
    }
}

/// A new, empty database on the server at `admin_url` (a database the caller may create
/// databases from), with the migrations applied. Returns its pool and URL.
pub async fn fresh_database(
    admin_url: &str,
) -> Result<(sqlx::PgPool, String), kassa_indexer::store::StoreError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "kassa_t_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let admin = sqlx::PgPool::connect(admin_url).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await?;
    admin.close().await;
    let url = with_database(admin_url, &name);
    Ok((kassa_indexer::store::connect(&url).await?, url))
}

/// The database `url` names. Its query may name a socket directory, slashes and all: the
/// database is the last part of the path before it.
pub fn database_of(url: &str) -> &str {
    let path = url.split('?').next().unwrap_or_default();
    path.rsplit_once('/').map_or("", |(_, d)| d)
}

/// Drops the database of `url` (one `fresh_database` made) from the server at `admin_url`,
/// closing what is still connected to it; a bench's data goes with the bench.
pub async fn drop_database(admin_url: &str, url: &str) {
    let database = database_of(url);
    if database.is_empty() {
        return;
    }
    if let Ok(admin) = sqlx::PgPool::connect(admin_url).await {
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
        admin.close().await;
    }
}

/// Runs an indexer of the cluster at `rpc_url` into `pool`, polling every `poll`, until the
/// returned sender is dropped (or sends `true`): a test's or bench's mirror of its node.
pub fn follow(
    pool: sqlx::PgPool,
    rpc_url: &str,
    poll: std::time::Duration,
) -> tokio::sync::watch::Sender<bool> {
    let indexer = std::sync::Arc::new(kassa_indexer::Indexer::new(
        pool,
        kassa_indexer::source::Source::new(rpc_url),
        kassa_indexer::IndexerConfig {
            poll,
            ..Default::default()
        },
    ));
    let (stop, mut stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        indexer
            .run(async move {
                let _ = stopped.wait_for(|s| *s).await;
            })
            .await
    });
    stop
}

#[cfg(test)]
mod tests {
    use super::{database_of, with_database};

    #[test]
    fn the_database_is_read_before_the_socket_directory() {
        assert_eq!(
            database_of("postgres:///kassa_t_1_0?host=/tmp/pgdev&user=postgres"),
            "kassa_t_1_0"
        );
        assert_eq!(database_of("postgres://u:p@db:5432/main"), "main");
    }

    #[test]
    fn another_database_keeps_the_socket() {
        assert_eq!(
            with_database(
                "postgres://postgres@localhost:5432/postgres?host=/tmp/x",
                "a"
            ),
            "postgres://postgres@localhost:5432/a?host=/tmp/x"
        );
        assert_eq!(
            with_database("postgres://u:p@db:5432/main", "b"),
            "postgres://u:p@db:5432/b"
        );
    }
}
