//! Passkeys over HTTP (SPEC §5 生体認証): enrolment at first login, the passkey step after the
//! password, passwordless sign-in, and every refusal — driven by a software authenticator that
//! answers the options the pages carry, in the shape `webauthn.js` posts. The IdP runs as
//! `http://localhost:<port>`: WebAuthn needs a domain name as RP ID.

use crate::common::*;
use kenpo_e2e::browser::Page;
use kenpo_e2e::softkey::{SoftKey, page_options};
use kenpo_e2e::{Browser, Fixture, TestIdp, dual_backend_test};
use kenpo_idp::admin;

const REGISTER_TITLE: &str = "セキュリティキーの登録";
const ERROR_TITLE: &str = "セキュリティキー・エラー";
const FAILED: &str = "セキュリティキーの登録結果が無効です。";
const RETRY: &str = "再試行してください";
const NAME_EMPTY: &str = "デバイス名を入力してください。";
const NAME_TAKEN: &str = "このデバイス名は既に使われています。別のデバイス名を入力してください。";
const CLONED: &str = "このセキュリティキーは使用できません。複製された可能性があります。";
const FACTOR_LOCKED: &str = "認証に連続して失敗したため";
const LOGIN_FORM: &str = "data-webauthn=\"login\"";
const REGISTER_FORM: &str = "data-webauthn=\"register\"";
const CONDITIONAL_FORM: &str = "data-webauthn=\"conditional\"";

fn set(idp: &TestIdp, f: &Fixture, settings: &[&str]) {
    let list: Vec<String> = settings.iter().map(|s| s.to_string()).collect();
    admin::realms::set(&idp.state.store, &f.realm, &list).expect("realm set");
    // The IdP caches realms for a few seconds; this test wants the change now.
    idp.state.forget_realm(&f.realm);
}

fn member_id(idp: &TestIdp, f: &Fixture, username: &str) -> String {
    idp.state
        .store
        .run_sync(|c| {
            let realm = kenpo_idp::store::realms::find_by_name(c, &f.realm)?.expect("realm");
            kenpo_idp::store::users::find_by_username(c, &realm.id, username)
        })
        .expect("lookup")
        .expect("member")
        .id
}

fn only_actions(idp: &TestIdp, f: &Fixture, username: &str, actions: &[&str]) {
    let list: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
    let id = member_id(idp, f, username);
    idp.state.store.run_sync(|c| kenpo_idp::store::users::set_required_actions(c, &id, &list)).expect("set actions");
}

fn audit_kinds(idp: &TestIdp, f: &Fixture, username: &str) -> Vec<String> {
    let id = member_id(idp, f, username);
    idp.state.store.run_sync(|c| kenpo_idp::store::audit::kinds_for_user(c, &id)).expect("audit")
}

fn passkeys_of(idp: &TestIdp, f: &Fixture, username: &str) -> Vec<String> {
    let id = member_id(idp, f, username);
    let rows = idp.state.store.run_sync(|c| kenpo_idp::store::factors::for_user(c, &id)).expect("credentials");
    rows.into_iter().filter(|r| r.kind == kenpo_idp::store::factors::KIND_PASSKEY).map(|r| r.label).collect()
}

/// Posts the page's form whose opening tag contains `marker` (the first form for ""), with
/// `fields` replacing or adding to its inputs, and follows redirects inside the IdP.
async fn submit_at(b: &Browser, idp: &TestIdp, page: &Page, marker: &str, fields: &[(&str, &str)]) -> Page {
    let (action, existing) =
        page.form_where(marker).unwrap_or_else(|| panic!("no form {marker:?} on the page:\n{}", page.body));
    let mut data: Vec<(String, String)> =
        existing.into_iter().filter(|(k, _)| !fields.iter().any(|(f, _)| f == k)).collect();
    data.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    b.follow(b.post_form(&action, &data).await, &idp.base_url).await
}

async fn submit(b: &Browser, idp: &TestIdp, page: &Page, fields: &[(&str, &str)]) -> Page {
    submit_at(b, idp, page, "", fields).await
}

