//! The SSO session at the authorization endpoint: prompt=none, prompt=login, max_age, and
//! single sign-on across the clients of a realm.

use crate::common::*;
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};

dual_backend_test!(prompt_none_without_session_is_login_required, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let rp1 = rp(&idp, &f).await;
    let browser = Browser::new();
    let a = rp1.authorize(&["profile"], &[("prompt", "none")]);
    let page = open(&browser, &idp, &a.url).await;
    assert!(!is_login_page(&page), "prompt=none must never show the login page");
    let q = callback(&page, &f.redirect_uri);
    assert_eq!(q.get("error").map(String::as_str), Some("login_required"), "{q:?}");
    assert_eq!(q.get("state"), Some(a.state.secret()));
    assert_eq!(q.get("iss"), Some(&idp.issuer(&f.realm)));
    assert!(!q.contains_key("code"));
});

dual_backend_test!(prompt_none_with_session_returns_a_code_at_once, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let first = s.claims();
    let (code, a) = code_without_login(&s.browser, &idp, &s.rp, &[("prompt", "none")]).await;
    let t = s.rp.exchange(&code, &a.verifier).await.expect("tokens from the silent request");
    let id = openidconnect::TokenResponse::id_token(&t).expect("id token");
    let silent = s.rp.verify_id_token(id, Some(&a.nonce));
    assert_eq!(silent.subject(), first.subject());
    assert_eq!(silent.auth_time(), first.auth_time(), "no new authentication happened");
    assert_eq!(jwt_claims(&id.to_string())["sid"], s.sid(), "same SSO session");
});

dual_backend_test!(prompt_login_asks_for_the_password_again, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let a = s.rp.authorize(&["profile"], &[("prompt", "login")]);
    let page = open(&s.browser, &idp, &a.url).await;
    assert!(is_login_page(&page), "prompt=login must show the login page: {} {:?}", page.status, page.location);
    assert!(page.body.contains(REAUTHENTICATE), "{}", page.body);
    // A wrong password does not pass because of the existing session.
    let wrong = s.browser.submit_login(&page, &f.username, "Wrong-Horse-42", &[]).await;
    assert!(is_login_page(&wrong), "{}", wrong.body);
    assert!(wrong.body.contains(INVALID_CREDENTIALS));
    let done = s.browser.submit_login(&wrong, &f.username, &f.password, &[]).await;
    let q = callback(&done, &f.redirect_uri);
    assert_eq!(q.get("state"), Some(a.state.secret()));
    let t = s.rp.exchange(&q["code"], &a.verifier).await.expect("tokens after re-authentication");
    s.rp.verify_id_token(openidconnect::TokenResponse::id_token(&t).expect("id token"), Some(&a.nonce));
});

dual_backend_test!(max_age_zero_forces_a_new_login, |db| async move {
    // OIDC Core §3.1.2.1: "max_age=0 is equivalent to prompt=login" — whatever the session's
    // age, even a session started a moment ago. Both requests are prepared before the login so
    // that the second one follows it at once (an RP stepping up right after sign-in).
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let rp1 = rp(&idp, &f).await;
    let browser = Browser::new();
    let first = rp1.authorize(&["profile"], &[]);
    let again = rp1.authorize(&["profile"], &[("max_age", "0")]);
    callback(&login_at(&browser, &idp, &f, &first.url).await, &f.redirect_uri);
    let page = open(&browser, &idp, &again.url).await;
    assert!(is_login_page(&page), "max_age=0 must force re-authentication, got {} {:?}", page.status, page.location);
    assert!(page.body.contains(REAUTHENTICATE), "{}", page.body);
});

dual_backend_test!(generous_max_age_reuses_the_session, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let (code, a) = code_without_login(&s.browser, &idp, &s.rp, &[("max_age", "3600")]).await;
    let t = s.rp.exchange(&code, &a.verifier).await.expect("tokens");
    let claims = s.rp.verify_id_token(openidconnect::TokenResponse::id_token(&t).expect("id token"), Some(&a.nonce));
    assert!(claims.auth_time().is_some(), "auth_time is required when max_age was sent");
});

dual_backend_test!(sso_across_clients_of_a_realm, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let f2 = add_client(&idp, &f, "rp2", |_| {});
    let s = sign_in(&idp, &f).await;
    let rp2 = rp(&idp, &f2).await;
    let (code, a) = code_without_login(&s.browser, &idp, &rp2, &[]).await;
    let t = rp2.exchange(&code, &a.verifier).await.expect("rp2 tokens");
    let id = openidconnect::TokenResponse::id_token(&t).expect("id token");
    let c2 = rp2.verify_id_token(id, Some(&a.nonce));
    assert_eq!(c2.subject(), s.claims().subject());
    assert_eq!(c2.audiences().iter().map(|a| a.as_str()).collect::<Vec<_>>(), vec!["rp2"]);
    assert_eq!(jwt_claims(&id.to_string())["sid"], s.sid(), "one SSO session for both clients");

    // A fresh browser has no session: rp2 alone shows the login page.
    let a = rp2.authorize(&[], &[]);
    assert!(is_login_page(&open(&Browser::new(), &idp, &a.url).await));
    // The session cookie is scoped to the realm: another realm asks for a login.
    let other = idp.seed();
    let rp_other = rp(&idp, &other).await;
    let a = rp_other.authorize(&[], &[]);
    assert!(is_login_page(&open(&s.browser, &idp, &a.url).await), "SSO must not cross realms");
});
