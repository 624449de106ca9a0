//! Userinfo (OIDC Core §5.3), introspection (RFC 7662) and revocation (RFC 7009).

use crate::common::*;
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};
use openidconnect::AccessToken;
use serde_json::json;

dual_backend_test!(userinfo_returns_the_members_claims_for_the_scopes, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let id = s.claims();

    // The real RP: userinfo for `openid profile email`, subject checked against the ID token.
    let info: openidconnect::core::CoreUserInfoClaims =
        s.rp.client
            .user_info(AccessToken::new(s.access_token()), Some(id.subject().clone()))
            .expect("userinfo endpoint")
            .request_async(&s.rp.http)
            .await
            .expect("userinfo");
    assert_eq!(info.preferred_username().map(|u| u.as_str()), Some("member01"));
    assert_eq!(info.email().map(|e| e.as_str()), Some("member01@example.jp"));
    assert_eq!(info.email_verified(), Some(true));
    let name = info.name().and_then(|n| n.get(None)).map(|n| n.as_str().to_string());
    assert_eq!(name.as_deref(), Some("健保 太郎"));

    let r = userinfo(&idp, &f.realm, Some(&s.access_token())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let j = r.json();
    assert_eq!(j["sub"], id.subject().as_str());
    assert_eq!(j["family_name"], "健保");
    assert_eq!(j["given_name#ja-Kana-JP"], "タロウ");
    assert!(j["birthdate"].is_string());
    for k in ["insurer_number", "card_symbol", "card_number"] {
        assert!(j.get(k).is_none(), "{k} must not be released without the insurance scope: {j}");
    }

    // Scope `insurance`, without profile/email: the union data, and no profile or e-mail.
    let s2 = sign_in_with(&idp, &f, rp(&idp, &f).await, Browser::new(), &["insurance"]).await;
    let r = userinfo(&idp, &f.realm, Some(&s2.access_token())).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let j = r.json();
    assert_eq!(j["insurer_number"], "06139999");
    assert_eq!(j["card_symbol"], "1234");
    assert_eq!(j["card_number"], "56");
    assert_eq!(j["preferred_username"], "member01");
    for k in ["email", "email_verified", "name", "family_name", "birthdate"] {
        assert!(j.get(k).is_none(), "{k} released without its scope: {j}");
    }

    // POST with the token in the form body (RFC 6750 §2.2).
    let r = post_form(&endpoint(&idp, &f.realm, "userinfo"), &[("access_token", &s2.access_token())], None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["insurer_number"], "06139999");
});

dual_backend_test!(userinfo_refuses_missing_and_invalid_tokens, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;

    let r = userinfo(&idp, &f.realm, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("www-authenticate").is_some_and(|h| h.starts_with("Bearer")), "{:?}", r.headers);
    // RFC 6750 §3.1: no error code when the request carried no credentials at all.
    assert!(r.header("www-authenticate").is_some_and(|h| !h.contains("error=")), "{:?}", r.headers);

    for bad in ["garbage".to_string(), "a.b.c".to_string(), s.raw_id_token(), format!("{}x", s.access_token())] {
        let r = userinfo(&idp, &f.realm, Some(&bad)).await;
        assert_eq!(r.status, 401, "{bad}: {}", r.body);
        let www = r.header("www-authenticate").expect("WWW-Authenticate");
        assert!(www.starts_with("Bearer"), "{www}");
        assert!(www.contains("error=\"invalid_token\""), "{www}");
    }
    // A token of another realm is not valid here.
    let other = idp.seed();
    let so = sign_in(&idp, &other).await;
    assert_eq!(userinfo(&idp, &f.realm, Some(&so.access_token())).await.status, 401);
    // And the good one works.
    assert_eq!(userinfo(&idp, &f.realm, Some(&s.access_token())).await.status, 200);
});

