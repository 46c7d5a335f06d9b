//! The configuration tree. Every section refuses unknown keys so typos fail loudly.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ward_core::SigningAlg;

use crate::gate::{GateConfig, TrustConfig};
use crate::secret::{DatabaseUrl, Secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Run the issuer's HTTP server. `false` for a node that only runs gates.
    pub issuer_enabled: bool,
    /// The issuer identifier (`iss`), the public base URL of this server.
    pub issuer: String,
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// Holds the SQLite database and, when none is configured, the key-encryption key.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`. Defaults to `<data_dir>/ward.db`.
    pub database: Option<DatabaseUrl>,
    /// Base64 of 32 bytes; encrypts signing keys at rest. Generated into `<data_dir>/kek` when absent.
    pub key_encryption_key: Option<Secret>,
    pub tokens: TokenConfig,
    pub http: HttpConfig,
    pub log: LogConfig,
    /// Issuers whose tokens gates accept.
    pub trust: Vec<TrustConfig>,
    pub gate: GateConfig,
    /// argon2id cost of user passwords.
    pub passwords: PasswordConfig,
    /// People signing in: browser sessions, codes, refresh tokens.
    pub sign_in: SignInConfig,
    /// `WARD_*` environment variables that name no setting: ignored, and warned about once
    /// logging is up. Not configuration itself.
    #[serde(skip)]
    pub ignored_env: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            issuer_enabled: true,
            issuer: "http://localhost:8080".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./ward-data"),
            database: None,
            key_encryption_key: None,
            tokens: TokenConfig::default(),
            http: HttpConfig::default(),
            log: LogConfig::default(),
            trust: Vec::new(),
            gate: GateConfig::default(),
            passwords: PasswordConfig::default(),
            sign_in: SignInConfig::default(),
            ignored_env: Vec::new(),
        }
    }
}

impl Config {
    /// The database to use: the configured one, or the SQLite file in the data dir.
    pub fn database_url(&self) -> DatabaseUrl {
        match &self.database {
            Some(url) => url.clone(),
            None => DatabaseUrl::new(format!("sqlite://{}", self.data_dir.join("ward.db").display())),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// `aud` of issued access tokens; gates check it.
    pub audience: Vec<String>,
    /// Lifetime of access tokens.
    #[serde(with = "humantime_serde")]
    pub access_token_ttl: Duration,
    /// Algorithm of newly generated signing keys.
    pub signing_alg: SigningAlg,
    /// How long a client registration is cached in memory before it is read again. Bounds how
    /// long a deleted client or a rotated secret keeps working on a running node.
    #[serde(with = "humantime_serde")]
    pub client_cache_ttl: Duration,
    /// How often a node reads in revocations made on other nodes; bounds how long a token
    /// revoked elsewhere stays active at this node's introspection. `0s`: ask the database
    /// on every introspection.
    #[serde(with = "humantime_serde")]
    pub revocation_sync_interval: Duration,
    /// Largest accepted lifetime (`exp - now`) of a `private_key_jwt` client assertion.
    #[serde(with = "humantime_serde")]
    pub max_assertion_lifetime: Duration,
    /// How long a rotated-in signing key is published before it signs, so that every node
    /// and every resource server caching the JWKS (for at most half of this) has it first.
    #[serde(with = "humantime_serde")]
    pub key_publish_ahead: Duration,
    /// How often a node re-reads the signing keys; a rotation reaches every node within it.
    #[serde(with = "humantime_serde")]
    pub key_reload_interval: Duration,
    /// Names of the claims that say who a token is about.
    pub claims: ClaimNames,
}

/// argon2id parameters for user passwords. The defaults are OWASP's first recommendation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Memory per hash, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

/// The claim names under which tokens carry a subject's attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClaimNames {
    /// Roles, as a JSON array of strings: what gates' `roles` rules match.
    pub roles: String,
    /// Groups, a JSON array of strings.
    pub groups: String,
    /// The tenant, a string.
    pub tenant: String,
    /// The email address (scope `email`).
    pub email: String,
    /// The display name (scope `profile`).
    pub name: String,
    /// The username (scope `profile`).
    pub preferred_username: String,
}

impl ClaimNames {
    /// Each configured name with the setting it comes from.
    pub fn all(&self) -> [(&'static str, &str); 6] {
        [
            ("roles", &self.roles),
            ("groups", &self.groups),
            ("tenant", &self.tenant),
            ("email", &self.email),
            ("name", &self.name),
            ("preferred_username", &self.preferred_username),
        ]
    }
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            roles: "roles".into(),
            groups: "groups".into(),
            tenant: "tenant".into(),
            email: "email".into(),
            name: "name".into(),
            preferred_username: "preferred_username".into(),
        }
    }
}

