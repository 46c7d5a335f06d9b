//! Test fixtures that use the real thing.
//!
//! - [`oidc`] — `FakeIssuer`, any OIDC issuer's tokens with any claims.
//! - [`gate`] — the PostgreSQL gate's fixtures: a SCRAM cluster with service accounts and RLS, and `TestGate`.
//! - [`pg`] — fresh PostgreSQL databases, on a given server or a throwaway cluster.
//! - [`redis`] — a Redis server: the given one, or a throwaway `redis-server`.
//! - [`issuer`] — `TestIssuer`, the real HTTP server in-process on port 0.
//! - [`browser`] — `HttpBrowser`: cookies, forms and redirects, for the sign-in flows over HTTP.
//! - [`chromium`] — headless Chromium over WebDriver, and a loopback callback server.
//! - [`store`] — a migrated `SqlStore` on SQLite or PostgreSQL, for the store's own suite.

pub mod browser;
pub mod chromium;
pub mod gate;
pub mod issuer;
pub mod oidc;
pub mod pg;
pub mod redis;
pub mod store;

pub use browser::{HttpBrowser, Page};
pub use issuer::{TestClient, TestIssuer, confidential, pkce, web_client};
pub use pg::TestDatabase;
pub use store::{StoreBackend, TestStore};

/// Runs each named `async fn(StoreBackend) -> anyhow::Result<()>` as two tests, one per
/// storage backend: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() -> anyhow::Result<()> { super::$name($crate::StoreBackend::Sqlite).await } )+
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() -> anyhow::Result<()> { super::$name($crate::StoreBackend::Postgres).await } )+
        }
    };
}
