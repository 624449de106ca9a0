//! Client authentication at the token endpoint (client_secret_basic/post, private_key_jwt),
//! client_credentials, and per-client signing algorithms.

use crate::common::*;
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};
use kenpo_idp::oidc::client_auth::ASSERTION_TYPE;
use kenpo_idp::oidc::jose::{Alg, JwkSet, SigningKey};
use openidconnect::{AuthType, AuthorizationCode, OAuth2TokenResponse, PkceCodeVerifier, Scope, TokenResponse};
use serde_json::json;

dual_backend_test!(wrong_secret_is_invalid_client_and_does_not_burn_the_code, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let token = endpoint(&idp, &f.realm, "token");
    let browser = Browser::new();
    let good = rp(&idp, &f).await;
    let a = good.authorize(&[], &[]);
    let code = callback(&login_at(&browser, &idp, &f, &a.url).await, &f.redirect_uri)["code"].clone();
    let grant = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", f.redirect_uri.as_str()),
        ("code_verifier", a.verifier.secret().as_str()),
    ];

    // client_secret_basic with a wrong secret.
    let r = post_form(&token, &grant, Some((&f.client_id, "secret-wrong-wrong-wrong"))).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    let www = r.header("www-authenticate").expect("WWW-Authenticate on 401");
    assert!(www.starts_with("Basic "), "{www}");
    assert!(www.contains("invalid_client"), "{www}");
    assert!(r.json().get("access_token").is_none());

    // The same through the real RP.
    let wrong = rp_for(&idp, &f.realm, &f.client_id, Some("secret-wrong-wrong-wrong"), &f.redirect_uri).await;
    let err = wrong.exchange(&code, &a.verifier).await.expect_err("wrong secret");
    assert_eq!(oauth_error(&err), "invalid_client");

    // client_secret_post with a wrong secret, an unknown client, no credentials at all.
    let mut form = grant.to_vec();
    form.extend([("client_id", f.client_id.as_str()), ("client_secret", "secret-wrong-wrong-wrong")]);
    let r = post_form(&token, &form, None).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    let r = post_form(&token, &grant, Some(("no-such-client", &f.client_secret))).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    assert!(r.header("www-authenticate").is_some());
    let r = post_form(&token, &grant, None).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // A confidential client cannot act as a public one (client_id alone).
    let mut form = grant.to_vec();
    form.push(("client_id", f.client_id.as_str()));
    let r = post_form(&token, &form, None).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // Two methods at once: invalid_request.
    let mut form = grant.to_vec();
    form.extend([("client_id", f.client_id.as_str()), ("client_secret", f.client_secret.as_str())]);
    let r = post_form(&token, &form, Some((&f.client_id, &f.client_secret))).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"), "{}", r.body);

    // None of that spent the code: the real client still gets its tokens.
    let tokens = good.exchange(&code, &a.verifier).await.expect("the right secret works");
    good.verify_id_token(tokens.id_token().expect("id token"), Some(&a.nonce));
});

dual_backend_test!(client_secret_post_works_end_to_end, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed_with(|c| c.secret_post = true);
    let mut rp1 = rp(&idp, &f).await;
    rp1.client = rp1.client.set_auth_type(AuthType::RequestBody);
    let s = sign_in_with(&idp, &f, rp1, Browser::new(), &["profile"]).await;
    let t = s.rp.refresh(&s.refresh_token()).await.expect("refresh with client_secret_post");
    assert!(t.refresh_token().is_some());
    let cc =
        s.rp.client
            .exchange_client_credentials()
            .expect("token url")
            .request_async(&s.rp.http)
            .await
            .expect("client_credentials with client_secret_post");
    assert!(!cc.access_token().secret().is_empty());
});

