//! Passkeys in a real browser: headless Chromium with a CDP virtual authenticator (CTAP2,
//! internal transport, resident keys, user verification) runs the real `webauthn.js` ceremonies
//! against the IdP at `http://localhost:<port>` — enrolment at first login, the passkey step
//! after the password, and passwordless sign-in through the user-ID field's autofill
//! (conditional UI). One SQLite run: this is about the browser, the HTTP tests cover both
//! backends.

use crate::common::*;
use kenpo_e2e::chrome::{Chrome, Page as Tab, VirtualAuthenticator};
use kenpo_e2e::{Backend, TestDb, TestIdp};
use kenpo_idp::admin;
use kenpo_shared::secret::Secret;
use openidconnect::core::CoreIdToken;
use openidconnect::{CsrfToken, LogoutRequest, PostLogoutRedirectUrl};

/// Waits until the tab shows a page of the IdP whose text contains `text`.
async fn wait_text(tab: &Tab, text: &str) {
    let cond = format!("document.readyState === 'complete' && document.body.innerText.includes({text:?})");
    tab.wait_for(&cond, text).await.expect("page");
}

/// Waits until the tab is at `prefix…` (the relying party) and returns the URL.
async fn wait_url(tab: &Tab, prefix: &str) -> String {
    tab.wait_for(&format!("location.href.startsWith({prefix:?})"), prefix).await.expect("redirect");
    tab.url().await.expect("url")
}

