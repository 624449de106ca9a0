//! Throwaway databases: a temp SQLite file, or a fresh PostgreSQL database dropped afterwards.

use diesel::Connection;
use diesel::connection::SimpleConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

/// The server every PostgreSQL test database is created on.
pub fn pg_admin_url() -> String {
    std::env::var("KENPO_TEST_PG").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn pg_base() -> String {
    let admin = pg_admin_url();
    admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin)
}

impl TestDb {
    pub fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("test.db").display());
                TestDb { backend, url, _dir: Some(dir), pg_name: None }
            }
            Backend::Postgres => {
                let name = format!("kenpo_t_{}", uuid::Uuid::new_v4().simple());
                let mut admin = diesel::PgConnection::establish(&pg_admin_url()).expect("PostgreSQL reachable");
                admin.batch_execute(&format!("CREATE DATABASE {name}")).expect("create test database");
                TestDb { backend, url: format!("{}/{name}", pg_base()), _dir: None, pg_name: Some(name) }
            }
        }
    }

    /// A PostgreSQL database, or None (with a clear line) when none is reachable and the run
    /// does not require one.
    pub fn postgres_or_skip() -> Option<TestDb> {
        match diesel::PgConnection::establish(&pg_admin_url()) {
            Ok(_) => Some(TestDb::new(Backend::Postgres)),
            Err(e) => {
                if std::env::var("KENPO_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    panic!("PostgreSQL required (KENPO_REQUIRE_POSTGRES=1) but not reachable: {e}");
                }
                eprintln!("PostgreSQL tests NOT run: {e}");
                None
            }
        }
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
