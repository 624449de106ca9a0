//! Errors at the authorization endpoint: a bad client or redirect URI is a page for the member
//! (never a redirect: an open redirector otherwise); every other problem goes back to the
//! registered redirect URI with `error`, `state` and `iss` (RFC 9207).

use crate::common::*;
use kenpo_e2e::{Browser, TestIdp, dual_backend_test};

const REDIRECT_INVALID: &str = "戻り先のURLが登録されていません";
const REDIRECT_MISSING: &str = "ログイン要求に戻り先のURLがありません。";
const CLIENT_UNKNOWN: &str = "クライアントが登録されていません";

fn auth_url(idp: &TestIdp, realm: &str, pairs: &[(&str, &str)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    format!("{}?{q}", endpoint(idp, realm, "auth"))
}

dual_backend_test!(unregistered_or_missing_redirect_uri_is_a_page_not_a_redirect, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let bad = [
        "http://127.0.0.1:9/evil",
        "http://127.0.0.1:9/callback/",
        "http://127.0.0.1:9/callback/x",
        "http://127.0.0.1:9/callback?x=1",
        "http://127.0.0.1:9/Callback",
        "https://127.0.0.1:9/callback",
        "http://localhost:9/callback",
    ];
    for uri in bad {
        let url = auth_url(
            &idp,
            &f.realm,
            &[
                ("response_type", "code"),
                ("client_id", &f.client_id),
                ("redirect_uri", uri),
                ("scope", "openid"),
                ("state", "s"),
            ],
        );
        let page = browser.get(&url).await;
        assert_eq!(page.status, 400, "{uri}: {}", page.body);
        assert_eq!(page.location, None, "{uri} must not be redirected to");
        assert!(page.body.contains(REDIRECT_INVALID), "{uri}: {}", page.body);
        assert!(!page.body.contains(uri), "the page must not offer a link to {uri}");
    }

    let url = auth_url(&idp, &f.realm, &[("response_type", "code"), ("client_id", &f.client_id), ("scope", "openid")]);
    let page = browser.get(&url).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(page.location, None);
    assert!(page.body.contains(REDIRECT_MISSING), "{}", page.body);
});

dual_backend_test!(unknown_or_missing_client_is_a_page_not_a_redirect, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    for client in [Some("no-such-client"), None, Some("")] {
        let mut pairs = vec![
            ("response_type", "code"),
            ("redirect_uri", f.redirect_uri.as_str()),
            ("scope", "openid"),
            ("state", "s"),
        ];
        if let Some(c) = client {
            pairs.push(("client_id", c));
        }
        let page = browser.get(&auth_url(&idp, &f.realm, &pairs)).await;
        assert_eq!(page.status, 400, "{client:?}: {}", page.body);
        assert_eq!(page.location, None, "{client:?}");
        assert!(page.body.contains(CLIENT_UNKNOWN), "{client:?}: {}", page.body);
    }
    // A client of another realm is unknown here.
    let other = idp.seed();
    let rp_other = add_client(&idp, &other, "only-there", |_| {});
    let page = browser
        .get(&auth_url(
            &idp,
            &f.realm,
            &[
                ("response_type", "code"),
                ("client_id", "only-there"),
                ("redirect_uri", &rp_other.redirect_uri),
                ("scope", "openid"),
            ],
        ))
        .await;
    assert_eq!((page.status, page.location.as_deref()), (400, None), "{}", page.body);
    // An unknown realm is a 404.
    let page = browser
        .get(&auth_url(
            &idp,
            "no-such-realm",
            &[("response_type", "code"), ("client_id", "rp1"), ("redirect_uri", &f.redirect_uri), ("scope", "openid")],
        ))
        .await;
    assert_eq!((page.status, page.location.as_deref()), (404, None));
});

dual_backend_test!(other_errors_go_back_to_the_client_with_state_and_iss, |db| async move {
    let idp = TestIdp::start(&db);
    let f = idp.seed();
    let browser = Browser::new();
    let base = [("client_id", f.client_id.as_str()), ("redirect_uri", f.redirect_uri.as_str()), ("state", "xyz 1/2")];
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("response_type", "token"), ("scope", "openid")], "unsupported_response_type"),
        (vec![("response_type", "code id_token"), ("scope", "openid")], "unsupported_response_type"),
        (vec![("scope", "openid")], "invalid_request"),
        (vec![("response_type", "code"), ("scope", "profile email")], "invalid_scope"),
        (vec![("response_type", "code")], "invalid_scope"),
        (vec![("response_type", "code"), ("scope", "openid"), ("prompt", "bogus")], "invalid_request"),
        (vec![("response_type", "code"), ("scope", "openid"), ("prompt", "none login")], "invalid_request"),
        (vec![("response_type", "code"), ("scope", "openid"), ("max_age", "-5")], "invalid_request"),
        (
            vec![("response_type", "code"), ("scope", "openid"), ("request", "eyJhbGciOiJub25lIn0.e30.")],
            "request_not_supported",
        ),
        (
            vec![("response_type", "code"), ("scope", "openid"), ("request_uri", "https://rp.example/r")],
            "request_uri_not_supported",
        ),
        (
            vec![
                ("response_type", "code"),
                ("scope", "openid"),
                ("code_challenge", "short"),
                ("code_challenge_method", "S256"),
            ],
            "invalid_request",
        ),
    ];
    for (extra, expected) in cases {
        let mut pairs = base.to_vec();
        pairs.extend(extra.iter().copied());
        let page = browser.get(&auth_url(&idp, &f.realm, &pairs)).await;
        let q = callback(&page, &f.redirect_uri);
        assert_eq!(q.get("error").map(String::as_str), Some(expected), "{extra:?}: {q:?}");
        assert_eq!(q.get("state").map(String::as_str), Some("xyz 1/2"), "{extra:?}");
        assert_eq!(q.get("iss"), Some(&idp.issuer(&f.realm)), "{extra:?}");
        assert!(!q.contains_key("code"), "{extra:?}");
    }
    // Without state, no state comes back.
    let page = browser
        .get(&auth_url(
            &idp,
            &f.realm,
            &[
                ("client_id", &f.client_id),
                ("redirect_uri", &f.redirect_uri),
                ("response_type", "token"),
                ("scope", "openid"),
            ],
        ))
        .await;
    let q = callback(&page, &f.redirect_uri);
    assert_eq!(q.get("error").map(String::as_str), Some("unsupported_response_type"));
    assert!(!q.contains_key("state"));
});
