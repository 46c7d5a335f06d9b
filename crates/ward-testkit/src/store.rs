//! A migrated store on either backend.

use anyhow::Result;
use tempfile::TempDir;
use ward_store::SqlStore;

use crate::pg::TestDatabase;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreBackend {
    Sqlite,
    Postgres,
}

pub struct TestStore {
    pub store: SqlStore,
    pub url: String,
    _dir: Option<TempDir>,
    database: Option<TestDatabase>,
}

impl TestStore {
    pub async fn new(backend: StoreBackend) -> Result<Self> {
        let (url, dir, database) = match backend {
            StoreBackend::Sqlite => {
                let dir = tempfile::tempdir()?;
                (format!("sqlite://{}", dir.path().join("ward.db").display()), Some(dir), None)
            }
            StoreBackend::Postgres => {
                let db = TestDatabase::create().await?;
                (db.url.clone(), None, Some(db))
            }
        };
        let store = SqlStore::connect(&url).await?;
        store.migrate().await?;
        Ok(Self { store, url, _dir: dir, database })
    }

    pub async fn finish(self) -> Result<()> {
        self.store.close().await;
        if let Some(db) = self.database {
            db.drop_database().await?;
        }
        Ok(())
    }
}

/// Rows per table, to prove that an operation wrote nothing.
pub async fn row_counts(url: &str) -> Result<Vec<(String, i64)>> {
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(url).await?;
    let mut counts = Vec::new();
    for table in ["clients", "scopes", "signing_keys", "revoked_tokens", "assertion_jtis", "ward_schema_version"] {
        let sql = sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}"));
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await?;
        counts.push((table.to_owned(), n));
    }
    pool.close().await;
    Ok(counts)
}
