//! The refresh_token grant: rotation, reuse detection revoking the whole family, binding to the
//! client, expiry.

use crate::common::*;
use kenpo_e2e::{TestIdp, dual_backend_test};
use openidconnect::{OAuth2TokenResponse, TokenResponse};

dual_backend_test!(refresh_rotates_and_reuse_revokes_the_family, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let first = s.claims();
    let (at0, rt0) = (s.access_token(), s.refresh_token());

    // Rotation: a new refresh token, a new access token, a new ID token for the same member.
    let t1 = s.rp.refresh(&rt0).await.expect("refresh");
    let rt1 = t1.refresh_token().expect("a new refresh token").secret().clone();
    let at1 = t1.access_token().secret().clone();
    assert_ne!(rt1, rt0);
    assert_ne!(at1, at0);
    let id1 = t1.id_token().expect("ID token on refresh (scope openid)");
    let again = s.rp.verify_id_token(id1, None);
    assert_eq!(again.subject(), first.subject());
    assert_eq!(again.auth_time(), first.auth_time(), "auth_time is the original authentication's");
    if let Some(n) = again.nonce() {
        assert_eq!(n.secret(), s.nonce.secret(), "a nonce on refresh must be the original one");
    }

    // The spent token is no longer active; its successor and both access tokens are.
    assert_eq!(introspect(&idp, &f, &rt0).await["active"], false);
    assert_eq!(introspect(&idp, &f, &rt1).await["active"], true);
    assert_eq!(introspect(&idp, &f, &at0).await["active"], true);
    assert_eq!(introspect(&idp, &f, &at1).await["active"], true);

    // Reuse of the spent token: refused, and the whole family is revoked.
    let err = s.rp.refresh(&rt0).await.expect_err("reuse of a rotated refresh token");
    assert_eq!(oauth_error(&err), "invalid_grant");
    let err = s.rp.refresh(&rt1).await.expect_err("the successor is revoked with the family");
    assert_eq!(oauth_error(&err), "invalid_grant");
    for t in [&at0, &at1, &rt1] {
        assert_eq!(introspect(&idp, &f, t).await, serde_json::json!({ "active": false }));
    }
    assert_eq!(userinfo(&idp, &f.realm, Some(&at1)).await.status, 401);
});

dual_backend_test!(refresh_chain_keeps_working_while_each_token_is_used_once, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    let mut rt = s.refresh_token();
    for _ in 0..3 {
        let r = refresh_raw(&idp, &f, &rt).await;
        assert_eq!(r.status, 200, "{}", r.body);
        let j = r.json();
        assert_eq!(j["token_type"], "Bearer");
        assert!(j["expires_in"].as_i64().is_some_and(|e| e > 0));
        let next = j["refresh_token"].as_str().expect("rotated refresh token").to_string();
        assert_ne!(next, rt);
        rt = next;
    }
    assert_eq!(introspect(&idp, &f, &rt).await["active"], true);
});

dual_backend_test!(refresh_token_is_bound_to_its_client, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let f2 = add_client(&idp, &f, "rp2", |_| {});
    let s = sign_in(&idp, &f).await;
    let rt = s.refresh_token();

    let r = refresh_raw(&idp, &f2, &rt).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
    // Not spent and not revoked by the other client's attempt: the owner still refreshes.
    assert_eq!(introspect(&idp, &f, &rt).await["active"], true);
    s.rp.refresh(&rt).await.expect("the owner's refresh still works");
});

dual_backend_test!(expired_refresh_token_is_refused, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let s = sign_in(&idp, &f).await;
    sql(&idp, "UPDATE refresh_tokens SET expires_at = '2000-01-01 00:00:00'").await;
    let err = s.rp.refresh(&s.refresh_token()).await.expect_err("expired refresh token");
    assert_eq!(oauth_error(&err), "invalid_grant");
    assert_eq!(introspect(&idp, &f, &s.refresh_token()).await["active"], false);
    let r = refresh_raw(&idp, &f, "unknown-refresh-token").await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
});