/// Opens the RP's authorization URL and signs in with the password: the page after it.
async fn password_step(b: &Browser, idp: &TestIdp, url: &str, username: &str, password: &str) -> Page {
    let page = open(b, idp, url).await;
    assert!(is_login_page(&page), "expected the login page: {}", page.body);
    b.follow(b.submit_login(&page, username, password, &[]).await, &idp.base_url).await
}

fn options(page: &Page, mode: &str) -> String {
    page_options(page, mode).unwrap_or_else(|| panic!("no data-webauthn=\"{mode}\" options:\n{}", page.body))
}

fn assert_refused(page: &Page, message: &str) {
    assert!(page.query_param("code").is_none(), "refused, yet a code: {:?}", page.location);
    assert_eq!(page.status, 200, "{:?} {}", page.location, page.body);
    assert!(page.body.contains(ERROR_TITLE), "{}", page.body);
    assert!(page.body.contains(message), "expected {message:?}:\n{}", page.body);
    assert!(page.body.contains(RETRY), "{}", page.body);
}

/// The fixture's member chooses passkeys at first login and registers `key` as 「パスキー」.
async fn enrol(idp: &TestIdp, f: &Fixture, rp: &Rp, key: &mut SoftKey) {
    only_actions(idp, f, &f.username, &["CHOOSE_USER_ID_AND_MFA"]);
    let b = Browser::new();
    let choose = password_step(&b, idp, &rp.authorize(&[], &[]).url, &f.username, &f.password).await;
    assert!(choose.body.contains("ユーザIDの変更・認証方法の設定"), "{}", choose.body);
    let register = submit(&b, idp, &choose, &[("user_id", ""), ("method", "passkey")]).await;
    assert!(register.body.contains(REGISTER_TITLE), "{}", register.body);
    let credential = key.register(&options(&register, "register")).expect("registration");
    let done = submit(&b, idp, &register, &[("credential", &credential)]).await;
    assert!(done.query_param("code").is_some(), "enrolment must end the login: {}", done.body);
}

/// A new login up to the passkey step: the browser, the RP's request and the step's page.
async fn passkey_step(idp: &TestIdp, f: &Fixture, rp: &Rp) -> (Browser, AuthzRequest, Page) {
    let b = Browser::new();
    let a = rp.authorize(&[], &[]);
    let page = password_step(&b, idp, &a.url, &f.username, &f.password).await;
    assert!(page.body.contains(LOGIN_FORM), "expected the passkey step: {}", page.body);
    (b, a, page)
}

/// Exchanges the code of `page` and returns the ID token's claims (verified by the RP).
async fn id_token_claims(rp: &Rp, a: &AuthzRequest, page: &Page) -> serde_json::Value {
    let q = callback(page, &rp.redirect_uri);
    let tokens = rp.exchange(q.get("code").expect("code"), &a.verifier).await.expect("tokens");
    let id_token = openidconnect::TokenResponse::id_token(&tokens).expect("ID token");
    rp.verify_id_token(id_token, Some(&a.nonce));
    jwt_claims(&id_token.to_string())
}

