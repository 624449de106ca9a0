//! An IdP running in-process on 127.0.0.1:<random port>, with its own database.

use std::net::TcpListener;

use base64::Engine;
use kenpo_idp::admin::{self, clients::NewClient, users::NewUser};
use kenpo_idp::config::IdpConfig;
use kenpo_idp::state::AppState;
use kenpo_shared::secret::Secret;

use crate::TestDb;

pub struct TestIdp {
    pub base_url: String,
    pub state: AppState,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestIdp {
    pub fn start(db: &TestDb) -> TestIdp {
        Self::start_with(db, |_| {})
    }

    pub fn start_with(db: &TestDb, tweak: impl FnOnce(&mut IdpConfig)) -> TestIdp {
        Self::start_on(db, "127.0.0.1", tweak)
    }

    /// An IdP whose public URL (and `base_url`) is `http://localhost:<port>`: passkeys need a
    /// domain name as RP ID, and browsers treat `localhost` as a secure context.
    pub fn start_localhost(db: &TestDb) -> TestIdp {
        Self::start_localhost_with(db, |_| {})
    }

    pub fn start_localhost_with(db: &TestDb, tweak: impl FnOnce(&mut IdpConfig)) -> TestIdp {
        Self::start_on(db, "localhost", tweak)
    }

    /// Listens on 127.0.0.1 (`localhost` resolves there) and is known to the world as `host`.
    fn start_on(db: &TestDb, host: &str, tweak: impl FnOnce(&mut IdpConfig)) -> TestIdp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mut cfg = IdpConfig::default();
        cfg.database.url = db.url.clone();
        cfg.public_url = format!("http://{host}:{port}");
        cfg.listen = format!("127.0.0.1:{port}");
        cfg.workers = 2;
        let key: [u8; 32] = kenpo_shared::crypto::random_bytes();
        cfg.secrets.master_key = Secret::new(base64::engine::general_purpose::STANDARD.encode(key));
        tweak(&mut cfg);
        let state = kenpo_idp::server::build_state(cfg).expect("IdP state");
        let (tx, rx) = std::sync::mpsc::channel();
        let st = state.clone();
        let thread = std::thread::spawn(move || {
            let sys = actix_web::rt::System::new();
            sys.block_on(async move {
                let server = kenpo_idp::server::run(st, listener).expect("server");
                let _ = tx.send(server.handle());
                let _ = server.await;
            });
        });
        let handle = rx.recv().expect("server handle");
        TestIdp { base_url: format!("http://{host}:{port}"), state, handle, thread: Some(thread) }
    }

    pub fn issuer(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.base_url)
    }

    /// A new realm with a confidential client and one member, named uniquely for this test.
    pub fn seed(&self) -> Fixture {
        self.seed_with(|_| {})
    }

    pub fn seed_with(&self, tweak: impl FnOnce(&mut NewClient)) -> Fixture {
        let suffix = &uuid::Uuid::new_v4().simple().to_string()[..10];
        let realm = format!("t{suffix}");
        let st = &self.state;
        admin::realms::create(&st.store, &st.keys, &realm, Some("テスト健保組合")).expect("realm");
        // Tests log in many times: the minimal hash keeps them fast; the default is tested apart.
        admin::realms::set(&st.store, &realm, &["password.hash=argon2id-min".to_string()]).expect("realm set");
        let secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
        let redirect_uri = "http://127.0.0.1:9/callback".to_string();
        let mut client = NewClient {
            realm: realm.clone(),
            client_id: "rp1".into(),
            redirect_uris: vec![redirect_uri.clone()],
            secret: Some(secret.clone()),
            post_logout_redirect_uris: vec!["http://127.0.0.1:9/bye".into()],
            ..Default::default()
        };
        tweak(&mut client);
        let client_id = client.client_id.clone();
        admin::clients::create(&st.store, client).expect("client");
        let fixture = Fixture {
            realm,
            client_id,
            client_secret: secret,
            redirect_uri,
            username: "member01".into(),
            password: "Correct-Horse-42".into(),
        };
        self.add_member(&fixture, &fixture.username, &fixture.password, Some("member01@example.jp"));
        fixture
    }

    pub fn add_member(&self, f: &Fixture, username: &str, password: &str, email: Option<&str>) {
        let st = &self.state;
        admin::users::create(
            &st.store,
            &st.pages,
            NewUser {
                realm: f.realm.clone(),
                username: username.into(),
                password: Secret::new(password),
                email: email.map(str::to_string),
                email_verified: true,
                birthdate: Some("19790822".into()),
                family_name: Some("健保".into()),
                given_name: Some("太郎".into()),
                family_kana: Some("ケンポ".into()),
                given_kana: Some("タロウ".into()),
                insurer_number: Some("06139999".into()),
                card_symbol: Some("1234".into()),
                card_number: Some("56".into()),
                ..Default::default()
            },
        )
        .expect("member");
    }
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        let h = self.handle.clone();
        // Stop without waiting on the async side; the thread ends when the server has stopped.
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

/// What a test needs to act as a relying party and a member.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub realm: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub username: String,
    pub password: String,
}
