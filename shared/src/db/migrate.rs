use diesel::connection::SimpleConnection;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness};

use super::{AnyConnection, StoreError};

/// The two migration trees of one app (`migrations/<app>/{postgres,sqlite}`), embedded by the app.
pub struct Migrations {
    pub postgres: fn() -> EmbeddedMigrations,
    pub sqlite: fn() -> EmbeddedMigrations,
    /// Advisory-lock key so that replicas starting together migrate one at a time.
    pub lock_key: i64,
}

/// Applies every pending migration. Safe to call from several processes at once.
pub fn migrate(c: &mut AnyConnection, m: &Migrations) -> Result<usize, StoreError> {
    match c {
        AnyConnection::Postgres(pg) => {
            pg.batch_execute(&format!("SELECT pg_advisory_lock({})", m.lock_key))?;
            let r = pg.run_pending_migrations((m.postgres)()).map(|v| v.len());
            pg.batch_execute(&format!("SELECT pg_advisory_unlock({})", m.lock_key))?;
            r.map_err(|e| StoreError::Migration(e.to_string()))
        }
        AnyConnection::Sqlite(s) => {
            s.batch_execute("PRAGMA journal_mode = WAL;")?;
            s.run_pending_migrations((m.sqlite)()).map(|v| v.len()).map_err(|e| StoreError::Migration(e.to_string()))
        }
    }
}
