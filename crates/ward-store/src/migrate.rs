//! Schema migrations: an ordered list per backend, applied in one transaction each, and a
//! refusal to touch a database whose schema is newer than this binary.

use crate::db::{Backend, SqlStore};
use crate::error::{Result, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

/// A migration from its version, name and file stem, the same under `migrations/sqlite/` and
/// `migrations/postgres/`.
macro_rules! migration {
    ($version:literal, $name:literal, $file:literal) => {
        Migration {
            version: $version,
            name: $name,
            sqlite: include_str!(concat!("../migrations/sqlite/", $file, ".sql")),
            postgres: include_str!(concat!("../migrations/postgres/", $file, ".sql")),
        }
    };
}

const MIGRATIONS: &[Migration] = &[
    migration!(1, "foundation", "0001_foundation"),
    migration!(2, "introspection", "0002_introspection"),
    migration!(3, "staged keys", "0003_staged_keys"),
    migration!(4, "client attributes", "0004_client_attributes"),
    migration!(5, "users", "0005_users"),
    migration!(6, "grants", "0006_grants"),
    migration!(7, "device codes", "0007_device_codes"),
];

/// The newest schema version this binary knows.
pub fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// Arbitrary but fixed: the advisory lock that serialises migrations across PostgreSQL nodes.
const PG_MIGRATION_LOCK: i64 = 0x7761_7264; // "ward"

impl SqlStore {
    /// The schema version recorded in the database (0 for an empty database).
    pub async fn schema_version(&self) -> Result<i64> {
        self.ensure_version_table().await?;
        let v: Option<i64> =
            sqlx::query_scalar("SELECT MAX(version) FROM ward_schema_version").fetch_one(self.read()).await?;
        Ok(v.unwrap_or(0))
    }

    /// Applies pending migrations; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        self.ensure_version_table().await?;
        let mut applied = Vec::new();
        for migration in MIGRATIONS {
            let mut tx = self.write().begin().await?;
            if self.backend() == Backend::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(PG_MIGRATION_LOCK).execute(&mut *tx).await?;
            }
            let current: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM ward_schema_version").fetch_one(&mut *tx).await?;
            let current = current.unwrap_or(0);
            if current > latest_version() {
                return Err(StoreError::SchemaTooNew { found: current, supported: latest_version() });
            }
            if migration.version <= current {
                continue;
            }
            let sql = match self.backend() {
                Backend::Sqlite => migration.sqlite,
                Backend::Postgres => migration.postgres,
            };
            sqlx::raw_sql(sql).execute(&mut *tx).await?;
            sqlx::query("INSERT INTO ward_schema_version (version, name, applied_at) VALUES ($1, $2, $3)")
                .bind(migration.version)
                .bind(migration.name)
                .bind(unix_now())
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            tracing::info!(version = migration.version, name = migration.name, "applied migration");
            applied.push(migration.version);
        }
        self.check_schema().await?;
        Ok(applied)
    }

    /// Refuses a database written by a newer ward.
    pub async fn check_schema(&self) -> Result<()> {
        let found = self.schema_version().await?;
        if found > latest_version() {
            return Err(StoreError::SchemaTooNew { found, supported: latest_version() });
        }
        Ok(())
    }

    /// Records a schema version without running anything: lets tests play a newer binary.
    #[doc(hidden)]
    pub async fn record_schema_version_for_tests(&self, version: i64) -> Result<()> {
        self.ensure_version_table().await?;
        sqlx::query("INSERT INTO ward_schema_version (version, name, applied_at) VALUES ($1, 'test', 0)")
            .bind(version)
            .execute(self.write())
            .await?;
        Ok(())
    }

    async fn ensure_version_table(&self) -> Result<()> {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS ward_schema_version (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .execute(self.write())
        .await?;
        Ok(())
    }
}

/// Migration bookkeeping reads the system clock, not the store's `Clock`: it is an audit
/// note of when a migration ran, never compared with anything.
fn unix_now() -> i64 {
    ward_core::Clock::now(&ward_core::SystemClock)
}
