//! Ward's one typed configuration.
//!
//! - [`model`] — the `Config` tree (serde, `deny_unknown_fields`) and its defaults.
//! - [`gate`] — gates and the issuers they trust.
//! - [`secret`] — `Secret` and `DatabaseUrl`, which never print what they hold.
//! - [`load`] — defaults < `ward.toml` < `WARD_*` environment < command-line flags.
//! - [`validate`] — checks that cross fields, run after loading.

pub mod gate;
pub mod load;
pub mod model;
pub mod secret;
pub mod validate;

pub use gate::{GateConfig, PostgresGateConfig, TrustConfig};
pub use load::{ConfigError, Overrides, load};
pub use model::{ClaimNames, Config, HttpConfig, LogConfig, LogFormat, SignInConfig, TokenConfig};
pub use secret::{DatabaseUrl, Secret};
