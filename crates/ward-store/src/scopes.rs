//! Scopes the administrator has declared. Clients may only be allowed declared scopes.

use std::future::Future;

use serde::Serialize;
use sqlx::Row as _;
use ward_core::{Scope, UnixTime};

use crate::db::SqlStore;
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeRecord {
    pub name: String,
    pub description: String,
    pub created_at: UnixTime,
}

pub trait ScopeStore: Send + Sync {
    fn insert_scope(&self, scope: &Scope, description: &str, now: UnixTime) -> impl Future<Output = Result<()>> + Send;
    fn list_scopes(&self) -> impl Future<Output = Result<Vec<ScopeRecord>>> + Send;
    fn delete_scope(&self, name: &str) -> impl Future<Output = Result<bool>> + Send;
}

impl ScopeStore for SqlStore {
    async fn insert_scope(&self, scope: &Scope, description: &str, now: UnixTime) -> Result<()> {
        sqlx::query("INSERT INTO scopes (name, description, created_at) VALUES ($1, $2, $3)")
            .bind(scope.as_str())
            .bind(description)
            .bind(now)
            .execute(self.write())
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("scope {:?}", scope.as_str())),
                other => other,
            })?;
        Ok(())
    }

    async fn list_scopes(&self) -> Result<Vec<ScopeRecord>> {
        let rows = sqlx::query("SELECT name, description, created_at FROM scopes ORDER BY name")
            .fetch_all(self.read())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ScopeRecord {
                    name: r.try_get("name")?,
                    description: r.try_get("description")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    async fn delete_scope(&self, name: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM scopes WHERE name = $1").bind(name).execute(self.write()).await?;
        Ok(done.rows_affected() > 0)
    }
}
