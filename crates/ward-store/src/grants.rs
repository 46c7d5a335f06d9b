//! Grants and their refresh tokens. A grant is what one sign-in (or one client's credentials)
//! allowed one client to do; every token carries its id as `sid`, and revoking it ends them
//! all. Refresh tokens are stored as hashes. Rotating one is a single insert of its successor,
//! which names its parent under a unique key: two nodes racing on the same token cannot both
//! rotate it, and the hot path is one read and one write.

use std::future::Future;

use serde::Serialize;
use sqlx::Row as _;
use sqlx::any::AnyRow;
use ward_core::{ScopeSet, UnixTime};

use crate::db::SqlStore;
use crate::error::{Result, StoreError};
use crate::group_commit::PendingInsert;
use crate::users::UserRecord;

/// Who a grant is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectKind {
    /// A person, by username.
    User,
    /// A client acting for itself (client credentials).
    Client,
}

impl SubjectKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Client => "client",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrantRecord {
    pub grant_id: String,
    pub client_id: String,
    pub subject_kind: SubjectKind,
    pub subject: String,
    pub scopes: ScopeSet,
    /// When the person signed in (OIDC `auth_time`).
    pub auth_time: UnixTime,
    pub created_at: UnixTime,
    pub last_used_at: UnixTime,
    pub expires_at: UnixTime,
    pub revoked_at: Option<UnixTime>,
}

impl GrantRecord {
    pub fn is_live(&self, now: UnixTime) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// A refresh token's row, with the grant it belongs to and the grant's user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub grant: GrantRecord,
    /// The user of a person's grant, if they still exist.
    pub user: Option<UserRecord>,
    /// What this token may ask for: the grant's scopes or fewer.
    pub scopes: ScopeSet,
    pub expires_at: UnixTime,
    /// When it was exchanged for its successor, if it was.
    pub rotated_at: Option<UnixTime>,
}

/// A refresh token to store.
#[derive(Debug, Clone, Copy)]
pub struct NewRefreshToken<'a> {
    pub token_hash: &'a str,
    pub grant_id: &'a str,
    pub scopes: &'a ScopeSet,
    pub created_at: UnixTime,
    pub expires_at: UnixTime,
    /// The token it replaces: at most one token ever names a given parent.
    pub parent_hash: Option<&'a str>,
}

