//! Storage plumbing shared by the IdP and the portal: one connection type that is either
//! PostgreSQL or SQLite (chosen at run time from the URL), a bounded pool, the single write
//! transaction helper, and embedded migrations.

mod batch;
mod checkpoint;
mod conn;
mod migrate;
mod pg_workers;
mod pool;
mod spend;
mod tx;
mod url;

pub use batch::{BatchedLookup, LoadMany};
pub use conn::AnyConnection;
pub use migrate::{Migrations, migrate};
pub use pool::{PoolOptions, Store};
pub use spend::SpendOnce;
pub use tx::write_tx;
pub use url::DbUrl;

/// Errors of the storage layer. `NotFound` is only ever a real miss; outages are `Unavailable`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict on {0}")]
    Conflict(String),
    #[error("stale write")]
    Stale,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("migration failed: {0}")]
    Migration(String),
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for StoreError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => StoreError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
                StoreError::Conflict(info.constraint_name().unwrap_or(info.message()).to_string())
            }
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => {
                StoreError::Unavailable(info.message().to_string())
            }
            other => StoreError::Db(other),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl StoreError {
    /// True when the error says a unique constraint was hit (e.g. a duplicate user ID).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict(_))
    }
}
