//! Connecting to SQLite or PostgreSQL, with the pools each needs.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions as _};

use crate::error::Result;
use crate::group_commit::GroupCommit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The SQL store. Cheap to clone: pools are shared.
#[derive(Clone, Debug)]
pub struct SqlStore {
    backend: Backend,
    read: AnyPool,
    /// SQLite allows one writer at a time; routing every write through a pool of one
    /// connection queues them here instead of bouncing off `SQLITE_BUSY`. On PostgreSQL
    /// this is the same pool as `read`.
    write: AnyPool,
    refresh_tokens: GroupCommit,
}

const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

impl SqlStore {
    /// Connects to `url` (`sqlite://path` or `postgres://…`); a missing SQLite file is created.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            let path = path.split('?').next().unwrap_or_default();
            owner_only_sqlite_files(path)?;
            let url = format!("sqlite://{path}?mode=rwc");
            let options = AnyConnectOptions::from_str(&url)?.disable_statement_logging();
            let pool = |max: u32| {
                AnyPoolOptions::new()
                    .max_connections(max)
                    .min_connections(1)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            sqlx::raw_sql(SQLITE_PRAGMAS).execute(conn).await?;
                            Ok(())
                        })
                    })
                    .connect_with(options.clone())
            };
            let write = pool(1).await?;
            let read = pool(4).await?;
            let refresh_tokens = GroupCommit::spawn(write.clone());
            Ok(Self { backend: Backend::Sqlite, read, write, refresh_tokens })
        } else {
            warn_of_unknown_parameters(url);
            let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            let refresh_tokens = GroupCommit::spawn(pool.clone());
            Ok(Self { backend: Backend::Postgres, read: pool.clone(), write: pool, refresh_tokens })
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub(crate) fn read(&self) -> &AnyPool {
        &self.read
    }

    pub(crate) fn write(&self) -> &AnyPool {
        &self.write
    }

    pub(crate) fn refresh_token_writer(&self) -> &GroupCommit {
        &self.refresh_tokens
    }

    /// A round trip to the database, for `/health`.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// The database file, created if missing, and its WAL and shared-memory files if present,
/// readable by their owner only. SQLite creates the WAL and shared-memory files with the
/// database file's mode, so they follow.
fn owner_only_sqlite_files(path: &str) -> Result<()> {
    if path.is_empty() || path == ":memory:" {
        return Ok(());
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(false).mode(0o600);
        options.open(path)?;
        for file in [path.to_owned(), format!("{path}-wal"), format!("{path}-shm")] {
            match std::fs::metadata(&file) {
                Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(())
}

/// The PostgreSQL driver ignores parameters it does not know, logging each with its value —
/// which may be a password (`sslpassword=…`). Ward silences that log line and names the
/// parameters here, without their values.
fn warn_of_unknown_parameters(url: &str) {
    const KNOWN: &[&str] = &[
        "sslmode",
        "ssl-mode",
        "sslrootcert",
        "ssl-root-cert",
        "ssl-ca",
        "sslcert",
        "ssl-cert",
        "sslkey",
        "ssl-key",
        "statement-cache-capacity",
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "application_name",
        "options",
    ];
    let Some((_, query)) = url.split_once('?') else { return };
    for (name, _) in form_urlencoded::parse(query.as_bytes()) {
        if !KNOWN.contains(&name.as_ref()) && !name.starts_with("options[") {
            tracing::warn!(parameter = %name.escape_debug(), "ignoring an unknown database URL parameter");
        }
    }
}

/// SQLite and PostgreSQL both return integers for our flag columns; decode them as bools.
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}
