use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("already exists: {0}")]
    Conflict(String),
    #[error(
        "the database schema is at version {found}, newer than this ward binary understands (up to {supported}); run a newer ward"
    )]
    SchemaTooNew { found: i64, supported: i64 },
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A failure shared by several requests (a group commit), as text.
    #[error("database error: {0}")]
    Shared(String),
    #[error("database file: {0}")]
    File(#[from] std::io::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return Self::Conflict(db.message().to_owned());
        }
        Self::Database(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;