dual_backend_test!(first_login_enrols_a_passkey_and_the_next_login_asks_for_it, |db| async move {
    let idp = TestIdp::start_localhost(&db);
    let f = idp.seed();
    let rp = rp(&idp, &f).await;
    let mut key = SoftKey::new(&idp.base_url);
    only_actions(&idp, &f, &f.username, &["CHOOSE_USER_ID_AND_MFA"]);
    let b = Browser::new();
    let choose = password_step(&b, &idp, &rp.authorize(&[], &[]).url, &f.username, &f.password).await;
    let register = submit(&b, &idp, &choose, &[("user_id", ""), ("method", "passkey")]).await;

    // 「セキュリティキーの登録」: the ceremony's options, 「パスキー」 prefilled, 「登録」.
    assert!(register.body.contains(&format!("<h1>{REGISTER_TITLE}</h1>")), "{}", register.body);
    assert!(register.body.contains(REGISTER_FORM));
    let (_, fields) = register.form_where(REGISTER_FORM).expect("form");
    assert!(fields.contains(&("userLabel".into(), "パスキー".into())), "{fields:?}");
    assert!(register.body.contains(">登録</button>"), "{}", register.body);
    let opts: serde_json::Value = serde_json::from_str(&options(&register, "register")).expect("JSON");
    assert_eq!(opts["rp"]["id"], "localhost");
    assert_eq!(opts["user"]["name"], f.username.as_str());
    assert_eq!(opts["authenticatorSelection"]["residentKey"], "preferred");

    // The browser failed or the member cancelled: the error page, nothing stored.
    let cancelled = submit(&b, &idp, &register, &[("error", "NotAllowedError")]).await;
    assert_refused(&cancelled, FAILED);
    // An empty name is refused (with a valid credential for the page's challenge).
    let credential = key.register(&options(&cancelled, "register")).expect("registration");
    let empty = submit(&b, &idp, &cancelled, &[("credential", &credential), ("userLabel", "  ")]).await;
    assert!(empty.body.contains(NAME_EMPTY), "{}", empty.body);
    // A naming problem is no ceremony failure: the page stays 「セキュリティキーの登録」.
    assert!(empty.body.contains(&format!("<h1>{REGISTER_TITLE}</h1>")), "{}", empty.body);
    assert!(empty.body.contains(">登録</button>") && !empty.body.contains(ERROR_TITLE), "{}", empty.body);
    assert!(empty.query_param("code").is_none());
    assert!(passkeys_of(&idp, &f, &f.username).is_empty());

    // A registration for the previous page's challenge is refused: each page view is a new
    // ceremony and the old one is gone.
    let stale = submit(&b, &idp, &empty, &[("credential", &credential)]).await;
    assert_refused(&stale, FAILED);
    // The name from the page and the current challenge: enrolled, and the login completes.
    let credential = key.register(&options(&stale, "register")).expect("registration");
    let done = submit(&b, &idp, &stale, &[("credential", &credential)]).await;
    assert!(done.query_param("code").is_some(), "{}", done.body);
    assert_eq!(passkeys_of(&idp, &f, &f.username), vec!["パスキー".to_string()]);
    assert!(audit_kinds(&idp, &f, &f.username).contains(&"second_factor_enrolled".to_string()));

    // Next login: user ID and password, then 「次へ」 starts the passkey ceremony.
    let (b, a, step) = passkey_step(&idp, &f, &rp).await;
    assert!(step.body.contains(">次へ</button>"), "{}", step.body);
    let (_, fields) = step.form_where(LOGIN_FORM).expect("form");
    assert!(fields.contains(&("factor".into(), "passkey".into())), "{fields:?}");
    let login_opts: serde_json::Value = serde_json::from_str(&options(&step, "login")).expect("JSON");
    assert_eq!(login_opts["rpId"], "localhost");
    assert_eq!(login_opts["allowCredentials"][0]["id"], key.credential_id());
    let assertion = key.assert(&options(&step, "login"));
    let done = submit_at(&b, &idp, &step, LOGIN_FORM, &[("credential", &assertion)]).await;
    let claims = id_token_claims(&rp, &a, &done).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "2");
});

