//! Nothing lives in process memory: a login started on one IdP process finishes on another,
//! and a process that is stopped mid-login loses nothing.

use base64::Engine;
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};
use kenpo_shared::secret::Secret;

fn authorize_url(f: &kenpo_e2e::Fixture, base: &str) -> String {
    let mut u = url::Url::parse(&format!("{base}/realms/{}/protocol/openid-connect/auth", f.realm)).expect("url");
    u.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &f.client_id)
        .append_pair("redirect_uri", &f.redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", "s1")
        .append_pair("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
        .append_pair("code_challenge_method", "S256");
    u.to_string()
}

async fn exchange(base: &str, f: &kenpo_e2e::Fixture, code: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{base}/realms/{}/protocol/openid-connect/token", f.realm))
        .basic_auth(&f.client_id, Some(&f.client_secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", f.redirect_uri.as_str()),
            ("code_verifier", "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
        ])
        .send()
        .await
        .expect("token request")
}

// Two processes on one database with one master key: the flow started on the first is
// finished on the second, and the code from the second is exchanged on the first.
dual_backend_test!(login_moves_between_replicas, |db| async move {
    let key = Secret::new(base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
    let (k1, k2) = (key.clone(), key.clone());
    let a = TestIdp::start_with(&db, move |c| c.secrets.master_key = k1);
    let b = TestIdp::start_with(&db, move |c| c.secrets.master_key = k2);
    let f = a.seed();
    let browser = Browser::new();
    let login = browser.follow(browser.get(&authorize_url(&f, &a.base_url)).await, &a.base_url).await;
    assert_eq!(login.status, 200);
    // The browser's cookies are scoped to 127.0.0.1 (any port), so they reach the other replica.
    let (action, fields) = login.form().expect("form");
    let action_b = action.replace(&a.base_url, &b.base_url);
    let mut data: Vec<(String, String)> =
        fields.into_iter().filter(|(k, _)| k != "username" && k != "password").collect();
    data.push(("username".into(), f.username.clone()));
    data.push(("password".into(), f.password.clone()));
    let done = browser.post_form(&action_b, &data).await;
    assert_eq!(done.status, 302, "{}", done.body);
    let code = done.query_param("code").expect("code");
    let r = exchange(&a.base_url, &f, &code).await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.expect("json");
    assert!(body["id_token"].is_string());
});

// The IdP process goes away between the login page and the password POST; a new process on
// the same database picks the flow up.
dual_backend_test!(flow_survives_process_restart, |db| async move {
    let key = Secret::new(base64::engine::general_purpose::STANDARD.encode([9u8; 32]));
    let k1 = key.clone();
    let first = TestIdp::start_with(&db, move |c| c.secrets.master_key = k1);
    let f = first.seed();
    let browser = Browser::new();
    let login = browser.follow(browser.get(&authorize_url(&f, &first.base_url)).await, &first.base_url).await;
    let old_base = first.base_url.clone();
    drop(first);
    let second = TestIdp::start_with(&db, move |c| c.secrets.master_key = key);
    let (action, fields) = login.form().expect("form");
    let mut data: Vec<(String, String)> =
        fields.into_iter().filter(|(k, _)| k != "username" && k != "password").collect();
    data.push(("username".into(), f.username.clone()));
    data.push(("password".into(), f.password.clone()));
    let done = browser.post_form(&action.replace(&old_base, &second.base_url), &data).await;
    assert_eq!(done.status, 302, "{}", done.body);
    let code = done.query_param("code").expect("code");
    assert_eq!(exchange(&second.base_url, &f, &code).await.status(), 200);
});
