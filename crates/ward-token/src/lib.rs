//! JOSE for Ward: signing keys, JWS, access tokens, JWKS, and opaque secrets.
//!
//! - [`entropy`] — `OsEntropy`, the production randomness source, and random token strings.
//! - [`secret`] — 256-bit opaque secrets, stored only as SHA-256 and compared in constant time.
//! - [`kek`] — AES-256-GCM key-encryption key that protects signing keys at rest.
//! - [`key`] — one signing key (ES256, EdDSA, RS256): generation, PKCS#8, public JWK, RFC 7638 kid.
//! - [`keyring`] — the active key plus the retired keys still published, and the JWKS document.
//! - [`jws`] — compact JWS signing and verification with pre-parsed keys.
//! - [`access_token`] — RFC 9068 access-token claims.
//! - [`foreign`] — verifying JWTs signed by others (client assertions) against a JWK set.
//! - [`verified_cache`] — verified tokens by hash until they expire, bounded.
//! - [`remote`] — `RemoteVerifier`: gates' local verification against trusted issuers.
//! - [`fetch`] — bounded JSON fetches (discovery, JWKS).
//! - [`remote_jwks`] — fetching and caching a `jwks_uri`.
//!
//! Signing and verifying our own tokens go straight to aws-lc-rs with keys parsed once:
//! `jsonwebtoken::encode` re-parses the PKCS#8 document on every call, which costs more than
//! the signature itself on the token endpoint's hot path. Foreign JWTs, which are rare and
//! come with arbitrary JWKs, go through `jsonwebtoken`.

pub mod access_token;
pub mod entropy;
pub mod fetch;
pub mod foreign;
pub mod jws;
pub mod kek;
pub mod key;
pub mod keyring;
pub mod remote;
pub mod remote_jwks;
pub mod secret;
pub mod strict_json;
pub mod verified_cache;

pub use access_token::{AccessTokenClaims, Audience};
pub use entropy::OsEntropy;
pub use jws::JwsError;
pub use kek::KeyEncryptionKey;
pub use key::SigningKey;
pub use keyring::{Keyring, ScheduledKey};