// A second passkey (WEBAUTHN_REGISTER required again): its name must differ from the first's,
// and the authenticator that already holds the first one cannot be registered again — neither
// by this member nor by another.
dual_backend_test!(second_registration_needs_a_new_name_and_a_new_authenticator, |db| async move {
    let idp = TestIdp::start_localhost(&db);
    let f = idp.seed();
    let rp = rp(&idp, &f).await;
    let mut key = SoftKey::new(&idp.base_url);
    enrol(&idp, &f, &rp, &mut key).await;
    admin::users::require_action(&idp.state.store, &f.realm, &f.username, "WEBAUTHN_REGISTER").expect("require");

    let (b, _, step) = passkey_step(&idp, &f, &rp).await;
    let assertion = key.assert(&options(&step, "login"));
    let register = submit_at(&b, &idp, &step, LOGIN_FORM, &[("credential", &assertion)]).await;
    assert!(register.body.contains(REGISTER_FORM), "{}", register.body);
    // The options exclude the passkey the member has; the authenticator holding it refuses…
    let opts = options(&register, "register");
    assert_eq!(key.register(&opts), Err("InvalidStateError"));
    // …and a client that registers it anyway is refused by the server.
    let again = key.register_unchecked(&opts);
    let twice = submit(&b, &idp, &register, &[("credential", &again), ("userLabel", "仕事用")]).await;
    assert_refused(&twice, FAILED);

    let mut second = SoftKey::new(&idp.base_url);
    let credential = second.register(&options(&twice, "register")).expect("registration");
    let taken = submit(&b, &idp, &twice, &[("credential", &credential), ("userLabel", "パスキー")]).await;
    assert!(taken.body.contains(NAME_TAKEN), "{}", taken.body);
    assert!(taken.query_param("code").is_none());
    let credential = second.register(&options(&taken, "register")).expect("registration");
    let done = submit(&b, &idp, &taken, &[("credential", &credential), ("userLabel", "仕事用")]).await;
    assert!(done.query_param("code").is_some(), "{}", done.body);
    assert_eq!(passkeys_of(&idp, &f, &f.username), vec!["パスキー".to_string(), "仕事用".to_string()]);

    // Another member cannot register the first member's authenticator (credential IDs are unique).
    idp.add_member(&f, "member02x", "Second-Pass-42", Some("second@example.jp"));
    only_actions(&idp, &f, "member02x", &["WEBAUTHN_REGISTER"]);
    let b2 = Browser::new();
    let page = password_step(&b2, &idp, &rp.authorize(&[], &[]).url, "member02x", "Second-Pass-42").await;
    let stolen = key.register_unchecked(&options(&page, "register"));
    let refused = submit(&b2, &idp, &page, &[("credential", &stolen)]).await;
    assert_refused(&refused, FAILED);
    assert!(passkeys_of(&idp, &f, "member02x").is_empty());
});

dual_backend_test!(replayed_foreign_and_cloned_assertions_are_refused, |db| async move {
    let idp = TestIdp::start_localhost(&db);
    let f = idp.seed();
    let rp = rp(&idp, &f).await;
    let mut key = SoftKey::new(&idp.base_url);
    enrol(&idp, &f, &rp, &mut key).await;
    // Every refusal below counts toward the second-factor lockout; stay under it.
    set(&idp, &f, &["mfa.max_failures=20"]);

    // A good login; its assertion is kept.
    let (b, _, step) = passkey_step(&idp, &f, &rp).await;
    let used = key.assert(&options(&step, "login"));
    let ok = submit_at(&b, &idp, &step, LOGIN_FORM, &[("credential", &used)]).await;
    assert!(ok.query_param("code").is_some(), "{}", ok.body);

    // Replayed in a new login: that page has its own challenge.
    let (b, a, step) = passkey_step(&idp, &f, &rp).await;
    let replay = submit_at(&b, &idp, &step, LOGIN_FORM, &[("credential", &used)]).await;
    assert_refused(&replay, FAILED);
    // An assertion for a page that has since been reloaded: the reload replaced the challenge.
    let early = key.assert(&options(&replay, "login"));
    let reloaded = open(&b, &idp, &format!("{}/login-actions/second-factor", idp.issuer(&f.realm))).await;
    assert!(reloaded.body.contains(LOGIN_FORM));
    let stale = submit_at(&b, &idp, &reloaded, LOGIN_FORM, &[("credential", &early)]).await;
    assert_refused(&stale, FAILED);
    // A challenge is taken once, whatever the outcome: after a malformed answer, a good answer
    // to the same page is refused.
    let fresh = key.assert(&options(&stale, "login"));
    let first = submit_at(&b, &idp, &stale, LOGIN_FORM, &[("credential", "{\"id\":\"x\"}")]).await;
    assert_refused(&first, FAILED);
    let second = submit_at(&b, &idp, &stale, LOGIN_FORM, &[("credential", &fresh)]).await;
    assert_refused(&second, FAILED);

    // Another origin (a phishing site relaying the challenge) is refused.
    key.origin = "https://kenpo-id.example".into();
    let phished = key.assert(&options(&second, "login"));
    let foreign = submit_at(&b, &idp, &second, LOGIN_FORM, &[("credential", &phished)]).await;
    assert_refused(&foreign, FAILED);
    key.origin = idp.base_url.clone();
    // So is another RP ID in the authenticator data.
    key.rp_id = "evil.localhost".into();
    let other_rp = key.assert(&options(&foreign, "login"));
    let refused = submit_at(&b, &idp, &foreign, LOGIN_FORM, &[("credential", &other_rp)]).await;
    assert_refused(&refused, FAILED);
    key.rp_id = "localhost".into();
    // The genuine key still works in this very flow.
    let genuine = key.assert(&options(&refused, "login"));
    let done = submit_at(&b, &idp, &refused, LOGIN_FORM, &[("credential", &genuine)]).await;
    let claims = id_token_claims(&rp, &a, &done).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk", "mfa"]));

    // A clone of the key, its counter behind the stored one: refused, and audited.
    assert!(!audit_kinds(&idp, &f, &f.username).contains(&"passkey_counter_regression".to_string()));
    let (b, _, step) = passkey_step(&idp, &f, &rp).await;
    let stored = key.counter.expect("counter");
    key.counter = Some(stored - 1);
    let cloned = key.assert_without_counting(&options(&step, "login"));
    let refused = submit_at(&b, &idp, &step, LOGIN_FORM, &[("credential", &cloned)]).await;
    assert_refused(&refused, CLONED);
    assert!(audit_kinds(&idp, &f, &f.username).contains(&"passkey_counter_regression".to_string()));
    // The same counter again is a regression too; the genuine key, moving on, still works.
    key.counter = Some(stored);
    let same = key.assert_without_counting(&options(&refused, "login"));
    let refused = submit_at(&b, &idp, &refused, LOGIN_FORM, &[("credential", &same)]).await;
    assert_refused(&refused, CLONED);
    let genuine = key.assert(&options(&refused, "login"));
    let done = submit_at(&b, &idp, &refused, LOGIN_FORM, &[("credential", &genuine)]).await;
    assert!(done.query_param("code").is_some(), "{}", done.body);
});