dual_backend_test!(client_credentials_token_is_a_jwt_verifiable_against_jwks, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let rp1 = rp(&idp, &f).await;
    let t = rp1
        .client
        .exchange_client_credentials()
        .expect("token url")
        .add_scope(Scope::new("openid".into()))
        .add_scope(Scope::new("insurance".into()))
        .request_async(&rp1.http)
        .await
        .expect("client_credentials");
    assert!(t.refresh_token().is_none(), "no refresh token for client_credentials");
    assert!(t.id_token().is_none(), "no ID token without a member");
    let at = t.access_token().secret().clone();
    let (header, claims) = verify_with_realm_keys(&idp, &f.realm, &at).await;
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["alg"], "RS256");
    assert!(header["kid"].is_string());
    assert_eq!(claims["iss"], idp.issuer(&f.realm));
    assert_eq!(claims["sub"], f.client_id);
    assert_eq!(claims["client_id"], f.client_id);
    assert!(claims["exp"].as_i64() > claims["iat"].as_i64());
    let scope = claims["scope"].as_str().unwrap_or_default();
    assert!(!scope.split(' ').any(|s| s == "openid"), "member scopes mean nothing without a member: {scope}");

    let i = introspect(&idp, &f, &at).await;
    assert_eq!(i["active"], true, "{i}");
    assert_eq!(i["client_id"], f.client_id);
    assert!(i.get("username").is_none());
    // Not a member's token: no userinfo.
    assert_eq!(userinfo(&idp, &f.realm, Some(&at)).await.status, 401);
    // Revocation (RFC 7009) of a client token.
    let r = post_form(
        &endpoint(&idp, &f.realm, "revoke"),
        &[("token", &at), ("token_type_hint", "access_token")],
        Some((&f.client_id, &f.client_secret)),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(introspect(&idp, &f, &at).await, json!({ "active": false }));
});

dual_backend_test!(es256_client_gets_es256_signed_tokens, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed_with(|c| c.signing_alg = Some("ES256".into()));
    let s = sign_in(&idp, &f).await;
    // The RP verified the ID token against the JWKS already (sign_in); check the algorithm.
    let id = s.raw_id_token();
    assert_eq!(jwt_header(&id)["alg"], "ES256");
    assert_eq!(jwt_header(&id)["typ"], "JWT");
    let (h, c) = verify_with_realm_keys(&idp, &f.realm, &s.access_token()).await;
    assert_eq!(h["alg"], "ES256");
    assert_eq!(c["client_id"], f.client_id);
    // Refreshed tokens and client_credentials tokens too.
    let t = s.rp.refresh(&s.refresh_token()).await.expect("refresh");
    assert_eq!(jwt_header(t.access_token().secret())["alg"], "ES256");
    assert_eq!(jwt_header(&t.id_token().expect("id token").to_string())["alg"], "ES256");
    let r = token_raw(&idp, &f, &[("grant_type", "client_credentials")]).await;
    let at = r.json()["access_token"].as_str().expect("access token").to_string();
    assert_eq!(verify_with_realm_keys(&idp, &f.realm, &at).await.0["alg"], "ES256");
    // A default client in the same realm still gets RS256.
    let f2 = add_client(&idp, &f, "rs-client", |_| {});
    let r = token_raw(&idp, &f2, &[("grant_type", "client_credentials")]).await;
    let at = r.json()["access_token"].as_str().expect("access token").to_string();
    assert_eq!(jwt_header(&at)["alg"], "RS256");
});

fn assertion(key: &SigningKey, client_id: &str, aud: &str, exp: i64, jti: &str) -> String {
    let now = now_epoch();
    key.sign_jwt(&json!({ "iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": exp, "jti": jti }), None)
        .expect("sign assertion")
}

