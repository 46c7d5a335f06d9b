//! `[[gate.redis]]`: the Redis gate.

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisGateConfig {
    /// How `[gate.http]` refers to this gate, to serve `/command` under its rules.
    #[serde(default)]
    pub name: Option<String>,
    pub listen: SocketAddr,
    pub upstream: RedisUpstreamConfig,
    /// TLS for clients: with it, every client speaks TLS from its first byte (Redis has no
    /// STARTTLS).
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// Accept `AUTH <token>` without TLS from clients that are not on loopback.
    #[serde(default)]
    pub allow_insecure_auth: bool,
    /// Upstream connections per service account for sessions that need one of their own
    /// (MULTI, WATCH, subscriptions, blocking commands, RESP3).
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Connections per service account that every other signed-in session shares, their
    /// commands pipelined together; `0`: every session gets a connection of its own.
    #[serde(default = "default_shared_connections")]
    pub shared_connections: usize,
    #[serde(default = "default_max_clients")]
    pub max_client_connections: usize,
    #[serde(default = "one")]
    pub threads: usize,
    /// From connect to authenticated; slower clients are dropped.
    #[serde(default = "default_auth_timeout", with = "humantime_serde")]
    pub auth_timeout: Duration,
    /// Clients silent this long between commands are disconnected; `0s` never.
    #[serde(default, with = "humantime_serde")]
    pub client_idle_timeout: Duration,
    /// End sessions when their token expires.
    #[serde(default)]
    pub close_on_expiry: bool,
    /// One audit line per command: its name (never its arguments), duration, the reply's
    /// element count, and its error code if it failed.
    #[serde(default)]
    pub audit_commands: bool,
    /// How long a client waits for an upstream connection before `-ERR`.
    #[serde(default = "default_queue_timeout", with = "humantime_serde")]
    pub queue_timeout: Duration,
    /// Every key a client names is stored under this prefix, from its token's claims.
    #[serde(default = "default_key_prefix")]
    pub key_prefix: String,
    /// The scopes that permit reading, and writing too.
    #[serde(default)]
    pub scopes: RedisScopes,
    /// Largest bulk string a client may send (Redis's own limit is 512 MiB).
    #[serde(default = "default_max_bulk")]
    pub max_bulk: usize,
    /// Service accounts by name: Redis ACL users the gate logs in as.
    pub accounts: BTreeMap<String, RedisAccountConfig>,
    /// Ordered: the first rule whose role the token carries wins.
    pub roles: Vec<RoleRule>,
}

/// Where Redis listens. Redis speaks TLS from the first byte or not at all, so the modes are
/// `disable`, `require` and `verify-full` (`prefer` has nothing to negotiate).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisUpstreamConfig {
    pub host: String,
    #[serde(default = "default_redis_port")]
    pub port: u16,
    #[serde(default = "disable")]
    pub tls: UpstreamTls,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The database every connection selects.
    #[serde(default)]
    pub database: u32,
}

/// Scope names, as the tokens carry them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisScopes {
    pub read: String,
    pub write: String,
}

impl Default for RedisScopes {
    fn default() -> Self {
        Self { read: "cache:read".into(), write: "cache:write".into() }
    }
}

/// A Redis ACL user the gate logs in as.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisAccountConfig {
    /// The ACL user; the account's name when absent.
    pub user: Option<String>,
    pub password: Option<Secret>,
    pub password_env: Option<String>,
}

impl RedisAccountConfig {
    /// The password from config or its environment variable; `None` for a user without one.
    pub fn resolve_password(
        &self,
        account: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<String>, SecretSourceError> {
        resolve_secret(self.password.as_ref(), self.password_env.as_deref(), || format!("account {account}"), env)
    }
}

impl GateSection for RedisGateConfig {
    const KIND: &'static str = "gate.redis";

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

/// The default `key_prefix`.
pub fn default_key_prefix() -> String {
    "u:{sub}:".into()
}
fn default_shared_connections() -> usize {
    2
}
fn default_max_bulk() -> usize {
    64 << 20
}
fn default_redis_port() -> u16 {
    6379
}
fn disable() -> UpstreamTls {
    UpstreamTls::Disable
}
