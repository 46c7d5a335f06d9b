//! People who sign in: a username, an argon2id password hash, and the attributes their
//! tokens carry.

use std::future::Future;

use serde::Serialize;
use sqlx::Row as _;
use sqlx::any::AnyRow;
use ward_core::UnixTime;

use crate::db::{SqlStore, flag};
use crate::error::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserRecord {
    pub username: String,
    /// The argon2id PHC string; never printed.
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub disabled: bool,
    pub roles: Vec<String>,
    pub groups: Vec<String>,
    pub tenant: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub created_at: UnixTime,
    pub updated_at: UnixTime,
}

pub trait UserStore: Send + Sync {
    fn insert_user(&self, user: &UserRecord) -> impl Future<Output = Result<()>> + Send;
    fn get_user(&self, username: &str) -> impl Future<Output = Result<Option<UserRecord>>> + Send;
    fn list_users(&self) -> impl Future<Output = Result<Vec<UserRecord>>> + Send;
    /// Whether there is any user at all.
    fn has_users(&self) -> impl Future<Output = Result<bool>> + Send;
    /// Writes every field but the username and `created_at`; returns whether the user exists.
    fn update_user(&self, user: &UserRecord) -> impl Future<Output = Result<bool>> + Send;
    /// Returns whether a user was deleted.
    fn delete_user(&self, username: &str) -> impl Future<Output = Result<bool>> + Send;
}

macro_rules! columns {
    () => {
        "username, password_hash, disabled, roles, groups_, tenant, email, name, created_at, updated_at"
    };
}

fn json_list(list: &[String]) -> Result<String> {
    serde_json::to_string(list).map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl UserStore for SqlStore {
    async fn insert_user(&self, u: &UserRecord) -> Result<()> {
        sqlx::query(concat!("INSERT INTO users (", columns!(), ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"))
            .bind(&u.username)
            .bind(u.password_hash.as_deref())
            .bind(i64::from(u.disabled))
            .bind(json_list(&u.roles)?)
            .bind(json_list(&u.groups)?)
            .bind(u.tenant.as_deref())
            .bind(u.email.as_deref())
            .bind(u.name.as_deref())
            .bind(u.created_at)
            .bind(u.updated_at)
            .execute(self.write())
            .await
            .map_err(|e| match StoreError::from(e) {
                StoreError::Conflict(_) => StoreError::Conflict(format!("user {:?}", u.username)),
                other => other,
            })?;
        Ok(())
    }

    async fn get_user(&self, username: &str) -> Result<Option<UserRecord>> {
        let row = sqlx::query(concat!("SELECT ", columns!(), " FROM users WHERE username = $1"))
            .bind(username)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(decode).transpose()
    }

    async fn list_users(&self) -> Result<Vec<UserRecord>> {
        let rows =
            sqlx::query(concat!("SELECT ", columns!(), " FROM users ORDER BY username")).fetch_all(self.read()).await?;
        rows.iter().map(decode).collect()
    }

    async fn has_users(&self) -> Result<bool> {
        let any: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users LIMIT 1").fetch_optional(self.read()).await?;
        Ok(any.is_some())
    }

    async fn update_user(&self, u: &UserRecord) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET password_hash = $1, disabled = $2, roles = $3, groups_ = $4, tenant = $5, email = $6, \
             name = $7, updated_at = $8 WHERE username = $9",
        )
        .bind(u.password_hash.as_deref())
        .bind(i64::from(u.disabled))
        .bind(json_list(&u.roles)?)
        .bind(json_list(&u.groups)?)
        .bind(u.tenant.as_deref())
        .bind(u.email.as_deref())
        .bind(u.name.as_deref())
        .bind(u.updated_at)
        .bind(&u.username)
        .execute(self.write())
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_user(&self, username: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM users WHERE username = $1").bind(username).execute(self.write()).await?;
        Ok(done.rows_affected() > 0)
    }
}

fn decode(row: &AnyRow) -> Result<UserRecord> {
    decode_columns(row, |c| c.into())
}

/// The user columns of a query that renamed them (a join): `column` maps each of
/// [`columns!`]'s names to the name in `row`.
pub(crate) fn decode_columns(row: &AnyRow, column: impl Fn(&'static str) -> String) -> Result<UserRecord> {
    let username: String = row.try_get(column("username").as_str())?;
    let list = |name: &'static str| -> Result<Vec<String>> {
        let text: String = row.try_get(column(name).as_str())?;
        serde_json::from_str(&text).map_err(|e| StoreError::Corrupt(format!("user {username:?} {name}: {e}")))
    };
    Ok(UserRecord {
        password_hash: row.try_get(column("password_hash").as_str())?,
        disabled: flag(row.try_get(column("disabled").as_str())?),
        roles: list("roles")?,
        groups: list("groups_")?,
        tenant: row.try_get(column("tenant").as_str())?,
        email: row.try_get(column("email").as_str())?,
        name: row.try_get(column("name").as_str())?,
        created_at: row.try_get(column("created_at").as_str())?,
        updated_at: row.try_get(column("updated_at").as_str())?,
        username,
    })
}
