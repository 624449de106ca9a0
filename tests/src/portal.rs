//! The member portal running in-process on 127.0.0.1:<random port>, with its own database
//! (same backend as the test's), registered as a confidential client in a realm of a
//! `TestIdp`. It knows that IdP only by its issuer URL, as in production.

use std::net::TcpListener;

use kenpo_idp::admin::{self, clients::NewClient, users::NewUser};
use kenpo_portal::config::PortalConfig;
use kenpo_portal::state::AppState;
use kenpo_shared::secret::Secret;

use crate::browser::{Browser, Page};
use crate::{Fixture, TestDb, TestIdp};

pub const PORTAL_CLIENT_ID: &str = "kenpo-portal";

pub struct TestPortal {
    pub base_url: String,
    pub state: AppState,
    pub idp_base: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    _db: TestDb,
}

/// A member's insurance card and birthdate, as the IdP releases them.
pub struct Card<'a> {
    pub insurer_number: &'a str,
    pub card_symbol: &'a str,
    pub card_number: &'a str,
    /// YYYYMMDD
    pub birthdate: &'a str,
}

impl TestPortal {
    /// A portal for `f.realm`, with the demo results loaded (they belong to the card every
    /// `TestIdp::add_member` member has: 06139999 / 1234 / 56 / 1979-08-22).
    pub fn start(backend_of: &TestDb, idp: &TestIdp, f: &Fixture) -> TestPortal {
        Self::start_with(backend_of, idp, f, |_| {})
    }

    pub fn start_with(
        backend_of: &TestDb,
        idp: &TestIdp,
        f: &Fixture,
        tweak: impl FnOnce(&mut PortalConfig),
    ) -> TestPortal {
        let db = TestDb::new(backend_of.backend);
        // Bind first: the callback URL registered at the IdP needs the port.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let base_url = format!("http://127.0.0.1:{port}");
        let secret = format!("portal-{}", uuid::Uuid::new_v4().simple());
        admin::clients::create(
            &idp.state.store,
            NewClient {
                realm: f.realm.clone(),
                client_id: PORTAL_CLIENT_ID.into(),
                redirect_uris: vec![format!("{base_url}/callback")],
                secret: Some(secret.clone()),
                post_logout_redirect_uris: vec![format!("{base_url}/")],
                backchannel_logout_uri: Some(format!("{base_url}/backchannel-logout")),
                ..Default::default()
            },
        )
        .expect("portal client");
        let mut cfg = PortalConfig::default();
        cfg.database.url = db.url.clone();
        cfg.listen = format!("127.0.0.1:{port}");
        cfg.public_url = base_url.clone();
        cfg.oidc.issuer = idp.issuer(&f.realm);
        cfg.oidc.client_id = PORTAL_CLIENT_ID.into();
        cfg.oidc.client_secret = Secret::new(secret);
        cfg.workers = 2;
        cfg.dev = true;
        // Most portal tests are about other things than the second factor the portal asks for
        // by default; `portal_defaults_require_a_second_factor…` tests the default.
        cfg.results.require_second_factor = false;
        cfg.results.acr_values = String::new();
        tweak(&mut cfg);
        let state = AppState::build(cfg).expect("portal state");
        kenpo_portal::admin::load_demo(&state.store, &state.reference).expect("demo results");
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(async move {
                let server = kenpo_portal::server::run(st, listener).expect("portal server");
                let _ = tx.send(server.handle());
                let _ = server.await;
            });
        });
        let handle = rx.recv().expect("server handle");
        TestPortal { base_url, state, idp_base: idp.base_url.clone(), handle, thread: Some(thread), _db: db }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Runs SQL on the portal's database (tests age sessions this way).
    pub fn sql(&self, sql: &str) {
        self.state.store.run_sync(|c| c.execute_raw(sql)).expect("sql");
    }

    /// From a portal URL that redirects to the IdP, through the IdP's login form (when it
    /// shows one) back to the portal's callback, and on to the first portal page.
    pub async fn login_via(&self, b: &Browser, start: &str, username: &str, password: &str) -> Page {
        let to_idp = b.follow(b.get(&self.url(start)).await, &format!("{}/", self.base_url)).await;
        let idp_url = to_idp.location.clone().expect("redirect to the IdP");
        self.login_at_idp(b, &idp_url, username, password).await
    }

    /// Given the IdP authorization URL: log in there (if asked) and follow back to the portal.
    pub async fn login_at_idp(&self, b: &Browser, idp_url: &str, username: &str, password: &str) -> Page {
        let idp_root = format!("{}/", self.idp_base);
        let mut page = b.follow(b.get(idp_url).await, &idp_root).await;
        if page.status == 200 {
            let done = b.submit_login(&page, username, password, &[]).await;
            page = b.follow(done, &idp_root).await;
        }
        let callback =
            page.location.clone().unwrap_or_else(|| panic!("IdP did not redirect back: {} {}", page.status, page.body));
        assert!(callback.starts_with(&self.base_url), "back to the portal: {callback}");
        b.follow(b.get(&callback).await, &format!("{}/", self.base_url)).await
    }

    /// Follows portal-internal redirects from `path`.
    pub async fn open(&self, b: &Browser, path: &str) -> Page {
        b.follow(b.get(&self.url(path)).await, &format!("{}/", self.base_url)).await
    }
}

/// A member with their own insurance card in the fixture's realm.
pub fn add_member_with_card(idp: &TestIdp, f: &Fixture, username: &str, password: &str, card: &Card<'_>) {
    let st = &idp.state;
    admin::users::create(
        &st.store,
        &st.pages,
        NewUser {
            realm: f.realm.clone(),
            username: username.into(),
            password: Secret::new(password),
            email: Some(format!("{username}@example.jp")),
            email_verified: true,
            birthdate: Some(card.birthdate.into()),
            family_name: Some("保険".into()),
            given_name: Some("花子".into()),
            family_kana: Some("ホケン".into()),
            given_kana: Some("ハナコ".into()),
            insurer_number: Some(card.insurer_number.into()),
            card_symbol: Some(card.card_symbol.into()),
            card_number: Some(card.card_number.into()),
            ..Default::default()
        },
    )
    .expect("member");
}

impl Drop for TestPortal {
    fn drop(&mut self) {
        let h = self.handle.clone();
        std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(h.stop(false));
        })
        .join()
        .ok();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
