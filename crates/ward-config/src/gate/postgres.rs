//! `[[gate.postgres]]`: the PostgreSQL gate.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    GateSection, RoleRule, SecretSourceError, ServerTlsConfig, SharedGateFields, UpstreamTls, default_auth_timeout,
    default_max_clients, default_pool_size, default_queue_timeout, one, resolve_secret,
};
use crate::secret::Secret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// The token is sent as the password (cleartext, so TLS or loopback only).
    #[default]
    Password,
    /// SASL OAUTHBEARER (RFC 7628), as libpq 18 speaks it.
    Oauthbearer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// A backend connection per client session.
    #[default]
    Session,
    /// A backend connection per transaction; named prepared statements follow the client.
    Transaction,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// A host name or address; or, as in libpq, an absolute path: the directory of
    /// PostgreSQL's Unix socket (`/var/run/postgresql`), for a gate on the database host.
    pub host: String,
    #[serde(default = "default_pg_port")]
    pub port: u16,
    pub database: String,
    #[serde(default)]
    pub tls: UpstreamTls,
    /// PEM CA certificates for `verify-full`.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

impl UpstreamConfig {
    /// The Unix socket path when `host` names a socket directory (libpq's rule: it starts
    /// with `/`); the port picks the socket file, as it does for PostgreSQL.
    pub fn unix_socket(&self) -> Option<PathBuf> {
        self.host.starts_with('/').then(|| PathBuf::from(&self.host).join(format!(".s.PGSQL.{}", self.port)))
    }
}

fn default_pg_port() -> u16 {
    5432
}

/// A backend service account (a PostgreSQL role the gate logs in as).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountConfig {
    pub password: Option<Secret>,
    /// Read the password from this environment variable instead.
    pub password_env: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresGateConfig {
    /// How `[gate.http]` refers to this gate, to serve `/query` under its rules.
    #[serde(default)]
    pub name: Option<String>,
    pub listen: SocketAddr,
    pub upstream: UpstreamConfig,
    #[serde(default)]
    pub auth: ClientAuth,
    /// TLS for clients. Without it, SSLRequest is declined.
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// Accept a token as a cleartext password without TLS from non-loopback clients.
    #[serde(default)]
    pub allow_insecure_password: bool,
    /// The startup `user` must equal the token's identity claim.
    #[serde(default = "yes")]
    pub match_user: bool,
    #[serde(default)]
    pub pool_mode: PoolMode,
    /// Backend connections per service account.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    #[serde(default = "default_max_clients")]
    pub max_client_connections: usize,
    /// Event-loop threads. 1 runs the gate on the process's shared runtime, one pool per
    /// account. N > 1 gives the gate N threads of its own, each accepting clients on the same
    /// port (SO_REUSEPORT) and owning its share of `pool_size`: no hand-offs between threads,
    /// so more transactions per CPU, but a client waits only for its own thread's connections.
    #[serde(default = "one")]
    pub threads: usize,
    /// How long a client waits for a backend connection before SQLSTATE 53300.
    #[serde(default = "default_queue_timeout", with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// Idle backend connections are closed after this long.
    #[serde(default = "default_idle_timeout", with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Clients idle this long between statements (outside a transaction) are disconnected
    /// with SQLSTATE 57P05. `0s` (the default) never disconnects them.
    #[serde(default, with = "humantime_serde")]
    pub client_idle_timeout: Duration,
    /// Time from connect to authenticated; slower clients are dropped.
    #[serde(default = "default_auth_timeout", with = "humantime_serde")]
    pub auth_timeout: Duration,
    /// One audit line per statement (text truncated to 1 KiB, duration, rows, outcome).
    #[serde(default)]
    pub audit_statements: bool,
    /// End sessions when their token expires (FATAL 28000), rather than letting a session
    /// outlive the token that opened it.
    #[serde(default)]
    pub close_on_expiry: bool,
    /// Run on a backend connection when a client lets go of it (session pooling).
    #[serde(default = "default_reset_query")]
    pub reset_query: String,
    /// Transaction pooling: run before a backend serves another client, when the previous one
    /// may have changed session state. Keeps prepared statements, which the gate tracks.
    #[serde(default = "default_transaction_reset_query")]
    pub transaction_reset_query: String,
    /// Service accounts by PostgreSQL role name.
    pub accounts: BTreeMap<String, AccountConfig>,
    /// Ordered: the first rule whose role the token carries wins.
    pub roles: Vec<RoleRule>,
    /// Settings made on every backend assignment, from token claims. Plain settings: any
    /// statement can change them; `signed_identity` is what SQL cannot forge.
    #[serde(default = "default_context")]
    pub context: BTreeMap<String, String>,
    /// The caller's identity with a MAC, read by `ward.user_id()` and friends.
    #[serde(default)]
    pub signed_identity: Option<SignedIdentityConfig>,
    /// How long a backend gets to answer its reset or identity statement before it is closed
    /// and replaced.
    #[serde(default = "default_reset_timeout", with = "humantime_serde")]
    pub reset_timeout: Duration,
    /// Largest protocol message a client may send (PostgreSQL's own limit is 1 GiB); larger
    /// ones end the session with SQLSTATE 54000.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: usize,
}

