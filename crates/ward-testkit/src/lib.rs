//! Test fixtures that use the real thing.
//!
//! - [`pg`]: fresh PostgreSQL databases, on a given server or a throwaway cluster.
//! - [`store`]: a migrated `SqlStore` on SQLite or PostgreSQL, for the store's own suite.

pub mod pg;
pub mod store;

pub use pg::TestDatabase;
pub use store::{StoreBackend, TestStore};
