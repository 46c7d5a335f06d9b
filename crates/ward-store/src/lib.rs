//! Ward's storage: capability traits and one SQL implementation that runs on SQLite and
//! PostgreSQL through sqlx's `Any` driver, with `$1` placeholders and integer times and flags.
//!
//! - [`db`] — `SqlStore`, connecting, pools (SQLite: one writer, several readers), health.
//! - [`migrate`] — the schema version table and one migration set per backend.
//! - [`clients`] — `ClientStore` and `ClientRecord`.
//! - [`scopes`] — `ScopeStore`.
//! - [`keys`] — `KeyStore`, sealed signing keys and rotation.
//! - [`revocations`] — `RevocationStore`, revoked access-token `jti`s.
//! - [`users`] — `UserStore`, people who sign in.
//! - [`grants`] — `GrantStore`: grants (the `sid` of tokens) and their refresh tokens.
//! - [`codes`] — `CodeStore`: authorization codes and pushed authorization requests.
//! - [`devices`] — `DeviceStore`: device codes (RFC 8628).
//! - [`sessions`] — `SessionStore`: browser sessions and remembered consent.
//! - [`replay`] — `ReplayStore`, client-assertion `jti`s seen once.
//! - [`error`] — `StoreError`.
//!
//! Whatever must hold across nodes is decided here by the database — a unique key or a
//! conditional statement — never by one node's memory.

pub mod clients;
pub mod codes;
pub mod db;
pub mod devices;
pub mod error;
pub mod grants;
mod group_commit;
pub mod keys;
pub mod migrate;
pub mod replay;
pub mod revocations;
pub mod scopes;
pub mod sessions;
pub mod users;

pub use clients::{ClientRecord, ClientStore, SignInPolicy};
pub use codes::{CodeRecord, CodeStore, PushedRequest, Redemption};
pub use db::{Backend, SqlStore};
pub use devices::{DeviceCode, DeviceStatus, DeviceStore};
pub use error::StoreError;
pub use grants::{GrantRecord, GrantStore, NewRefreshToken, RefreshTokenRecord, SubjectKind};
pub use keys::{KeyStore, StoredKey};
pub use replay::ReplayStore;
pub use revocations::RevocationStore;
pub use scopes::{ScopeRecord, ScopeStore};
pub use sessions::{BrowserSession, SessionStore};
pub use users::{UserRecord, UserStore};