dual_backend_test!(browser_errors_offer_a_retry_and_do_not_count_toward_the_lockout, |db| async move {
    let idp = TestIdp::start_localhost(&db);
    let f = idp.seed();
    let rp = rp(&idp, &f).await;
    let mut key = SoftKey::new(&idp.base_url);
    enrol(&idp, &f, &rp, &mut key).await;
    set(&idp, &f, &["mfa.max_failures=2"]);

    let (b, _, mut page) = passkey_step(&idp, &f, &rp).await;
    for error in ["NotAllowedError", "NotAllowedError", "AbortError", "NotSupportedError"] {
        page = submit_at(&b, &idp, &page, LOGIN_FORM, &[("error", error)]).await;
        assert_refused(&page, FAILED);
        assert!(page.body.contains(&format!("<h1>{ERROR_TITLE}</h1>")), "{}", page.body);
        assert!(!page.body.contains(FACTOR_LOCKED));
    }
    // An empty submission (no JavaScript) is no guess either.
    page = submit_at(&b, &idp, &page, LOGIN_FORM, &[]).await;
    assert_refused(&page, FAILED);
    assert!(!audit_kinds(&idp, &f, &f.username).contains(&"second_factor_failed".to_string()));
    let assertion = key.assert(&options(&page, "login"));
    let done = submit_at(&b, &idp, &page, LOGIN_FORM, &[("credential", &assertion)]).await;
    assert!(done.query_param("code").is_some(), "{}", done.body);

    // Contrast: assertions that fail verification do count, and lock the second factor.
    let (b, _, mut page) = passkey_step(&idp, &f, &rp).await;
    key.origin = "https://evil.example".into();
    for _ in 0..2 {
        let bad = key.assert(&options(&page, "login"));
        page = submit_at(&b, &idp, &page, LOGIN_FORM, &[("credential", &bad)]).await;
        assert!(page.query_param("code").is_none());
    }
    assert!(page.body.contains(FACTOR_LOCKED), "{}", page.body);
    key.origin = idp.base_url.clone();
    let good = key.assert(&options(&page, "login"));
    let locked = submit_at(&b, &idp, &page, LOGIN_FORM, &[("credential", &good)]).await;
    assert!(locked.query_param("code").is_none());
    assert!(locked.body.contains(FACTOR_LOCKED), "{}", locked.body);
});

