//! Gates and the issuers they trust.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// An issuer whose access tokens gates accept: Ward's own or any OIDC issuer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustConfig {
    /// Exactly as the tokens' `iss` says it.
    pub issuer: String,
    /// Tokens must carry one of these in `aud`.
    #[serde(default = "default_audiences")]
    pub audiences: Vec<String>,
    /// Asymmetric JWS algorithms accepted from this issuer.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// Where the keys are; found by OIDC discovery when absent.
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// Claim with the caller's roles: a name (`roles`, `https://gprxy.io/roles`) or a dotted path.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Claim naming the caller; PostgreSQL clients' `user` must equal it (see `match_user`).
    #[serde(default = "default_identity_claim")]
    pub identity_claim: String,
    #[serde(default)]
    pub required_scopes: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`.
    #[serde(default = "default_leeway", with = "humantime_serde")]
    pub leeway: Duration,
    /// The JOSE `typ` header values accepted (RFC 9068 access tokens say `at+jwt`; some
    /// issuers send `JWT`). Compared case-insensitively, with or without `application/`.
    #[serde(default = "default_token_types")]
    pub token_types: Vec<String>,
    /// Tokens whose `exp` lies further ahead than this (from now, or from `iat`) are refused.
    #[serde(default = "default_max_token_lifetime", with = "humantime_serde")]
    pub max_token_lifetime: Duration,
    /// Accept an issuer (and its keys) over plain http on a host other than loopback.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

fn default_audiences() -> Vec<String> {
    vec!["ward".into()]
}
fn default_algorithms() -> Vec<String> {
    ["ES256", "EdDSA", "RS256", "PS256"].map(String::from).to_vec()
}
fn default_roles_claim() -> String {
    "roles".into()
}
fn default_identity_claim() -> String {
    "sub".into()
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
}
/// The default `token_types`.
pub fn default_token_types() -> Vec<String> {
    vec!["at+jwt".into()]
}
/// The default `max_token_lifetime`: one day.
pub fn default_max_token_lifetime() -> Duration {
    Duration::from_secs(24 * 3600)
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    pub postgres: Vec<PostgresGateConfig>,
}

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

/// TLS toward PostgreSQL, with libpq's `sslmode` meanings.
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

/// The gate's own certificate, for clients that ask for TLS (every libpq client by default).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerTlsConfig {
    /// PEM: the certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// A backend service account (a PostgreSQL role the gate logs in as).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountConfig {
    pub password: Option<Secret>,
    /// Read the password from this environment variable instead.
    pub password_env: Option<String>,
}

/// One mapping rule: a token role to a service account. `role = "*"` matches any token.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    pub role: String,
    pub account: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresGateConfig {
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
    pub fn resolve(&self, env: impl Fn(&str) -> Option<String>) -> Result<Vec<u8>, String> {
        let secret = match (&self.secret, &self.secret_env) {
            (Some(s), None) => s.expose().to_owned(),
            (None, Some(var)) => env(var).ok_or_else(|| format!("environment variable {var} is not set"))?,
            _ => return Err(format!("identity key {}: set secret or secret_env, exactly one", self.id)),
        };
        if secret.len() < 32 {
            return Err(format!("identity key {}: the secret must be at least 32 bytes", self.id));
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
fn one() -> usize {
    1
}
fn default_pool_size() -> usize {
    20
}
fn default_max_clients() -> usize {
    1000
}
fn default_queue_timeout() -> Duration {
    Duration::from_secs(5)
}
fn default_idle_timeout() -> Duration {
    Duration::from_secs(600)
}
fn default_auth_timeout() -> Duration {
    Duration::from_secs(10)
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
    pub fn resolve_password(&self, env: impl Fn(&str) -> Option<String>) -> Result<Option<String>, String> {
        match (&self.password, &self.password_env) {
            (Some(p), None) => Ok(Some(p.expose().to_owned())),
            (None, Some(var)) => env(var).map(Some).ok_or_else(|| format!("environment variable {var} is not set")),
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err("set password or password_env, not both".into()),
        }
    }
}
