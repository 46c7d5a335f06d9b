//! Ward's HTTP transport: axum handlers over `ward-oauth`, and the serving loop.
//!
//! - [`router`] — every route in one place, with its layers.
//! - [`state`] — `AppState`, what handlers share.
//! - [`error`] — `OAuthRejection`, an `OAuthError` as RFC 6749 §5.2 puts it on the wire.
//! - [`extract`] — request extractors (`OAuthForm`: content type, body limit, repeated parameters;
//!   `Browser`: cookies, CSRF, the peer address).
//! - [`handlers`] — one module per endpoint family.
//! - [`views`] — the pages: askama templates (under `templates/`) and the headers they carry.
//! - [`telemetry`] — logging set-up, request ids, access log, Prometheus metrics.
//! - [`bootstrap`] — from a `Config` to a running `AuthorizationServer` (store, migrations, key-encryption key).
//! - [`first_start`] — the `admin` user and the `ward-cli` client of a fresh installation.
//! - [`serve`] — the accept loop: header-read timeout, connection cap, graceful shutdown, background jobs.

pub mod bootstrap;
pub mod error;
pub mod extract;
pub mod first_start;
pub mod handlers;
pub mod router;
pub mod serve;
pub mod state;
pub mod telemetry;
pub mod views;

pub use bootstrap::{BootError, start_issuer};
pub use router::router;
pub use serve::Server;
pub use state::AppState;
