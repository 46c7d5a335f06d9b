//! Ward's pure domain: the vocabulary every other crate speaks, with no IO.
//!
//! - [`alg`] — `SigningAlg`, the JWS algorithms Ward signs with; `VerifyAlg`, those it accepts.
//! - [`scope`] — `Scope` and `ScopeSet` (RFC 6749 §3.3 syntax).
//! - [`client`] — client types, grant types and token endpoint authentication methods.
//! - [`redirect_uri`] — validated redirect URIs for client registration.
//! - [`error`] — `OAuthError`, the RFC 6749 §5.2 error codes and friends.
//! - [`clock`] — `Clock` so tests control time.
//! - [`entropy`] — `Entropy` so tests control randomness.
//! - [`grant`] — `GrantRequest`, what a caller asks the token endpoint for.
//! - [`pkce`] — PKCE `S256` challenges and verifiers (RFC 7636).
//! - [`loopback`] — which URLs point at this machine.
//! - [`hex`] — lower-case hex.
//! - [`sync`] — the one policy for poisoned locks.

pub mod alg;
pub mod client;
pub mod clock;
pub mod entropy;
pub mod error;
pub mod grant;
pub mod hex;
pub mod loopback;
pub mod pkce;
pub mod redirect_uri;
pub mod scope;
pub mod sync;

pub use alg::{SigningAlg, VerifyAlg};
pub use client::{ClientType, GrantType, TokenEndpointAuthMethod};
pub use clock::{Clock, ManualClock, SystemClock, UnixTime};
pub use entropy::Entropy;
pub use error::{Description, OAuthError, OAuthErrorCode, is_error_description_text};
pub use grant::GrantRequest;
pub use pkce::CodeChallenge;
pub use redirect_uri::RedirectUri;
pub use scope::{Scope, ScopeSet};
