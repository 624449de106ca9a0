//! The portal's storage: its own database (SQLite or PostgreSQL, chosen by URL), one portable
//! schema, repositories as free functions over `&mut AnyConnection`, migrations embedded per
//! backend. Nothing here knows the IdP's tables.

pub mod logins;
pub mod notices;
pub mod results;
pub mod schema;
pub mod sessions;

use chrono::NaiveDateTime;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
pub use kenpo_shared::db::{AnyConnection, DbUrl, Migrations, PoolOptions, Store, StoreError, write_tx};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/portal/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/portal/sqlite");

pub const MIGRATIONS: Migrations = Migrations { postgres: || POSTGRES, sqlite: || SQLITE, lock_key: 7_240_101 };

/// Opens the portal database and applies pending migrations.
pub fn open(url: &str, max_connections: u32) -> Result<Store, StoreError> {
    let url = DbUrl::parse(url)?;
    let mut opts = PoolOptions::for_url(&url);
    if max_connections > 0 {
        opts.max_connections = max_connections;
    }
    Store::open(&url, opts, &MIGRATIONS)
}

/// The current instant in UTC, truncated to microseconds so that it survives a round trip
/// through either backend unchanged.
pub fn now() -> NaiveDateTime {
    let n = chrono::Utc::now().naive_utc();
    let micros = n.and_utc().timestamp_micros();
    chrono::DateTime::from_timestamp_micros(micros).map(|d| d.naive_utc()).unwrap_or(n)
}

pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Removes expired sessions and abandoned logins; returns how many rows went.
pub fn sweep(c: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, StoreError> {
    write_tx(c, |c| Ok(sessions::delete_expired(c, now)? + logins::delete_expired(c, now)?))
}
