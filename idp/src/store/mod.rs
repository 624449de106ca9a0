//! The IdP's storage: one portable schema, repositories by aggregate (free functions over
//! `&mut AnyConnection`), migrations embedded per backend.
//!
//! Prepared statements: diesel keeps a statement prepared only when its SQL text cannot vary.
//! Row structs are therefore `Insertable` with `treat_none_as_default_value = false` (a `None`
//! is bound as NULL instead of writing `DEFAULT` into the SQL; no column has a default), so
//! that PostgreSQL does not parse and plan every INSERT of a login again.

pub mod audit;
pub mod backchannel;
pub mod clients;
pub mod factors;
pub mod failures;
pub mod flows;
pub mod grants;
pub mod keys;
pub mod mail;
pub mod maintenance;
pub mod realms;
pub mod schema;
pub mod sessions;
pub mod terms;
pub mod users;
pub mod verifications;

use chrono::NaiveDateTime;
use diesel_migrations::{EmbeddedMigrations, embed_migrations};
pub use kenpo_shared::db::{AnyConnection, DbUrl, Migrations, PoolOptions, SpendOnce, Store, StoreError, write_tx};

const POSTGRES: EmbeddedMigrations = embed_migrations!("../migrations/idp/postgres");
const SQLITE: EmbeddedMigrations = embed_migrations!("../migrations/idp/sqlite");

pub const MIGRATIONS: Migrations = Migrations { postgres: || POSTGRES, sqlite: || SQLITE, lock_key: 7_240_001 };

/// Opens the IdP database and applies pending migrations.
pub fn open(url: &str) -> Result<Store, StoreError> {
    open_with(url, 0)
}

/// As `open`, with a pool size (0 = the default for the backend and the machine).
pub fn open_with(url: &str, max_connections: u32) -> Result<Store, StoreError> {
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

/// A key for rows written on every login (grants, audit events): time-ordered (UUID v7), so
/// that inserts append to the end of the key's b-tree instead of touching a random page of an
/// ever-growing index. Not for anything that must be unguessable (it carries its creation time
/// and 74 random bits): those are hashes of random tokens.
pub fn new_ordered_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub(crate) fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) fn from_json<T: serde::de::DeserializeOwned>(what: &str, s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}
