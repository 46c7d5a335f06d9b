//! `[gate.http]`: the HTTP data API. It serves `POST /query` under the rules of a named
//! `[[gate.postgres]]` (its upstream, accounts, role rules and identity context) and
//! `POST /command` under those of a named `[[gate.redis]]` (accounts, role rules, key
//! namespace and scopes), with connection pools of its own.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ServerTlsConfig, default_auth_timeout, default_max_clients, one};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGateConfig {
    pub listen: SocketAddr,
    /// HTTPS. Without it, bearer tokens travel in clear: loopback clients only, unless
    /// `allow_insecure_auth`.
    #[serde(default)]
    pub tls: Option<ServerTlsConfig>,
    /// Accept bearer tokens over plain HTTP from clients that are not on loopback (behind a
    /// TLS-terminating proxy on the same host, say).
    #[serde(default)]
    pub allow_insecure_auth: bool,
    /// The `name` of the `[[gate.postgres]]` whose rules `/query` follows; none: no `/query`.
    #[serde(default)]
    pub postgres: Option<String>,
    /// The `name` of the `[[gate.redis]]` whose rules `/command` follows; none: no `/command`.
    #[serde(default)]
    pub redis: Option<String>,
    /// PostgreSQL connections per service account; each serves one `/query` at a time.
    #[serde(default = "default_pool_size")]
    pub pool_size: usize,
    /// Redis connections per service account, each carrying many `/command` requests'
    /// commands pipelined: fewer batch more per write (two measured best on two cores); more
    /// keep a slow command from holding up as many others.
    #[serde(default = "default_redis_connections")]
    pub redis_connections: usize,
    #[serde(default = "default_max_clients")]
    pub max_client_connections: usize,
    /// Event-loop threads: 1 runs the API on the process's runtime (with a graceful drain at
    /// stop); N > 1 gives it N threads of its own, each accepting on the port (SO_REUSEPORT)
    /// with its share of `pool_size` and `redis_connections`, as the gates' `threads` do.
    #[serde(default = "one")]
    pub threads: usize,
    /// A client must have sent a request's headers (and finished TLS) within this.
    #[serde(default = "default_auth_timeout", with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// The whole request, from its headers to the last byte of the answer.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub request_timeout: Duration,
    /// PostgreSQL's `statement_timeout` for each query.
    #[serde(default = "default_statement_timeout", with = "humantime_serde")]
    pub statement_timeout: Duration,
    /// Rows a query may return; more is an error (54000), not a silently cut result.
    #[serde(default = "default_max_rows")]
    pub max_rows: usize,
    /// Bytes of row data a query may return.
    #[serde(default = "default_max_result_bytes")]
    pub max_result_bytes: usize,
    /// Largest request body.
    #[serde(default = "default_max_body_bytes")]
    pub max_body_bytes: usize,
    /// One audit line per request: the statement (SQL text cut at 1 KiB, never parameter
    /// values; for `/command` the command's name only), duration, rows, outcome.
    #[serde(default = "yes")]
    pub audit_statements: bool,
    /// The scopes that permit `/query` to read, and to write too.
    #[serde(default)]
    pub scopes: DatabaseScopes,
}

/// Scope names for `/query`, as the tokens carry them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseScopes {
    pub read: String,
    pub write: String,
}

impl Default for DatabaseScopes {
    fn default() -> Self {
        Self { read: "database:read".into(), write: "database:write".into() }
    }
}

fn yes() -> bool {
    true
}
fn default_pool_size() -> usize {
    10
}
fn default_redis_connections() -> usize {
    2
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_statement_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_max_rows() -> usize {
    10_000
}
fn default_max_result_bytes() -> usize {
    16 << 20
}
fn default_max_body_bytes() -> usize {
    1 << 20
}
