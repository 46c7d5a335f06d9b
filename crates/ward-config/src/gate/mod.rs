//! Gates and the issuers they trust.
//!
//! - [`trust`] — `[[trust]]`: issuers whose tokens gates accept.
//! - [`postgres`] — `[[gate.postgres]]`.
//! - [`redis`] — `[[gate.redis]]`.
//! - [`http`] — `[gate.http]`: the HTTP data API, under the rules of named gates of the
//!   other kinds (it has no role rules of its own, so it is not a [`GateSection`]).
//!
//! **How fields every gate kind shares are laid out.** Each gate kind is its own array of
//! tables (`[[gate.postgres]]`, and the kinds that follow), and the fields every kind has —
//! `listen`, `tls`, `max_client_connections`, `threads`, `auth_timeout`,
//! `client_idle_timeout`, `close_on_expiry`, `roles` — sit flat in each section under the
//! same names, meanings and defaults. They are not nested in a sub-table, because that
//! would move keys people already write; and they cannot be one struct flattened into each
//! (serde's `flatten` does not work with `deny_unknown_fields`, and a misspelt key must stay
//! an error). Each kind hands its shared fields to the gate core through [`GateSection`],
//! and [`validate_shared`](crate::validate) checks them once for every kind.

pub mod http;
pub mod postgres;
pub mod redis;
pub mod trust;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use http::*;
pub use postgres::*;
pub use redis::*;
pub use trust::*;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    pub postgres: Vec<PostgresGateConfig>,
    pub redis: Vec<RedisGateConfig>,
    pub http: Option<HttpGateConfig>,
}

impl GateConfig {
    /// Every gate's shared fields, whatever its kind, with the kind's name.
    pub fn all_shared(&self) -> impl Iterator<Item = (&'static str, SharedGateFields<'_>)> {
        let postgres = self.postgres.iter().map(|g| (PostgresGateConfig::KIND, g.shared()));
        postgres.chain(self.redis.iter().map(|g| (RedisGateConfig::KIND, g.shared())))
    }

    pub fn is_empty(&self) -> bool {
        self.postgres.is_empty() && self.redis.is_empty() && self.http.is_none()
    }

    /// The `[[gate.postgres]]` called `name`.
    pub fn postgres_named(&self, name: &str) -> Option<&PostgresGateConfig> {
        self.postgres.iter().find(|g| g.name.as_deref() == Some(name))
    }

    /// The `[[gate.redis]]` called `name`.
    pub fn redis_named(&self, name: &str) -> Option<&RedisGateConfig> {
        self.redis.iter().find(|g| g.name.as_deref() == Some(name))
    }
}

/// Why a secret named in the configuration cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretSourceError {
    #[error("environment variable {0} is not set")]
    Unset(String),
    #[error("{what}: set the secret or its _env variable, exactly one")]
    NotExactlyOne { what: String },
    #[error("{what}: the secret must be at least {min} bytes")]
    TooShort { what: String, min: usize },
}

/// A secret given inline or by the name of an environment variable: at most one of the two;
/// `None` when neither is. `what` names it in errors.
pub fn resolve_secret(
    inline: Option<&crate::secret::Secret>,
    env_var: Option<&str>,
    what: impl Fn() -> String,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Option<String>, SecretSourceError> {
    match (inline, env_var) {
        (Some(secret), None) => Ok(Some(secret.expose().to_owned())),
        (None, Some(var)) => env(var).map(Some).ok_or_else(|| SecretSourceError::Unset(var.to_owned())),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(SecretSourceError::NotExactlyOne { what: what() }),
    }
}

// Defaults of the fields every gate kind shares, and of those two kinds happen to share.
pub(crate) fn one() -> usize {
    1
}
pub(crate) fn default_pool_size() -> usize {
    20
}
pub(crate) fn default_max_clients() -> usize {
    1000
}
pub(crate) fn default_queue_timeout() -> Duration {
    Duration::from_secs(5)
}
pub(crate) fn default_auth_timeout() -> Duration {
    Duration::from_secs(10)
}

/// What every gate kind has, read from its own section (see the module notes).
#[derive(Debug, Clone, Copy)]
pub struct SharedGateFields<'a> {
    pub listen: SocketAddr,
    pub tls: Option<&'a ServerTlsConfig>,
    pub max_client_connections: usize,
    pub threads: usize,
    pub auth_timeout: Duration,
    pub client_idle_timeout: Duration,
    pub close_on_expiry: bool,
    pub roles: &'a [RoleRule],
}

/// A gate kind's section.
pub trait GateSection {
    /// `gate.postgres`, …: how error messages name the kind.
    const KIND: &'static str;
    fn shared(&self) -> SharedGateFields<'_>;
}

/// TLS toward an upstream server, with libpq's `sslmode` meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UpstreamTls {
    Disable,
    /// TLS if the server offers it, else plain.
    #[default]
    Prefer,
    /// TLS or nothing; the certificate is not checked (encryption against passive listeners).
    Require,
    /// TLS, with the certificate chain checked against `ca_file` and the host name matched.
    VerifyFull,
}

/// The gate's own certificate, for clients that ask for TLS (every libpq client by default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM: the certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// One mapping rule: a token role to a backend account (by default its name). `role = "*"`
/// matches any token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule<A = String> {
    pub role: String,
    pub account: A,
}
