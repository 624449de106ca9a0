//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): with id_token_hint straight
//! back to the registered post_logout_redirect_uri; without it a confirmation page protected by
//! a CSRF token. Logout ends the SSO session and what it handed out.

use crate::common::*;
use kenpo_e2e::browser::query_map;
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};
use openidconnect::{CsrfToken, LogoutRequest, PostLogoutRedirectUrl};

const LOGGED_OUT: &str = "ログアウトしました。";
const LOGOUT_REDIRECT_INVALID: &str = "ログアウト後の戻り先URLが登録されていません。";

/// The SSO session is alive: a silent authorization gets a code.
async fn assert_session_alive(s: &SignedIn, idp: &TestIdp) {
    code_without_login(&s.browser, idp, &s.rp, &[("prompt", "none")]).await;
}

/// The SSO session is over: a silent authorization says login_required, a normal one shows
/// the login page.
async fn assert_session_ended(s: &SignedIn, idp: &TestIdp) {
    let a = s.rp.authorize(&[], &[("prompt", "none")]);
    let q = callback(&open(&s.browser, idp, &a.url).await, &s.rp.redirect_uri);
    assert_eq!(q.get("error").map(String::as_str), Some("login_required"), "{q:?}");
    let a = s.rp.authorize(&[], &[]);
    assert!(is_login_page(&open(&s.browser, idp, &a.url).await), "after logout the login page must be shown");
}

dual_backend_test!(logout_with_id_token_hint_ends_the_session_and_returns_to_the_rp, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let (at, rt) = (s.access_token(), s.refresh_token());
    let url = LogoutRequest::from(s.rp.end_session.clone().expect("end_session_endpoint in discovery"))
        .set_id_token_hint(s.id_token())
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new("http://127.0.0.1:9/bye".into()).expect("url"))
        .set_state(CsrfToken::new("after-logout 1".into()))
        .http_get_url();
    let page = s.browser.get(url.as_str()).await;
    assert_eq!(page.status, 302, "{}", page.body);
    let loc = page.location.clone().expect("Location");
    assert!(loc.starts_with("http://127.0.0.1:9/bye?"), "{loc}");
    assert_eq!(query_map(&loc).get("state").map(String::as_str), Some("after-logout 1"));

    assert_session_ended(&s, &idp).await;
    let r = refresh_raw(&idp, &f, &rt).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
    assert_eq!(introspect(&idp, &f, &at).await["active"], false);
    assert_eq!(userinfo(&idp, &f.realm, Some(&at)).await.status, 401);
});

dual_backend_test!(logout_ends_sso_for_every_client_of_the_session, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let f2 = add_client(&idp, &f, "rp2", |_| {});
    let s = sign_in(&idp, &f).await;
    let rp2 = rp(&idp, &f2).await;
    let (code, a) = code_without_login(&s.browser, &idp, &rp2, &[]).await;
    let t2 = rp2.exchange(&code, &a.verifier).await.expect("rp2 tokens");
    let rt2 = openidconnect::OAuth2TokenResponse::refresh_token(&t2).expect("rt").secret().clone();

    // rp1 logs the member out.
    let url = LogoutRequest::from(s.rp.end_session.clone().expect("end_session_endpoint"))
        .set_id_token_hint(s.id_token())
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new("http://127.0.0.1:9/bye".into()).expect("url"))
        .http_get_url();
    let page = s.browser.get(url.as_str()).await;
    assert_eq!(page.location.as_deref(), Some("http://127.0.0.1:9/bye"));
    // rp2's refresh token came from the same SSO session: gone too.
    let r = refresh_raw(&idp, &f2, &rt2).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
    let a = rp2.authorize(&[], &[]);
    assert!(is_login_page(&open(&s.browser, &idp, &a.url).await));
});

dual_backend_test!(logout_without_hint_asks_and_the_confirmation_ends_the_session, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let rt = s.refresh_token();
    let page = s.browser.get(&endpoint(&idp, &f.realm, "logout")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(LOGOUT_CONFIRM), "{}", page.body);
    assert!(page.body.contains("ログアウトする"));
    let (action, fields) = page.form().expect("a logout form");
    assert!(fields.iter().any(|(k, v)| k == "csrf" && !v.is_empty()), "{fields:?}");
    // Asking did not end anything.
    assert_session_alive(&s, &idp).await;
    assert_eq!(introspect(&idp, &f, &rt).await["active"], true);

    let done = s.browser.post_form(&action, &fields).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains(LOGGED_OUT), "{}", done.body);
    assert_session_ended(&s, &idp).await;
    let r = refresh_raw(&idp, &f, &rt).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
});

