use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};

use super::{AnyConnection, StoreError};

/// The only way to write. On SQLite the transaction starts with `BEGIN IMMEDIATE`, which takes
/// the write lock up front: a deferred transaction that upgrades from read to write fails with
/// SQLITE_BUSY under concurrent writers instead of waiting on the busy timeout.
pub fn write_tx<T>(
    c: &mut AnyConnection,
    f: impl FnOnce(&mut AnyConnection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    match c {
        AnyConnection::Sqlite(s) => AnsiTransactionManager::begin_transaction_sql(s, "BEGIN IMMEDIATE")?,
        AnyConnection::Postgres(p) => AnsiTransactionManager::begin_transaction(p)?,
    }
    let result = f(c);
    match result {
        Ok(v) => {
            let committed = match c {
                AnyConnection::Sqlite(s) => AnsiTransactionManager::commit_transaction(s),
                AnyConnection::Postgres(p) => AnsiTransactionManager::commit_transaction(p),
            };
            committed?;
            Ok(v)
        }
        Err(e) => {
            let _ = match c {
                AnyConnection::Sqlite(s) => AnsiTransactionManager::rollback_transaction(s),
                AnyConnection::Postgres(p) => AnsiTransactionManager::rollback_transaction(p),
            };
            Err(e)
        }
    }
}

/// Silences "unused" on the Connection import for backends where only the trait is needed.
#[allow(dead_code)]
fn _assert_connection<C: Connection>() {}
