//! Throwaway databases for the integration tests, and the macro that runs one test body on
//! both backends.

use std::path::Path;

use diesel::Connection;
use diesel::connection::SimpleConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A fresh database: a SQLite file in its own temp dir, or a PostgreSQL database
/// `kenpo_it_<uuid>` dropped (WITH (FORCE)) when this value is dropped. Both kinds come with a
/// temp dir that tests use as the working directory of the binary.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    dir: tempfile::TempDir,
    pg_name: Option<String>,
}

/// The server PostgreSQL test databases are created on (`KENPO_TEST_PG`, as set by
/// `scripts/test.sh` when it starts a throwaway server; otherwise the local default).
pub fn pg_admin_url() -> String {
    std::env::var("KENPO_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn pg_base() -> String {
    let admin = pg_admin_url();
    admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin)
}

fn postgres_required() -> bool {
    std::env::var("KENPO_REQUIRE_POSTGRES").is_ok_and(|v| v == "1")
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("x.db").display());
        TestDb { backend: Backend::Sqlite, url, dir, pg_name: None }
    }

    /// A new PostgreSQL database, or None after printing "PostgreSQL tests NOT run: <reason>"
    /// when no server answers (a failure instead when `KENPO_REQUIRE_POSTGRES=1`).
    pub fn postgres_or_skip() -> Option<TestDb> {
        let mut admin = match diesel::PgConnection::establish(&pg_admin_url()) {
            Ok(c) => c,
            Err(e) => {
                let reason = e.to_string().lines().next().unwrap_or("connection failed").to_string();
                if postgres_required() {
                    panic!("PostgreSQL required (KENPO_REQUIRE_POSTGRES=1) but not reachable: {reason}");
                }
                eprintln!("PostgreSQL tests NOT run: {reason}");
                return None;
            }
        };
        let name = format!("kenpo_it_{}", uuid::Uuid::new_v4().simple());
        admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("CREATE DATABASE");
        let dir = tempfile::tempdir().expect("temp dir");
        Some(TestDb { backend: Backend::Postgres, url: format!("{}/{name}", pg_base()), dir, pg_name: Some(name) })
    }

    /// A temp dir that lives as long as the database.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(name) = &self.pg_name
            && let Ok(mut admin) = diesel::PgConnection::establish(&pg_admin_url())
        {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

/// One test body, two tests: `<name>::sqlite` and `<name>::postgres`. The body is a closure
/// taking `&TestDb`.
macro_rules! both_backends {
    ($(#[$meta:meta])* $name:ident, $body:expr) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[test]
            fn sqlite() {
                let db = $crate::support::TestDb::sqlite();
                ($body)(&db);
            }

            #[test]
            fn postgres() {
                let Some(db) = $crate::support::TestDb::postgres_or_skip() else { return };
                ($body)(&db);
            }
        }
    };
}
pub(crate) use both_backends;