dual_backend_test!(logout_confirmation_with_a_wrong_csrf_is_refused, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let rt = s.refresh_token();
    let page = s.browser.get(&endpoint(&idp, &f.realm, "logout")).await;
    let (action, fields) = page.form().expect("a logout form");
    let forged: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| if k == "csrf" { (k.clone(), "forged-token".to_string()) } else { (k.clone(), v.clone()) })
        .collect();
    let r = s.browser.post_form(&action, &forged).await;
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(!r.body.contains(LOGGED_OUT));
    // An empty csrf is a confirmation attempt too.
    let empty: Vec<(String, String)> = vec![("csrf".into(), String::new())];
    let r = s.browser.post_form(&action, &empty).await;
    assert_eq!(r.status, 403, "{}", r.body);
    // A token from another browser's session does not fit this one.
    let other = sign_in(&idp, &f).await;
    let other_page = other.browser.get(&endpoint(&idp, &f.realm, "logout")).await;
    let (_, other_fields) = other_page.form().expect("form");
    let r = s.browser.post_form(&action, &other_fields).await;
    assert_eq!(r.status, 403, "{}", r.body);

    assert_session_alive(&s, &idp).await;
    assert_session_alive(&other, &idp).await;
    assert_eq!(introspect(&idp, &f, &rt).await["active"], true);
    s.rp.refresh(&rt).await.expect("the session's refresh token still works");
});

dual_backend_test!(unregistered_post_logout_redirect_uri_is_refused, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let rt = s.refresh_token();
    let hint = s.raw_id_token();
    let logout = endpoint(&idp, &f.realm, "logout");
    let cases: Vec<Vec<(&str, &str)>> = vec![
        vec![("id_token_hint", &hint), ("post_logout_redirect_uri", "http://127.0.0.1:9/evil")],
        vec![("id_token_hint", &hint), ("post_logout_redirect_uri", "http://127.0.0.1:9/bye/x")],
        vec![("client_id", "rp1"), ("post_logout_redirect_uri", "http://127.0.0.1:9/evil")],
        // No way to know the client: cannot check the URI.
        vec![("post_logout_redirect_uri", "http://127.0.0.1:9/bye")],
        // The hint was issued to rp1, the request claims another client.
        vec![("id_token_hint", &hint), ("client_id", "rp2"), ("post_logout_redirect_uri", "http://127.0.0.1:9/bye")],
    ];
    for params in cases {
        let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(&params).finish();
        let page = s.browser.get(&format!("{logout}?{q}")).await;
        assert_eq!(page.status, 400, "{params:?}: {}", page.body);
        assert_eq!(page.location, None, "{params:?}");
        assert!(page.body.contains(LOGOUT_REDIRECT_INVALID), "{params:?}: {}", page.body);
    }
    // Nothing was ended.
    assert_session_alive(&s, &idp).await;
    assert_eq!(introspect(&idp, &f, &rt).await["active"], true);
});

dual_backend_test!(logout_after_reauthentication_revokes_tokens_from_before, |db| async move {
    // The member signs in for rp1, later rp1 asks for a fresh login (prompt=login) in the same
    // browser. Logging out must end everything this browser's SSO handed out, including the
    // tokens issued before the re-authentication.
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let old_rt = s.refresh_token();
    let a = s.rp.authorize(&["profile"], &[("prompt", "login")]);
    let page = open(&s.browser, &idp, &a.url).await;
    assert!(is_login_page(&page));
    let q = callback(&s.browser.submit_login(&page, &f.username, &f.password, &[]).await, &f.redirect_uri);
    let t = s.rp.exchange(&q["code"], &a.verifier).await.expect("tokens after re-authentication");
    let new_id = openidconnect::TokenResponse::id_token(&t).expect("id token").to_string();
    let new_rt = openidconnect::OAuth2TokenResponse::refresh_token(&t).expect("rt").secret().clone();

    let url = format!(
        "{}?id_token_hint={}&post_logout_redirect_uri={}",
        endpoint(&idp, &f.realm, "logout"),
        new_id,
        url_enc("http://127.0.0.1:9/bye")
    );
    let page = s.browser.get(&url).await;
    assert_eq!(page.location.as_deref(), Some("http://127.0.0.1:9/bye"), "{}", page.body);
    let r = refresh_raw(&idp, &f, &new_rt).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
    let r = refresh_raw(&idp, &f, &old_rt).await;
    assert_eq!(
        (r.status, r.json()["error"].as_str().unwrap_or("(none)")),
        (400, "invalid_grant"),
        "the refresh token issued before the re-authentication survived the logout: {}",
        r.body
    );
});

dual_backend_test!(logout_without_a_session_still_returns_to_the_rp, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let hint = s.raw_id_token();
    // Another browser (no session cookie) with a valid hint and a registered URI.
    let b = Browser::new();
    let url = format!(
        "{}?id_token_hint={hint}&post_logout_redirect_uri={}&state=s2",
        endpoint(&idp, &f.realm, "logout"),
        url_enc("http://127.0.0.1:9/bye")
    );
    let page = b.get(&url).await;
    assert_eq!(page.location.as_deref(), Some("http://127.0.0.1:9/bye?state=s2"), "{}", page.body);
    // Without a redirect URI: the logged-out page.
    let page = b.get(&endpoint(&idp, &f.realm, "logout")).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains(LOGGED_OUT), "{}", page.body);
});
