//! Test harness shared by the end-to-end tests: throwaway databases on both backends, an IdP
//! started in-process on a random localhost port, seeded realms/clients/members made through
//! the same admin functions as the CLI, a browser-like HTTP client with a cookie jar, and a real
//! headless Chromium driven over the DevTools protocol (`chrome`) for JavaScript and WebAuthn.

pub mod browser;
pub mod chrome;
pub mod db;
pub mod idp;
pub mod portal;
pub mod smtp;
pub mod softkey;

pub use browser::Browser;
pub use db::{Backend, TestDb};
pub use idp::{Fixture, TestIdp};

/// Generates one test per backend from one async body taking a `TestDb`.
///
/// ```ignore
/// dual_backend_test!(login_works, |db| async move { ... });
/// ```
/// expands to `login_works::sqlite` and `login_works::postgres`. The PostgreSQL variant fails
/// when PostgreSQL is required (`KENPO_REQUIRE_POSTGRES=1`, set by the test command) and not
/// reachable; otherwise it prints "PostgreSQL tests NOT run" and returns.
#[macro_export]
macro_rules! dual_backend_test {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::TestDb::new($crate::Backend::Sqlite);
                ($body)(db).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let Some(db) = $crate::TestDb::postgres_or_skip() else { return };
                ($body)(db).await;
            }
        }
    };
}
