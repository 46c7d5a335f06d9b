//! The PostgreSQL gate: clients present an access token instead of a database password.
//!
//! - [`protocol`] — the wire protocol, sans IO, with size limits.
//! - [`gate`] — listener → TLS → authenticate (token as password, or OAUTHBEARER) → map
//!   roles to a service account → pooled backend → identity for RLS → relay; cancel; audit.

pub mod gate;
pub mod protocol;
