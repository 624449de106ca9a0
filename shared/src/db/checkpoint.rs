//! SQLite WAL checkpoints on a thread of their own.
//!
//! With SQLite's automatic checkpoints the connection that commits the 1,000th (here: 8,000th)
//! page copies the WAL into the database file and syncs it, while the request that committed
//! waits, and with it every request queued behind the store's lock: tens of milliseconds at
//! a time. This thread does the same work with `PRAGMA wal_checkpoint(PASSIVE)`, which never
//! blocks readers or writers, twice a second. The connections of the pool keep an automatic
//! checkpoint only as a backstop (see `conn.rs`) for when this thread cannot keep up.

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use diesel::connection::SimpleConnection;

use super::{AnyConnection, DbUrl};

const INTERVAL: Duration = Duration::from_millis(500);

/// Owns the checkpoint thread: dropping it (with the last clone of the store) stops the thread.
pub struct Checkpointer {
    _stop: mpsc::Sender<()>,
}

impl Checkpointer {
    pub fn start(path: PathBuf) -> Checkpointer {
        let (stop, stopped) = mpsc::channel::<()>();
        let spawned = std::thread::Builder::new().name("sqlite-checkpoint".into()).spawn(move || {
            // Opened lazily: the store may be dropped (a short CLI command) before the first tick.
            let mut conn: Option<AnyConnection> = None;
            // The sender is never used: a disconnect (store dropped) ends the loop.
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(INTERVAL) {
                if conn.is_none() {
                    conn = AnyConnection::open(&DbUrl::Sqlite(path.clone())).ok();
                }
                if let Some(AnyConnection::Sqlite(c)) = conn.as_mut()
                    && let Err(e) = c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)")
                {
                    tracing::warn!(error = %e, "SQLite checkpoint failed; retrying");
                    conn = None;
                }
            }
        });
        if let Err(e) = spawned {
            // Without the thread the connections' automatic checkpoint (the backstop) still runs.
            tracing::warn!(error = %e, "SQLite checkpoint thread not started");
        }
        Checkpointer { _stop: stop }
    }
}