/// People signing in through a browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignInConfig {
    /// How long a browser stays signed in to Ward.
    #[serde(with = "humantime_serde")]
    pub session_ttl: Duration,
    /// Lifetime of an authorization code.
    #[serde(with = "humantime_serde")]
    pub authorization_code_ttl: Duration,
    /// Lifetime of a pushed authorization request's `request_uri`.
    #[serde(with = "humantime_serde")]
    pub pushed_request_ttl: Duration,
    /// A refresh token unused for this long expires.
    #[serde(with = "humantime_serde")]
    pub refresh_token_ttl: Duration,
    /// A grant ends this long after sign-in, however it is used.
    #[serde(with = "humantime_serde")]
    pub grant_lifetime: Duration,
    /// A rotated refresh token presented again within this window (concurrent refreshes) is
    /// honoured; after it, the reuse revokes the grant.
    #[serde(with = "humantime_serde")]
    pub refresh_reuse_grace: Duration,
    /// Lifetime of a device code (RFC 8628 `expires_in`).
    #[serde(with = "humantime_serde")]
    pub device_code_ttl: Duration,
    /// How often a device may poll (RFC 8628 `interval`); each poll too soon adds 5 s.
    #[serde(with = "humantime_serde")]
    pub device_poll_interval: Duration,
}

impl Default for SignInConfig {
    fn default() -> Self {
        Self {
            session_ttl: Duration::from_secs(12 * 3600),
            authorization_code_ttl: Duration::from_secs(60),
            pushed_request_ttl: Duration::from_secs(60),
            refresh_token_ttl: Duration::from_secs(14 * 24 * 3600),
            grant_lifetime: Duration::from_secs(90 * 24 * 3600),
            refresh_reuse_grace: Duration::from_secs(10),
            device_code_ttl: Duration::from_secs(1800),
            device_poll_interval: Duration::from_secs(5),
        }
    }
}

impl TokenConfig {
    /// The JWKS `Cache-Control: max-age`: half of `key_publish_ahead`, at most five minutes,
    /// so a resource server that cached the JWKS just before a key was published has fetched
    /// it again before that key signs.
    pub fn jwks_max_age(&self) -> Duration {
        (self.key_publish_ahead / 2).min(Duration::from_secs(300))
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            audience: vec!["ward".into()],
            access_token_ttl: Duration::from_secs(15 * 60),
            signing_alg: SigningAlg::ES256,
            client_cache_ttl: Duration::from_secs(5),
            revocation_sync_interval: Duration::from_secs(1),
            max_assertion_lifetime: Duration::from_secs(5 * 60),
            key_publish_ahead: Duration::from_secs(10 * 60),
            key_reload_interval: Duration::from_secs(30),
            claims: ClaimNames::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// Time limit for one request, from headers read to response.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// How long a graceful shutdown waits for in-flight requests.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
    /// How long a client may take to send a request's headers; slower ones are cut off.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Open connections beyond this wait in the accept queue.
    pub max_connections: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            request_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(20),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 4096,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter, e.g. `info` or `ward=debug,sqlx=warn`.
    pub level: String,
    /// Log one line per HTTP request.
    pub access_log: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { format: LogFormat::Text, level: "info".into(), access_log: true }
    }
}
