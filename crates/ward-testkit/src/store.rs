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
                (
                    format!("sqlite://{}", dir.path().join("ward.db").display()),
                    Some(dir),
                    None,
                )
            }
            StoreBackend::Postgres => {
                let db = TestDatabase::create().await?;
                (db.url.clone(), None, Some(db))
            }
        };
        let store = SqlStore::connect(&url).await?;
        store.migrate().await?;
        Ok(Self {
            store,
            url,
            _dir: dir,
            database,
        })
    }

    pub async fn finish(self) -> Result<()> {
        self.store.close().await;
        if let Some(db) = self.database {
            db.drop_database().await?;
        }
        Ok(())
    }
}