/// The ID token claims after exchanging the code of `url` (verified by the RP with the nonce).
async fn claims_of(rp: &Rp, a: &AuthzRequest, url: &str) -> (serde_json::Value, CoreIdToken) {
    let q = kenpo_e2e::browser::query_map(url);
    assert_eq!(q.get("state"), Some(a.state.secret()), "{url}");
    let tokens = rp.exchange(q.get("code").expect("code"), &a.verifier).await.expect("tokens");
    let id_token = openidconnect::TokenResponse::id_token(&tokens).expect("ID token");
    rp.verify_id_token(id_token, Some(&a.nonce));
    (jwt_claims(&id_token.to_string()), id_token.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn member_enrols_a_passkey_and_signs_in_with_it_in_chromium() {
    let db = TestDb::new(Backend::Sqlite);
    let idp = TestIdp::start_localhost(&db);
    let rp_site = receiver().await;
    let (callback_uri, bye_uri) = (rp_site.url("/callback"), rp_site.url("/bye"));
    let f = idp.seed_with(|c| {
        c.redirect_uris = vec![callback_uri.clone()];
        c.post_logout_redirect_uris = vec![bye_uri.clone()];
    });
    // A union-issued account: at first login the member picks a user ID and passkeys, sets a
    // password, and registers the passkey at the end of that same login.
    admin::users::create(
        &idp.state.store,
        &idp.state.pages,
        admin::users::NewUser {
            realm: f.realm.clone(),
            username: "tmp-000777".into(),
            password: Secret::new("Union-Issued-77"),
            temporary: true,
            email: Some("taro@example.jp".into()),
            email_verified: true,
            birthdate: Some("19790822".into()),
            ..Default::default()
        },
    )
    .expect("member");
    let actions = vec!["CHOOSE_USER_ID_AND_MFA".to_string(), "UPDATE_PASSWORD".to_string()];
    idp.state
        .store
        .run_sync(|c| {
            let realm = kenpo_idp::store::realms::find_by_name(c, &f.realm)?.expect("realm");
            let user = kenpo_idp::store::users::find_by_username(c, &realm.id, "tmp-000777")?.expect("user");
            kenpo_idp::store::users::set_required_actions(c, &user.id, &actions)
        })
        .expect("actions");
    let rp = rp_for(&idp, &f.realm, &f.client_id, Some(&f.client_secret), &callback_uri).await;

    let chrome = Chrome::launch().await.expect("launch Chromium");
    let tab = chrome.new_page().await.expect("tab");
    let authenticator = tab.add_virtual_authenticator(VirtualAuthenticator::default()).await.expect("authenticator");

    // First login: temporary password, user ID and method, new password, passkey.
    let a = rp.authorize(&[], &[("ui_locales", "ja")]);
    tab.goto(&a.url).await.expect("authorize");
    wait_text(&tab, "ログイン").await;
    tab.fill("#username", "tmp-000777").await.expect("fill");
    tab.fill("#password", "Union-Issued-77").await.expect("fill");
    tab.click("form button[type=submit]").await.expect("click");
    wait_text(&tab, "ユーザIDの変更・認証方法の設定").await;
    tab.fill("#user_id", "taro.passkey").await.expect("fill");
    tab.click("input[name=method][value=passkey]").await.expect("choose passkey");
    tab.click("form button[type=submit]").await.expect("click");
    wait_text(&tab, "パスワードの更新").await;
    tab.fill("#password-new", "Own-Choice-Pass-5").await.expect("fill");
    tab.fill("#password-confirm", "Own-Choice-Pass-5").await.expect("fill");
    tab.click("form button[type=submit]").await.expect("click");
    wait_text(&tab, "セキュリティキーの登録").await;
    assert_eq!(tab.eval("document.querySelector('#userLabel').value").await.expect("eval"), "パスキー");
    tab.click("form[data-webauthn=register] button[type=submit]").await.expect("click 登録");
    let url = wait_url(&tab, &callback_uri).await;
    let (claims, id_token) = claims_of(&rp, &a, &url).await;
    // The passkey just registered (with user verification) counts for the enrolment login too.
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk", "mfa"]), "{claims}");
    let creds = tab.credentials(&authenticator).await.expect("credentials");
    assert_eq!(creds.len(), 1, "{creds:?}");
    assert_eq!(creds[0]["rpId"], "localhost");
    assert_eq!(creds[0]["isResidentCredential"], true, "a passkey is discoverable when the authenticator can");
    let count_after_enrolment = creds[0]["signCount"].as_u64().expect("signCount");

    // RP-initiated logout.
    let logout = LogoutRequest::from(rp.end_session.clone().expect("end_session_endpoint"))
        .set_id_token_hint(&id_token)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(bye_uri.clone()).expect("url"))
        .set_state(CsrfToken::new("bye".into()))
        .http_get_url();
    tab.goto(logout.as_str()).await.expect("logout");
    wait_url(&tab, &bye_uri).await;

    // Next login: user ID, password, then 「次へ」 and the passkey.
    let a = rp.authorize(&[], &[("ui_locales", "ja")]);
    tab.goto(&a.url).await.expect("authorize");
    wait_text(&tab, "ログイン").await;
    tab.fill("#username", "taro.passkey").await.expect("fill");
    tab.fill("#password", "Own-Choice-Pass-5").await.expect("fill");
    tab.click("form button[type=submit]").await.expect("click");
    wait_text(&tab, "次へ").await;
    // The fingerprint is not recognised: the browser reports NotAllowedError, the IdP shows its
    // error page with 「再試行してください」, and the retry works.
    tab.set_user_verified(&authenticator, false).await.expect("UV fails");
    tab.click("form[data-webauthn=login] button[type=submit]").await.expect("click 次へ");
    wait_text(&tab, "再試行してください").await;
    let text = tab.text().await.expect("text");
    assert!(
        text.contains("セキュリティキー・エラー") && text.contains("セキュリティキーの登録結果が無効です。"),
        "{text}"
    );
    tab.set_user_verified(&authenticator, true).await.expect("UV succeeds");
    tab.click("form[data-webauthn=login] button[type=submit]").await.expect("click 再試行してください");
    let url = wait_url(&tab, &callback_uri).await;
    let (claims, id_token) = claims_of(&rp, &a, &url).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "2");
    let creds = tab.credentials(&authenticator).await.expect("credentials");
    assert!(creds[0]["signCount"].as_u64().expect("signCount") > count_after_enrolment, "{creds:?}");

    let logout = LogoutRequest::from(rp.end_session.clone().expect("end_session_endpoint"))
        .set_id_token_hint(&id_token)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(bye_uri.clone()).expect("url"))
        .http_get_url();
    tab.goto(logout.as_str()).await.expect("logout");
    wait_url(&tab, &bye_uri).await;

    // Passwordless, once the realm allows it: the login page offers the passkey in the user-ID
    // field's autofill and the browser (no one to pick here) signs in with it.
    admin::realms::set(&idp.state.store, &f.realm, &["mfa.passkey.passwordless=true".to_string()]).expect("set");
    idp.state.forget_realm(&f.realm);
    let a = rp.authorize(&[], &[("ui_locales", "ja")]);
    tab.goto(&a.url).await.expect("authorize");
    let url = wait_url(&tab, &callback_uri).await;
    let (claims, _) = claims_of(&rp, &a, &url).await;
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "user", "mfa"]), "{claims}");
    assert_eq!(claims["acr"], "2");
}
