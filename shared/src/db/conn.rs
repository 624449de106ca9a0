use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};

use super::{DbUrl, StoreError};

/// One connection type for both backends, so every query is written once.
#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

impl AnyConnection {
    /// Opens a connection for a parsed URL. Chosen by scheme, never by trial (diesel's derived
    /// `establish` tries each backend in turn and hides the real error).
    pub fn open(url: &DbUrl) -> Result<Self, StoreError> {
        match url {
            // libpq waits for the OS's TCP timeout (minutes) on a host that does not answer;
            // a connection thread stuck that long serves nobody. The URL's own value wins.
            DbUrl::Postgres(u) => PgConnection::establish(&super::url::with_default_param(u, "connect_timeout", "10"))
                .map(AnyConnection::Postgres)
                .map_err(|e| StoreError::Unavailable(redact_conn_error(&e.to_string()))),
            DbUrl::Sqlite(p) => {
                if let Some(dir) = p.parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| StoreError::Unavailable(format!("{}: {e}", dir.display())))?;
                }
                let mut c = SqliteConnection::establish(&p.to_string_lossy())
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                // Per-connection settings; WAL is persistent and set once at migration time.
                // journal_size_limit: under steady readers a checkpoint rarely restarts the WAL,
                // so the file only grows (run-memory.sh saw ~12 KB per login); the limit
                // truncates it back to 64 MiB whenever a checkpoint does reset it.
                // wal_autocheckpoint: checkpoints run on the store's own thread
                // (`checkpoint.rs`); the automatic one only stops the WAL from growing past
                // 64 MiB when that thread falls behind (or for connections outside a store).
                c.batch_execute(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; PRAGMA synchronous = NORMAL; \
                     PRAGMA journal_size_limit = 67108864; PRAGMA wal_autocheckpoint = 16384;",
                )?;
                Ok(AnyConnection::Sqlite(c))
            }
        }
    }

    pub fn is_sqlite(&self) -> bool {
        matches!(self, AnyConnection::Sqlite(_))
    }

    /// Runs raw SQL (no bind values) on whichever backend this is.
    pub fn execute_raw(&mut self, sql: &str) -> Result<(), StoreError> {
        match self {
            AnyConnection::Postgres(c) => c.batch_execute(sql)?,
            AnyConnection::Sqlite(c) => c.batch_execute(sql)?,
        }
        Ok(())
    }
}

fn redact_conn_error(msg: &str) -> String {
    // libpq errors can echo the connection string; keep only the first line and no password.
    msg.lines().next().unwrap_or("connection failed").replace("password", "pw")
}
