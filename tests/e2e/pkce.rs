//! PKCE (RFC 7636, S256 only): a wrong verifier burns the code; public clients must use it.

use crate::common::*;
use kenpo_e2e::browser::query_map;
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};
use openidconnect::{OAuth2TokenResponse, PkceCodeChallenge};

dual_backend_test!(wrong_code_verifier_burns_the_code, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let rp1 = rp(&idp, &f).await;
    let browser = Browser::new();
    let a = rp1.authorize(&[], &[]);
    let code = callback(&login_at(&browser, &idp, &f, &a.url).await, &f.redirect_uri)["code"].clone();

    let (_, wrong) = PkceCodeChallenge::new_random_sha256();
    let err = rp1.exchange(&code, &wrong).await.expect_err("wrong verifier");
    assert_eq!(oauth_error(&err), "invalid_grant");
    // The right verifier afterwards: the code is gone.
    let err = rp1.exchange(&code, &a.verifier).await.expect_err("code burnt by the failed attempt");
    assert_eq!(oauth_error(&err), "invalid_grant");
});

dual_backend_test!(missing_or_unexpected_code_verifier_is_refused, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let rp1 = rp(&idp, &f).await;
    let browser = Browser::new();

    // Challenge sent, no verifier at the token endpoint.
    let a = rp1.authorize(&[], &[]);
    let code = callback(&login_at(&browser, &idp, &f, &a.url).await, &f.redirect_uri)["code"].clone();
    let r = token_raw(
        &idp,
        &f,
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", &f.redirect_uri)],
    )
    .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);

    // No challenge (allowed for a confidential client), but a verifier at the token endpoint:
    // the two disagree about PKCE (downgrade), refused.
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=s1",
        endpoint(&idp, &f.realm, "auth"),
        f.client_id,
        url_enc(&f.redirect_uri)
    );
    let q = callback(&open(&browser, &idp, &url).await, &f.redirect_uri);
    let code = q["code"].clone();
    let r = token_raw(
        &idp,
        &f,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &f.redirect_uri),
            ("code_verifier", a.verifier.secret()),
        ],
    )
    .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);

    // And a confidential client without PKCE on both sides is fine.
    let q = callback(&open(&browser, &idp, &url).await, &f.redirect_uri);
    let r = token_raw(
        &idp,
        &f,
        &[("grant_type", "authorization_code"), ("code", &q["code"]), ("redirect_uri", &f.redirect_uri)],
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
});

dual_backend_test!(public_client_must_use_pkce, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed_with(|c| {
        c.public = true;
        c.secret = None;
    });
    let browser = Browser::new();

    // Without code_challenge: back to the client with invalid_request, state and iss.
    let url = format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope=openid&state=st-1",
        endpoint(&idp, &f.realm, "auth"),
        f.client_id,
        url_enc(&f.redirect_uri)
    );
    let page = browser.get(&url).await;
    let q = callback(&page, &f.redirect_uri);
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"), "{q:?}");
    assert_eq!(q.get("state").map(String::as_str), Some("st-1"));
    assert_eq!(q.get("iss"), Some(&idp.issuer(&f.realm)));
    assert!(!q.contains_key("code"));

    // "plain" is not accepted either.
    let plain = format!("{url}&code_challenge=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&code_challenge_method=plain");
    let q = query_map(&browser.get(&plain).await.location.expect("redirect"));
    assert_eq!(q.get("error").map(String::as_str), Some("invalid_request"), "{q:?}");

    // With PKCE the public client (no secret) completes the flow as a real RP.
    let public = rp_for(&idp, &f.realm, &f.client_id, None, &f.redirect_uri).await;
    let a = public.authorize(&["profile"], &[]);
    let q = callback(&login_at(&browser, &idp, &f, &a.url).await, &f.redirect_uri);
    let tokens = public.exchange(&q["code"], &a.verifier).await.expect("public client token exchange");
    let id = openidconnect::TokenResponse::id_token(&tokens).expect("id token");
    public.verify_id_token(id, Some(&a.nonce));
    assert!(tokens.refresh_token().is_some());

    // A public client cannot use client_credentials.
    let r = post_form(
        &endpoint(&idp, &f.realm, "token"),
        &[("grant_type", "client_credentials"), ("client_id", &f.client_id)],
        None,
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert_eq!(r.error(), "unauthorized_client");
});