/// Signing the caller's identity for the `ward` schema's functions (`ward admin pg install`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedIdentityConfig {
    /// The first key signs; every key listed is installed in the database, so a key can be
    /// added everywhere before it signs, and dropped after it stops.
    pub keys: Vec<IdentityKeyConfig>,
    /// Claim for `ward.user_id()`.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// Claim for `ward.tenant_id()`.
    #[serde(default = "default_tenant_claim")]
    pub tenant_claim: String,
    /// Claims `ward.claim(name)` can read.
    #[serde(default = "default_signed_claims")]
    pub claims: Vec<String>,
}

/// One identity-signing key: at least 32 bytes, shared by the gates and the database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityKeyConfig {
    /// Letters, digits, `_` and `-`, at most 32.
    pub id: String,
    #[serde(default)]
    pub secret: Option<Secret>,
    /// Read the secret from this environment variable instead.
    #[serde(default)]
    pub secret_env: Option<String>,
}

impl IdentityKeyConfig {
    /// The key's bytes from config or its environment variable.
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<Vec<u8>, SecretSourceError> {
        let what = || format!("identity key {}", self.id);
        let secret = resolve_secret(self.secret.as_ref(), self.secret_env.as_deref(), what, env)?
            .ok_or_else(|| SecretSourceError::NotExactlyOne { what: what() })?;
        if secret.len() < 32 {
            return Err(SecretSourceError::TooShort { what: format!("identity key {}", self.id), min: 32 });
        }
        Ok(secret.into_bytes())
    }
}

fn default_reset_timeout() -> Duration {
    Duration::from_secs(5)
}
/// The default `max_message_size`: 64 MiB.
pub fn default_max_message_size() -> usize {
    64 << 20
}
fn default_user_claim() -> String {
    "sub".into()
}
fn default_tenant_claim() -> String {
    "tenant".into()
}
fn default_signed_claims() -> Vec<String> {
    ["sub", "client_id", "email", "preferred_username"].map(String::from).to_vec()
}

fn yes() -> bool {
    true
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(600)
}
fn default_reset_query() -> String {
    "DISCARD ALL".into()
}
/// The default `transaction_reset_query`.
pub fn default_transaction_reset_query() -> String {
    "RESET ALL; CLOSE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); DISCARD TEMP; DISCARD SEQUENCES".into()
}
/// The default `context` settings.
pub fn default_context() -> BTreeMap<String, String> {
    [
        ("app.user_id", "sub"),
        ("app.tenant_id", "tenant"),
        ("app.roles", "roles"),
        ("app.client_id", "client_id"),
        ("app.email", "email"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl AccountConfig {
    /// The password from config or its environment variable; `None` for trust authentication.
    pub fn resolve_password(
        &self,
        account: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<String>, SecretSourceError> {
        resolve_secret(self.password.as_ref(), self.password_env.as_deref(), || format!("account {account}"), env)
    }
}

impl GateSection for PostgresGateConfig {
    const KIND: &'static str = "gate.postgres";

    fn shared(&self) -> SharedGateFields<'_> {
        SharedGateFields {
            listen: self.listen,
            tls: self.tls.as_ref(),
            max_client_connections: self.max_client_connections,
            threads: self.threads,
            auth_timeout: self.auth_timeout,
            client_idle_timeout: self.client_idle_timeout,
            close_on_expiry: self.close_on_expiry,
            roles: &self.roles,
        }
    }
}
