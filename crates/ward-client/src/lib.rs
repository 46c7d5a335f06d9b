//! The command-line client's library: what `ward login`, `ward token`, `ward whoami`,
//! `ward logout`, `ward psql` and `ward env` do, against Ward or any standard OIDC issuer.
//!
//! - [`profile`] — profiles from `$XDG_CONFIG_HOME/ward/config.toml`: issuer, client, scopes, gates.
//! - [`cache`] — the token cache: one file per profile, 0600 in a 0700 directory, written atomically.
//! - [`issuer`] — discovery (the metadata's `issuer` must be the configured one) and the token
//!   endpoint calls: code exchange, refresh, revocation.
//! - [`login`] — authorization code + PKCE through a loopback listener, and the device flow.
//! - [`identity`] — the ID token, verified against the issuer's JWKS, for `whoami`.
//!
//! It talks to issuers over HTTP only; nothing here knows Ward's server crates.

pub mod cache;
pub mod identity;
pub mod issuer;
pub mod login;
pub mod profile;

/// Everything that can go wrong, in words a person can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Config(String),
    #[error("token cache {path}: {problem}")]
    Cache { path: String, problem: String },
    #[error("cannot reach the issuer at {url}: {detail}")]
    Unreachable { url: String, detail: String },
    #[error("the issuer {0}")]
    Issuer(String),
    #[error("sign-in failed: {0}")]
    Login(String),
    #[error("not signed in{0}; run `ward login`")]
    NotSignedIn(String),
}

pub type Result<T> = std::result::Result<T, ClientError>;

/// Unix seconds now, by the system clock: tokens' `exp` are wall-clock times.
pub fn now() -> i64 {
    ward_core::Clock::now(&ward_core::SystemClock)
}
