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
//! - [`authorize`] — the authorization endpoint: validation, sign-in and consent decisions, codes.
//! - [`par`] — pushed authorization requests (RFC 9126).
//! - [`device`] — device authorization (RFC 8628): codes, the person's decision, polling.
//! - [`sign_in`] — passwords, throttling, browser sessions.
//! - [`claims`] — identity claims under the configured names.
//! - [`id_token`] — ID tokens and the tokens of a person's grant.
//! - [`grant_admin`] — grants: client grants, revocation.
//! - [`userinfo`] — OIDC UserInfo. [`end_session`]: RP-initiated logout.
//! - [`revocation_cache`] — this node's view of revoked tokens, synced from the store.
//! - [`introspect`] — RFC 7662. [`revoke`]: RFC 7009. [`discovery`]: RFC 8414 + OIDC metadata.
//! - [`admin`] — client and scope administration used by the CLI.
//! - [`users`] — user administration and argon2id password hashing.
//! - [`maintenance`] — purging rows whose tokens have expired.

pub mod admin;
pub mod authorize;
pub mod claims;
pub mod client_auth;
pub mod client_cache;
pub mod device;
pub mod discovery;
pub mod end_session;
pub mod grant_admin;
pub mod grants;
pub mod id_token;
pub mod introspect;
pub mod keys;
pub mod maintenance;
pub mod par;
pub mod params;
pub mod revocation_cache;
pub mod revoke;
pub mod server;
pub mod sign_in;
pub mod userinfo;
pub mod users;

pub use params::FormParams;
pub use server::{AuthorizationServer, ClaimNames, Settings, SignInSettings, Store};

/// Logs an internal failure and returns the generic `server_error` the client sees.
pub(crate) fn internal(context: &'static str, error: impl std::fmt::Display) -> ward_core::OAuthError {
    tracing::error!(%error, "{context}");
    ward_core::OAuthError::server_error()
}