dual_backend_test!(skipping_the_passkey_step_by_url_never_gives_a_code, |db| async move {
    let idp = TestIdp::start_localhost(&db);
    let f = idp.seed();
    let rp = rp(&idp, &f).await;
    let mut key = SoftKey::new(&idp.base_url);
    enrol(&idp, &f, &rp, &mut key).await;

    // The authorization request again in the same browser: a new login, from the start.
    let (b, _, _) = passkey_step(&idp, &f, &rp).await;
    let again = open(&b, &idp, &rp.authorize(&[], &[]).url).await;
    assert!(again.query_param("code").is_none());
    assert!(is_login_page(&again), "{}", again.body);

    let (b, _, step) = passkey_step(&idp, &f, &rp).await;
    let issuer = idp.issuer(&f.realm);
    for path in ["login-actions/authenticate", "login-actions/required-action", "login-actions/second-factor"] {
        let page = open(&b, &idp, &format!("{issuer}/{path}")).await;
        assert!(page.query_param("code").is_none(), "{path}: {:?}", page.location);
        assert!(page.body.contains(LOGIN_FORM), "{path} must lead back to the passkey step: {}", page.body);
    }
    // A silent authorization has no session to use.
    let silent = b.get(&rp.authorize(&[], &[("prompt", "none")]).url).await;
    assert_eq!(silent.query_param("error").as_deref(), Some("login_required"));

    // Forms of other steps posted with the flow's CSRF token.
    let (_, fields) = step.form_where(LOGIN_FORM).expect("form");
    let csrf = fields.iter().find(|(k, _)| k == "csrf").expect("csrf").1.clone();
    let posts: [(&str, Vec<(&str, &str)>); 6] = [
        ("login-actions/authenticate", vec![("username", &f.username), ("password", &f.password)]),
        ("login-actions/authenticate", vec![("op", "passkey"), ("credential", "{}")]),
        ("login-actions/required-action", vec![("answer", "agree")]),
        ("login-actions/second-factor", vec![("factor", "otp"), ("otp", "123456")]),
        ("login-actions/second-factor", vec![("op", "switch"), ("to", "recovery")]),
        ("login-actions/second-factor", vec![("factor", "passkey"), ("credential", "")]),
    ];
    for (path, extra) in posts {
        let mut form = vec![("csrf".to_string(), csrf.clone())];
        form.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let page = b.follow(b.post_form(&format!("{issuer}/{path}"), &form).await, &idp.base_url).await;
        assert!(page.query_param("code").is_none(), "{path} {extra:?}: {:?}", page.location);
    }
    // The flow is still at the passkey step, and the passkey finishes it.
    let page = open(&b, &idp, &format!("{issuer}/login-actions/second-factor")).await;
    let assertion = key.assert(&options(&page, "login"));
    let done = submit_at(&b, &idp, &page, LOGIN_FORM, &[("credential", &assertion)]).await;
    assert!(done.query_param("code").is_some(), "{}", done.body);
});

async fn passwordless_refused(b: &Browser, idp: &TestIdp, page: &Page, credential: &str, what: &str) -> Page {
    let page = submit_at(b, idp, page, CONDITIONAL_FORM, &[("credential", credential)]).await;
    assert!(page.query_param("code").is_none(), "{what}: {:?}", page.location);
    assert!(is_login_page(&page), "{what}: {}", page.body);
    assert!(page.body.contains(INVALID_CREDENTIALS), "{what}: {}", page.body);
    page
}