dual_backend_test!(revoking_the_refresh_token_ends_userinfo_and_refresh, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let (at, rt) = (s.access_token(), s.refresh_token());

    // openidconnect refuses to send a revocation request over plain http (RFC 7009 wants
    // TLS), and the test IdP listens on http://127.0.0.1: the request is made raw, exactly as
    // the crate would build it (client_secret_basic, token, token_type_hint).
    let revoke = endpoint(&idp, &f.realm, "revoke");
    let r = post_form(
        &revoke,
        &[("token", &rt), ("token_type_hint", "refresh_token")],
        Some((&f.client_id, &f.client_secret)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control").as_deref(), Some("no-store"));
    let r = userinfo(&idp, &f.realm, Some(&at)).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(r.header("www-authenticate").is_some_and(|h| h.contains("invalid_token")));
    let err = s.rp.refresh(&rt).await.expect_err("revoked refresh token");
    assert_eq!(oauth_error(&err), "invalid_grant");
    assert_eq!(introspect(&idp, &f, &at).await, json!({ "active": false }));
    assert_eq!(introspect(&idp, &f, &rt).await, json!({ "active": false }));

    // Revoking again, or an unknown token: still 200 (RFC 7009 §2.2).
    let r = post_form(&revoke, &[("token", &rt)], Some((&f.client_id, &f.client_secret))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = post_form(&revoke, &[("token", "never-issued")], Some((&f.client_id, &f.client_secret))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Without client authentication: 401.
    let r = post_form(&revoke, &[("token", "never-issued")], None).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
});

dual_backend_test!(another_client_cannot_revoke_a_token, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let f2 = add_client(&idp, &f, "rp2", |_| {});
    let s = sign_in(&idp, &f).await;
    let revoke = endpoint(&idp, &f.realm, "revoke");
    for t in [s.refresh_token(), s.access_token()] {
        let r = post_form(&revoke, &[("token", &t)], Some((&f2.client_id, &f2.client_secret))).await;
        assert_eq!(r.status, 200, "{}", r.body);
    }
    assert_eq!(introspect(&idp, &f, &s.access_token()).await["active"], true);
    assert_eq!(userinfo(&idp, &f.realm, Some(&s.access_token())).await.status, 200);
    s.rp.refresh(&s.refresh_token()).await.expect("rp1's refresh token survives rp2's attempt");
});

dual_backend_test!(introspection_of_active_inactive_and_unauthenticated, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let sub = s.claims().subject().as_str().to_string();

    // Through the real RP.
    let i =
        s.rp.client
            .introspect(&AccessToken::new(s.access_token()))
            .request_async(&s.rp.http)
            .await
            .expect("introspection");
    use openidconnect::TokenIntrospectionResponse;
    assert!(i.active());
    assert_eq!(i.sub(), Some(sub.as_str()));
    assert_eq!(i.client_id().map(|c| c.as_str()), Some("rp1"));
    let scopes: Vec<String> = i.scopes().map(|v| v.iter().map(|s| s.to_string()).collect()).unwrap_or_default();
    assert_eq!(scopes, vec!["openid", "profile", "email"]);

    let j = introspect(&idp, &f, &s.access_token()).await;
    assert_eq!(j["active"], true);
    assert_eq!(j["sub"], sub.as_str());
    assert_eq!(j["client_id"], "rp1");
    assert_eq!(j["scope"], "openid profile email");
    assert_eq!(j["username"], "member01");
    assert_eq!(j["iss"], idp.issuer(&f.realm));
    assert_eq!(j["token_type"], "Bearer");
    // The refresh token.
    let j = introspect(&idp, &f, &s.refresh_token()).await;
    assert_eq!(j["active"], true, "{j}");
    assert_eq!(j["client_id"], "rp1");
    assert_eq!(j["sub"], sub.as_str());

    // Garbage, and an ID token (not a bearer credential): inactive, nothing else.
    for t in ["garbage".to_string(), "x.y.z".to_string(), s.raw_id_token()] {
        assert_eq!(introspect(&idp, &f, &t).await, json!({ "active": false }), "{t}");
    }

    // Without client authentication: 401 invalid_client with WWW-Authenticate.
    let url = endpoint(&idp, &f.realm, "token/introspect");
    let r = post_form(&url, &[("token", &s.access_token())], None).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    assert!(r.header("www-authenticate").is_some());
    assert!(r.json().get("active").is_none());
    let r = post_form(&url, &[("token", &s.access_token())], Some((&f.client_id, "secret-wrong-wrong-wrong"))).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // Missing token parameter.
    let r = post_form(&url, &[], Some((&f.client_id, &f.client_secret))).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"), "{}", r.body);
});
