//! Connecting to SQLite or PostgreSQL, with the pools each needs.

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions as _};

use crate::error::Result;

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
}

const SQLITE_PRAGMAS: &str =
    "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON;";

impl SqlStore {
    /// Connects to `url` (`sqlite://path` or `postgres://…`); a missing SQLite file is created.
    pub async fn connect(url: &str) -> Result<Self> {
        sqlx::any::install_default_drivers();
        if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
            let path = path.split('?').next().unwrap_or_default();
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
            Ok(Self { backend: Backend::Sqlite, read, write })
        } else {
            let options = AnyConnectOptions::from_str(url)?.disable_statement_logging();
            let pool = AnyPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await?;
            Ok(Self { backend: Backend::Postgres, read: pool.clone(), write: pool })
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

/// SQLite and PostgreSQL both return integers for our flag columns; decode them as bools.
pub(crate) fn flag(v: i64) -> bool {
    v != 0
}