dual_backend_test!(passwordless_sign_in_with_a_discoverable_passkey, |db| async move {
    let idp = TestIdp::start_localhost(&db);
    let f = idp.seed();
    let rp = rp(&idp, &f).await;

    // Off (the default): no passkey autofill, and a passkey post is refused.
    let b = Browser::new();
    let page = open(&b, &idp, &rp.authorize(&[], &[]).url).await;
    assert!(is_login_page(&page));
    assert!(!page.body.contains(CONDITIONAL_FORM));
    assert!(page.body.contains("autocomplete=\"username\""));

    set(&idp, &f, &["mfa.passkey.passwordless=true"]);
    let mut key = SoftKey::new(&idp.base_url);
    enrol(&idp, &f, &rp, &mut key).await;
    assert!(key.resident, "the realm asks for a discoverable credential");

    let b = Browser::new();
    let a = rp.authorize(&[], &[]);
    let page = open(&b, &idp, &a.url).await;
    assert!(page.body.contains("autocomplete=\"username webauthn\""), "{}", page.body);
    let opts: serde_json::Value = serde_json::from_str(&options(&page, "conditional")).expect("JSON");
    assert!(opts["allowCredentials"].as_array().is_none_or(|l| l.is_empty()), "{opts}");
    assert_eq!(opts["userVerification"], "required");
    // The password form is still the first form on the page.
    assert!(page.form().expect("form").1.iter().any(|(k, _)| k == "password"));
    let assertion = key.assert(&options(&page, "conditional"));
    let done = submit_at(&b, &idp, &page, CONDITIONAL_FORM, &[("credential", &assertion)]).await;
    let claims = id_token_claims(&rp, &a, &done).await;
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "2");
    assert_eq!(claims["sub"], member_id(&idp, &f, &f.username).as_str());

    // Refusals: the login page again with the generic message, never a code.
    let b = Browser::new();
    let mut page = open(&b, &idp, &rp.authorize(&[], &[]).url).await;
    let stranger = SoftKey::synced(&idp.base_url).assert(&options(&page, "conditional"));
    page = passwordless_refused(&b, &idp, &page, &stranger, "unknown credential").await;
    let mut impostor = SoftKey::synced(&idp.base_url);
    impostor.user_handle = key.user_handle.clone();
    let impostor = impostor.assert(&options(&page, "conditional"));
    page = passwordless_refused(&b, &idp, &page, &impostor, "another key with the member's handle").await;
    key.uv = false;
    let no_pin = key.assert(&options(&page, "conditional"));
    key.uv = true;
    page = passwordless_refused(&b, &idp, &page, &no_pin, "no user verification").await;
    page = passwordless_refused(&b, &idp, &page, &assertion, "replayed").await;
    page = passwordless_refused(&b, &idp, &page, "{\"id\":1}", "garbage").await;
    let mut plain = SoftKey::new(&idp.base_url);
    plain.cred_id = key.cred_id.clone();
    let no_handle = plain.assert(&options(&page, "conditional"));
    page = passwordless_refused(&b, &idp, &page, &no_handle, "no user handle").await;
    let error = submit_at(&b, &idp, &page, CONDITIONAL_FORM, &[("error", "NotAllowedError")]).await;
    assert!(is_login_page(&error) && error.query_param("code").is_none(), "{}", error.body);
    // The password still works on the same page.
    let done = b.follow(b.submit_login(&page, &f.username, &f.password, &[]).await, &idp.base_url).await;
    assert!(done.body.contains(LOGIN_FORM), "the password leads to the passkey step: {}", done.body);

    // Switched off again: the passkey no longer signs in alone.
    set(&idp, &f, &["mfa.passkey.passwordless=false"]);
    let b = Browser::new();
    let page = open(&b, &idp, &rp.authorize(&[], &[]).url).await;
    assert!(!page.body.contains(CONDITIONAL_FORM));
    let (action, fields) = page.form().expect("form");
    let mut form: Vec<(String, String)> = fields.into_iter().filter(|(k, _)| k == "csrf").collect();
    form.push(("op".into(), "passkey".into()));
    form.push(("credential".into(), assertion));
    let refused = b.follow(b.post_form(&action, &form).await, &idp.base_url).await;
    assert!(refused.query_param("code").is_none());
    assert!(refused.body.contains(INVALID_CREDENTIALS), "{}", refused.body);
});
