//! PostgreSQL connections of a running store (`kenpo_shared::db::pg_workers`): a connection
//! the server dropped (restart, failover, an operator's `pg_terminate_backend`) costs the
//! request that meets it, not every request after; a request that cannot get a connection in
//! time gets an error instead of waiting for ever. SQLite has no connections to lose.

use std::time::Duration;

use diesel::Connection;
use diesel::connection::SimpleConnection;

use kenpo_idp::store::{self, AnyConnection, DbUrl, PoolOptions, Store, StoreError};

use crate::support::{TestDb, pg_admin_url};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

fn database_name(url: &str) -> String {
    url.rsplit('/').next().expect("database name").to_string()
}

/// Ends every server process serving `db` (what a PostgreSQL restart does to a client).
fn terminate_backends(db: &str) {
    let mut admin = diesel::PgConnection::establish(&pg_admin_url()).expect("admin connection");
    admin
        .batch_execute(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = '{db}' AND pid <> pg_backend_pid()"
        ))
        .expect("terminate backends");
}

async fn select_one(st: &Store) -> Result<(), StoreError> {
    st.run(|c: &mut AnyConnection| c.execute_raw("SELECT 1")).await
}

#[test]
fn a_dropped_connection_fails_one_request_and_the_next_reconnects() {
    let Some(db) = TestDb::postgres_or_skip() else { return };
    // One connection, so the test knows which thread meets the dropped connection.
    let st = store::open_with(&db.url, 1).expect("open");
    runtime().block_on(async {
        select_one(&st).await.expect("first query");
        terminate_backends(&database_name(&db.url));
        // The server closes the socket asynchronously; the first query after it fails.
        let mut failures = 0;
        while select_one(&st).await.is_err() {
            failures += 1;
            assert!(failures <= 2, "the store did not reconnect after {failures} failed requests");
        }
        for n in 0..20 {
            select_one(&st).await.unwrap_or_else(|e| panic!("query {n} after reconnecting: {e}"));
        }
        // Writes work on the new connection too.
        st.run(|c| c.execute_raw("CREATE TEMP TABLE t (x int); INSERT INTO t VALUES (1)")).await.expect("write");
    });
}

/// A request that could not start within the acquire timeout is told so, and its change is
/// never applied afterwards (no ghost write behind an error page).
#[test]
fn a_request_that_waits_past_the_acquire_timeout_gets_an_error_and_never_runs() {
    let Some(db) = TestDb::postgres_or_skip() else { return };
    store::open(&db.url).expect("migrate");
    let url = DbUrl::parse(&db.url).expect("url");
    let opts = PoolOptions { max_connections: 1, acquire_timeout: Duration::from_millis(200) };
    let st = Store::open_without_migrating(&url, opts).expect("open");
    runtime().block_on(async {
        // The only connection is busy for two seconds; the second request waits in the queue.
        // It is told so when its timeout passes, not when the connection comes free.
        let busy = st.run(|c| c.execute_raw("SELECT pg_sleep(2)"));
        let waiting = st.run(|c| c.execute_raw("CREATE TABLE late (x int)"));
        tokio::pin!(busy, waiting);
        // `biased`: polled in this order, so the busy query is queued first.
        let waited = tokio::select! {
            biased;
            b = &mut busy => panic!("the busy query ended first ({b:?}): the waiting one was not timed out"),
            w = &mut waiting => w,
        };
        busy.await.expect("the slow query itself succeeds");
        match waited {
            Err(StoreError::Unavailable(m)) => assert!(m.contains("timed out"), "{m}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        // The queue works on afterwards, and the abandoned write did not happen.
        st.run(|c| c.execute_raw("CREATE TABLE late (x int)")).await.expect("the timed-out CREATE never ran");
    });
}
