//! What every gate shares, whatever protocol it speaks: who to trust, who the caller is and
//! which backend account serves them, how clients are accepted, TLS both ways, audit and
//! refusal vocabulary, and the watchers that end a session.
//!
//! - [`trust`] — `[[trust]]` entries → `TrustPolicy` (the token → identity half is `ward-token`).
//! - [`mapping`] — token roles → a backend account, first matching rule.
//! - [`claims`] — claims → named values, and `{claim}` templates.
//! - [`listener`] — the accept loop: client permits, busy refusal, one task per client.
//! - [`threads`] — a gate on threads of its own, one `SO_REUSEPORT` listener each.
//! - [`tls`] — the gate's certificate, and TLS toward upstreams with libpq's `sslmode` meanings.
//! - [`stream`] — sockets that may have been upgraded to TLS, either way.
//! - [`audit`] — the audit trail: one typed event schema for every gate.
//! - [`refusal`] — why a client was turned away, for metrics and audit.
//! - [`watch`] — token expiry and client idleness.
//! - [`error`] — what can go wrong building a gate.
//!
//! Never the store, the issuer or a specific gate: `ward-pg` and the gates after it build on
//! this crate, not on one another.

pub mod audit;
pub mod claims;
pub mod error;
pub mod listener;
pub mod mapping;
pub mod refusal;
pub mod stream;
pub mod threads;
pub mod tls;
pub mod trust;
pub mod watch;

pub use audit::AuditEvent;
pub use error::GateError;
pub use listener::{RunningGate, Service};
pub use refusal::RefusalReason;
