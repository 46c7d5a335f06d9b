//! The OAuth flows as services over `ward-core`, `ward-store` and `ward-token`. No HTTP here:
//! the transport hands in parsed parameters and gets back typed responses or `OAuthError`s.
//!
//! - [`server`] — `AuthorizationServer`, the one handle the transport holds, and `Settings`.
//! - [`params`] — form parameters with RFC 6749 §3.1/§3.2 rules (empty = absent, no repeats).
//! - [`client_auth`] — client authentication (`client_secret_basic`, `client_secret_post`,
//!   `private_key_jwt`, `none`).
//! - [`client_cache`] — a short-lived cache of client registrations.
//! - [`keys`] — the signing keyring: first-start generation, sealing, rotation, reload.
//! - [`grants`] — the token endpoint, one module per grant type.
//! - [`revocation_cache`] — this node's view of revoked tokens, synced from the store.
//! - [`introspect`] — RFC 7662. [`revoke`]: RFC 7009. [`discovery`]: RFC 8414 + OIDC metadata.
//! - [`admin`] — client and scope administration used by the CLI.
//! - [`users`] — user administration and argon2id password hashing.
//! - [`maintenance`] — purging rows whose tokens have expired.

pub mod admin;
pub mod client_auth;
pub mod client_cache;
pub mod discovery;
pub mod grants;
pub mod introspect;
pub mod keys;
pub mod maintenance;
pub mod params;
pub mod revocation_cache;
pub mod revoke;
pub mod server;
pub mod users;

pub use params::FormParams;
pub use server::{AuthorizationServer, Settings, Store};

/// Logs an internal failure and returns the generic `server_error` the client sees.
pub(crate) fn internal(context: &'static str, error: impl std::fmt::Display) -> ward_core::OAuthError {
    tracing::error!(%error, "{context}");
    ward_core::OAuthError::server_error()
}
