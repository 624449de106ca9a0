//! The authorization_code grant at the token endpoint: single use (replay revokes what the code
//! gave), bound to its client and redirect URI, short-lived; plus the generic token-endpoint
//! errors and `Cache-Control: no-store`.

use crate::common::*;
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};

dual_backend_test!(code_replay_is_refused_and_revokes_the_first_tokens, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let (at, rt) = (s.access_token(), s.refresh_token());
    assert_eq!(introspect(&idp, &f, &at).await["active"], true);
    assert_eq!(userinfo(&idp, &f.realm, Some(&at)).await.status, 200);

    // The same code a second time, by the same RP with the right verifier.
    let err = s.rp.exchange(&s.code, &s.verifier).await.expect_err("a replayed code must be refused");
    assert_eq!(oauth_error(&err), "invalid_grant");

    // Everything the first exchange handed out is now revoked.
    assert_eq!(introspect(&idp, &f, &at).await, serde_json::json!({ "active": false }));
    assert_eq!(introspect(&idp, &f, &rt).await, serde_json::json!({ "active": false }));
    let r = userinfo(&idp, &f.realm, Some(&at)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    let r = refresh_raw(&idp, &f, &rt).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
    let err = s.rp.refresh(&rt).await.expect_err("refresh after code replay");
    assert_eq!(oauth_error(&err), "invalid_grant");
});

dual_backend_test!(code_is_bound_to_its_client, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let f2 = add_client(&idp, &f, "rp2", |_| {});
    let rp1 = rp(&idp, &f).await;
    let browser = Browser::new();
    let a = rp1.authorize(&["profile"], &[]);
    let q = callback(&login_at(&browser, &idp, &f, &a.url).await, &f.redirect_uri);
    let code = q["code"].clone();

    // rp2 presents rp1's code (with rp1's redirect URI and the right verifier).
    let r = token_raw(
        &idp,
        &f2,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &f.redirect_uri),
            ("code_verifier", a.verifier.secret()),
        ],
    )
    .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
    assert!(r.json().get("access_token").is_none());

    // The code is spent whatever went wrong (documented in oidc/token/authorization_code.rs).
    let err = rp1.exchange(&code, &a.verifier).await.expect_err("code already presented");
    assert_eq!(oauth_error(&err), "invalid_grant");
});

dual_backend_test!(redirect_uri_must_match_at_the_token_endpoint, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed_with(|c| c.redirect_uris.push("http://127.0.0.1:9/other".into()));
    let rp1 = rp(&idp, &f).await;
    let browser = Browser::new();

    // Missing redirect_uri: invalid_request.
    let a = rp1.authorize(&[], &[]);
    let code = callback(&login_at(&browser, &idp, &f, &a.url).await, &f.redirect_uri)["code"].clone();
    let r = token_raw(
        &idp,
        &f,
        &[("grant_type", "authorization_code"), ("code", &code), ("code_verifier", a.verifier.secret())],
    )
    .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"), "{}", r.body);

    // Another registered redirect URI than the one in the authorization request: invalid_grant.
    let r = token_raw(
        &idp,
        &f,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", a.verifier.secret()),
        ],
    )
    .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);

    // An unregistered one, on a fresh code: invalid_grant too.
    let (code, a) = code_without_login(&browser, &idp, &rp1, &[]).await;
    let r = token_raw(
        &idp,
        &f,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/callback/evil"),
            ("code_verifier", a.verifier.secret()),
        ],
    )
    .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
});

dual_backend_test!(expired_code_is_refused, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let rp1 = rp(&idp, &f).await;
    let browser = Browser::new();
    let a = rp1.authorize(&[], &[]);
    let code = callback(&login_at(&browser, &idp, &f, &a.url).await, &f.redirect_uri)["code"].clone();

    // Age the code well past its lifetime (60 s by default).
    sql(&idp, "UPDATE auth_codes SET expires_at = '2000-01-01 00:00:00'").await;
    let err = rp1.exchange(&code, &a.verifier).await.expect_err("an expired code must be refused");
    assert_eq!(oauth_error(&err), "invalid_grant");
    if let openidconnect::RequestTokenError::ServerResponse(e) = &err {
        assert!(e.error_description().is_some_and(|d| d.contains("expired")), "{e:?}");
    }

    // A fresh code in the same browser still works: the refusal was about age.
    let (code, a) = code_without_login(&browser, &idp, &rp1, &[]).await;
    rp1.exchange(&code, &a.verifier).await.expect("a fresh code is accepted");
});

dual_backend_test!(unknown_code_and_bad_grant_requests, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let r = token_raw(
        &idp,
        &f,
        &[("grant_type", "authorization_code"), ("code", "not-a-code"), ("redirect_uri", &f.redirect_uri)],
    )
    .await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
    let r = token_raw(&idp, &f, &[("grant_type", "password"), ("username", "member01"), ("password", "x")]).await;
    assert_eq!((r.status, r.error().as_str()), (400, "unsupported_grant_type"), "{}", r.body);
    let r = token_raw(&idp, &f, &[("code", "x")]).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"), "{}", r.body);
    let r = token_raw(&idp, &f, &[("grant_type", "authorization_code"), ("redirect_uri", &f.redirect_uri)]).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"), "{}", r.body);
    // A parameter given twice is refused (RFC 6749 §3.2).
    let body = "grant_type=refresh_token&refresh_token=a&refresh_token=b";
    let resp = reqwest::Client::new()
        .post(endpoint(&idp, &f.realm, "token"))
        .basic_auth(&f.client_id, Some(&f.client_secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status().as_u16(), 400);
    let v: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(v["error"], "invalid_request");
});

dual_backend_test!(token_responses_carry_no_store, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let rp1 = rp(&idp, &f).await;
    let browser = Browser::new();
    let a = rp1.authorize(&["profile"], &[]);
    let code = callback(&login_at(&browser, &idp, &f, &a.url).await, &f.redirect_uri)["code"].clone();

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
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(r.json()["token_type"], "Bearer");
    let rt = r.json()["refresh_token"].as_str().expect("refresh token").to_string();

    let r = refresh_raw(&idp, &f, &rt).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));

    let r = token_raw(&idp, &f, &[("grant_type", "client_credentials")]).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));

    // Errors too.
    let r = refresh_raw(&idp, &f, "garbage").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let r = post_form(
        &endpoint(&idp, &f.realm, "token"),
        &[("grant_type", "client_credentials")],
        Some((&f.client_id, "wrong-secret-0000000")),
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
});