dual_backend_test!(private_key_jwt_client_authentication, |db| async move {
    let idp = TestIdp::start(&db);
    let key = SigningKey::generate(Alg::ES256, "rp-key-1".into()).expect("key");
    let jwks = serde_json::to_string(&JwkSet { keys: vec![key.public_jwk()] }).expect("jwks");
    let f = idp.seed_with(|c| {
        c.secret = None;
        c.jwks = Some(jwks.clone());
    });
    let token = endpoint(&idp, &f.realm, "token");
    let exp = now_epoch() + 120;
    let cc = |jwt: &str| {
        vec![
            ("grant_type".to_string(), "client_credentials".to_string()),
            ("client_assertion_type".to_string(), ASSERTION_TYPE.to_string()),
            ("client_assertion".to_string(), jwt.to_string()),
        ]
    };
    let send = |form: Vec<(String, String)>| {
        let token = token.clone();
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            post_form(&token, &pairs, None).await
        }
    };

    // The real RP: client_credentials with an assertion for the token endpoint.
    let rp1 = rp_for(&idp, &f.realm, &f.client_id, None, &f.redirect_uri).await;
    let jwt = assertion(&key, &f.client_id, &token, exp, "jti-1");
    let t = rp1
        .client
        .exchange_client_credentials()
        .expect("token url")
        .add_extra_param("client_assertion_type", ASSERTION_TYPE)
        .add_extra_param("client_assertion", jwt.clone())
        .request_async(&rp1.http)
        .await
        .expect("private_key_jwt client_credentials");
    assert_eq!(jwt_claims(t.access_token().secret())["sub"], f.client_id);

    // The same assertion again (same jti): refused.
    let r = send(cc(&jwt)).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // A new jti works (raw, to show the request shape is otherwise fine).
    let r = send(cc(&assertion(&key, &f.client_id, &token, exp, "jti-2"))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // Wrong audience.
    let r = send(cc(&assertion(&key, &f.client_id, "https://other.example/token", exp, "jti-3"))).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // Expired (well beyond any clock-skew leeway).
    let r = send(cc(&assertion(&key, &f.client_id, &token, now_epoch() - 600, "jti-4"))).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // Signed by a key the client did not register.
    let other = SigningKey::generate(Alg::ES256, "rp-key-1".into()).expect("key");
    let r = send(cc(&assertion(&other, &f.client_id, &token, exp, "jti-5"))).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // iss/sub of another client.
    let r = send(cc(&key
        .sign_jwt(&json!({ "iss": "someone", "sub": f.client_id, "aud": token, "exp": exp, "jti": "jti-6" }), None)
        .expect("sign")))
    .await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // Unsigned (alg none).
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let none = format!(
        "{}.{}.",
        b64(json!({ "alg": "none" })),
        b64(json!({ "iss": f.client_id, "sub": f.client_id, "aud": token, "exp": exp, "jti": "jti-7" }))
    );
    let r = send(cc(&none)).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // A secret instead of an assertion: this client has none.
    let r = post_form(&token, &[("grant_type", "client_credentials")], Some((&f.client_id, &f.client_secret))).await;
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"), "{}", r.body);
    // The issuer as audience is accepted too (RFC 7523 §3).
    let r = send(cc(&assertion(&key, &f.client_id, &idp.issuer(&f.realm), exp, "jti-8"))).await;
    assert_eq!(r.status, 200, "{}", r.body);

    // The code flow with private_key_jwt at the token endpoint, through the real RP.
    let browser = Browser::new();
    let a = rp1.authorize(&["profile"], &[]);
    let q = callback(&login_at(&browser, &idp, &f, &a.url).await, &f.redirect_uri);
    let tokens = rp1
        .client
        .exchange_code(AuthorizationCode::new(q["code"].clone()))
        .expect("token url")
        .set_pkce_verifier(PkceCodeVerifier::new(a.verifier.secret().clone()))
        .add_extra_param("client_assertion_type", ASSERTION_TYPE)
        .add_extra_param("client_assertion", assertion(&key, &f.client_id, &token, exp, "jti-9"))
        .request_async(&rp1.http)
        .await
        .expect("code exchange with private_key_jwt");
    rp1.verify_id_token(tokens.id_token().expect("id token"), Some(&a.nonce));
});