pub trait GrantStore: Send + Sync {
    fn insert_grant(&self, grant: &GrantRecord) -> impl Future<Output = Result<()>> + Send;
    fn get_grant(&self, grant_id: &str) -> impl Future<Output = Result<Option<GrantRecord>>> + Send;
    /// The newest live client-credentials grant of `client_id`.
    fn live_client_grant(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Option<GrantRecord>>> + Send;
    /// A user's grants, newest first.
    fn grants_of_user(&self, username: &str) -> impl Future<Output = Result<Vec<GrantRecord>>> + Send;
    /// Marks the grant revoked; returns whether it was live.
    fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> impl Future<Output = Result<bool>> + Send;
    /// Revokes every live grant of a subject; returns their ids.
    fn revoke_grants_of(
        &self,
        kind: SubjectKind,
        subject: &str,
        now: UnixTime,
    ) -> impl Future<Output = Result<Vec<String>>> + Send;
    fn is_grant_revoked(&self, grant_id: &str) -> impl Future<Output = Result<bool>> + Send;
    /// Grants revoked at or after `since`, as `(grant_id, revoked_at)`.
    fn grants_revoked_since(&self, since: UnixTime) -> impl Future<Output = Result<Vec<(String, UnixTime)>>> + Send;

    /// Stores a refresh token. False when its parent already has a successor: another
    /// request rotated that token first.
    fn insert_refresh_token(&self, token: NewRefreshToken<'_>) -> impl Future<Output = Result<bool>> + Send;
    /// The token, its grant and the grant's user, in one read.
    fn get_refresh_token(&self, token_hash: &str) -> impl Future<Output = Result<Option<RefreshTokenRecord>>> + Send;
    /// Records a use of the grant (refresh without rotation; a rotation records itself).
    fn touch_grant(&self, grant_id: &str, now: UnixTime) -> impl Future<Output = Result<()>> + Send;
    /// Drops refresh tokens, and grants, that expired before `before`; returns how many rows.
    fn purge_grants(&self, before: UnixTime) -> impl Future<Output = Result<u64>> + Send;
}

macro_rules! grant_columns {
    ($prefix:literal) => {
        concat!(
            $prefix,
            "grant_id, ",
            $prefix,
            "client_id, ",
            $prefix,
            "subject_kind, ",
            $prefix,
            "subject, ",
            $prefix,
            "scopes, ",
            $prefix,
            "auth_time, ",
            $prefix,
            "created_at, ",
            $prefix,
            "last_used_at, ",
            $prefix,
            "expires_at, ",
            $prefix,
            "revoked_at"
        )
    };
}

impl GrantStore for SqlStore {
    async fn insert_grant(&self, g: &GrantRecord) -> Result<()> {
        sqlx::query(concat!(
            "INSERT INTO grants (",
            grant_columns!(""),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(&g.grant_id)
        .bind(&g.client_id)
        .bind(g.subject_kind.as_str())
        .bind(&g.subject)
        .bind(g.scopes.to_string())
        .bind(g.auth_time)
        .bind(g.created_at)
        .bind(g.last_used_at)
        .bind(g.expires_at)
        .bind(g.revoked_at)
        .execute(self.write())
        .await?;
        Ok(())
    }

    async fn get_grant(&self, grant_id: &str) -> Result<Option<GrantRecord>> {
        let row = sqlx::query(concat!("SELECT ", grant_columns!(""), " FROM grants WHERE grant_id = $1"))
            .bind(grant_id)
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(decode_grant).transpose()
    }

    async fn live_client_grant(&self, client_id: &str, now: UnixTime) -> Result<Option<GrantRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            grant_columns!(""),
            " FROM grants WHERE client_id = $1 AND subject_kind = 'client' AND revoked_at IS NULL AND expires_at > $2 \
             ORDER BY created_at DESC LIMIT 1"
        ))
        .bind(client_id)
        .bind(now)
        .fetch_optional(self.read())
        .await?;
        row.as_ref().map(decode_grant).transpose()
    }

    async fn grants_of_user(&self, username: &str) -> Result<Vec<GrantRecord>> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            grant_columns!("g."),
            ", (SELECT MAX(r.created_at) FROM refresh_tokens r WHERE r.grant_id = g.grant_id) AS last_refresh \
             FROM grants g WHERE g.subject = $1 AND g.subject_kind = 'user' ORDER BY g.created_at DESC, g.grant_id"
        ))
        .bind(username)
        .fetch_all(self.read())
        .await?;
        rows.iter()
            .map(|row| {
                let mut grant = decode_grant(row)?;
                // A rotation is a use: the newest refresh token says when the grant was last used.
                let last_refresh: Option<i64> = row.try_get("last_refresh")?;
                grant.last_used_at = grant.last_used_at.max(last_refresh.unwrap_or(0));
                Ok(grant)
            })
            .collect()
    }

    async fn revoke_grant(&self, grant_id: &str, now: UnixTime) -> Result<bool> {
        let done = sqlx::query("UPDATE grants SET revoked_at = $1 WHERE grant_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(grant_id)
            .execute(self.write())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_grants_of(&self, kind: SubjectKind, subject: &str, now: UnixTime) -> Result<Vec<String>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "UPDATE grants SET revoked_at = $1 WHERE subject = $2 AND subject_kind = $3 AND revoked_at IS NULL \
             RETURNING grant_id",
        )
        .bind(now)
        .bind(subject)
        .bind(kind.as_str())
        .fetch_all(self.write())
        .await?;
        Ok(ids)
    }

    async fn is_grant_revoked(&self, grant_id: &str) -> Result<bool> {
        let hit: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM grants WHERE grant_id = $1 AND revoked_at IS NOT NULL")
                .bind(grant_id)
                .fetch_optional(self.read())
                .await?;
        Ok(hit.is_some())
    }

    async fn grants_revoked_since(&self, since: UnixTime) -> Result<Vec<(String, UnixTime)>> {
        let rows = sqlx::query_as::<_, (String, i64)>("SELECT grant_id, revoked_at FROM grants WHERE revoked_at >= $1")
            .bind(since)
            .fetch_all(self.read())
            .await?;
        Ok(rows)
    }

    async fn insert_refresh_token(&self, t: NewRefreshToken<'_>) -> Result<bool> {
        let row = PendingInsert {
            token_hash: t.token_hash.to_owned(),
            grant_id: t.grant_id.to_owned(),
            scopes: t.scopes.to_string(),
            created_at: t.created_at,
            expires_at: t.expires_at,
            parent_hash: t.parent_hash.map(str::to_owned),
        };
        let inserted = self.refresh_token_writer().insert(row).await?;
        if !inserted && t.parent_hash.is_none() {
            // Only a parent can conflict; a 256-bit token colliding is a broken random source.
            return Err(StoreError::Conflict("refresh token".into()));
        }
        Ok(inserted)
    }

    async fn get_refresh_token(&self, token_hash: &str) -> Result<Option<RefreshTokenRecord>> {
        let row = sqlx::query(concat!(
            "SELECT ",
            grant_columns!("g."),
            ", r.scopes AS token_scopes, r.expires_at AS token_expires_at, child.created_at AS rotated_at, \
             u.username AS u_username, u.password_hash AS u_password_hash, u.disabled AS u_disabled, \
             u.roles AS u_roles, u.groups_ AS u_groups_, u.tenant AS u_tenant, u.email AS u_email, u.name AS u_name, \
             u.created_at AS u_created_at, u.updated_at AS u_updated_at \
             FROM refresh_tokens r JOIN grants g ON g.grant_id = r.grant_id \
             LEFT JOIN refresh_tokens child ON child.parent_hash = r.token_hash \
             LEFT JOIN users u ON g.subject_kind = 'user' AND u.username = g.subject \
             WHERE r.token_hash = $1"
        ))
        .bind(token_hash)
        .fetch_optional(self.read())
        .await?;
        let Some(row) = row else { return Ok(None) };
        let scopes: String = row.try_get("token_scopes")?;
        let user_name: Option<String> = row.try_get("u_username")?;
        let user = match user_name {
            Some(_) => Some(crate::users::decode_columns(&row, |c| format!("u_{c}"))?),
            None => None,
        };
        Ok(Some(RefreshTokenRecord {
            grant: decode_grant(&row)?,
            user,
            scopes: ScopeSet::parse(&scopes).map_err(|e| StoreError::Corrupt(format!("refresh token scopes: {e}")))?,
            expires_at: row.try_get("token_expires_at")?,
            rotated_at: row.try_get("rotated_at")?,
        }))
    }

    async fn touch_grant(&self, grant_id: &str, now: UnixTime) -> Result<()> {
        sqlx::query("UPDATE grants SET last_used_at = $1 WHERE grant_id = $2")
            .bind(now)
            .bind(grant_id)
            .execute(self.write())
            .await?;
        Ok(())
    }

    async fn purge_grants(&self, before: UnixTime) -> Result<u64> {
        let tokens =
            sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1").bind(before).execute(self.write()).await?;
        let grants = sqlx::query("DELETE FROM grants WHERE expires_at < $1").bind(before).execute(self.write()).await?;
        Ok(tokens.rows_affected() + grants.rows_affected())
    }
}

fn decode_grant(row: &AnyRow) -> Result<GrantRecord> {
    let grant_id: String = row.try_get("grant_id")?;
    let corrupt = |what: &str, detail: String| StoreError::Corrupt(format!("grant {grant_id:?} {what}: {detail}"));
    let kind: String = row.try_get("subject_kind")?;
    let subject_kind = match kind.as_str() {
        "user" => SubjectKind::User,
        "client" => SubjectKind::Client,
        other => return Err(corrupt("subject_kind", other.to_owned())),
    };
    let scopes: String = row.try_get("scopes")?;
    Ok(GrantRecord {
        client_id: row.try_get("client_id")?,
        subject_kind,
        subject: row.try_get("subject")?,
        scopes: ScopeSet::parse(&scopes).map_err(|e| corrupt("scopes", e.to_string()))?,
        auth_time: row.try_get("auth_time")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        expires_at: row.try_get("expires_at")?,
        revoked_at: row.try_get("revoked_at")?,
        grant_id,
    })
}
