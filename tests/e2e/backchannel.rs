//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): a signed logout token POSTed
//! to every client of the ended session that registered a URI, delivered asynchronously so
//! that a client that is down never holds up the member's logout.

use std::collections::HashMap;

use crate::common::*;
use diesel::prelude::*;
use kenpo_e2e::{Fixture, TestIdp, dual_backend_test};
use kenpo_idp::store::schema::backchannel_outbox as outbox;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// (uri, attempts, last_error, delivered) of every queued notice.
async fn outbox_rows(idp: &TestIdp) -> Vec<(String, i32, Option<String>, bool)> {
    let rows: Vec<(String, i32, Option<String>, Option<chrono::NaiveDateTime>)> = idp
        .state
        .store
        .run(|c| {
            outbox::table
                .select((outbox::uri, outbox::attempts, outbox::last_error, outbox::delivered_at))
                .load(c)
                .map_err(Into::into)
        })
        .await
        .expect("outbox");
    rows.into_iter().map(|(u, a, e, d)| (u, a, e, d.is_some())).collect()
}

async fn logout_with_hint(idp: &TestIdp, f: &Fixture, s: &SignedIn) {
    let url = format!(
        "{}?id_token_hint={}&post_logout_redirect_uri={}&state=bc",
        endpoint(idp, &f.realm, "logout"),
        s.raw_id_token(),
        url_enc("http://127.0.0.1:9/bye")
    );
    let page = s.browser.get(&url).await;
    assert_eq!(page.status, 302, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("http://127.0.0.1:9/bye?state=bc"));
}

dual_backend_test!(backchannel_logout_token_is_delivered_and_verifies, |db| async move {
    let idp = TestIdp::start(&db);
    let rx = receiver().await;
    let bc_uri = rx.url("/bc");
    let f = idp.seed_with(|c| c.backchannel_logout_uri = Some(bc_uri.clone()));
    // A second client with a back-channel URI that never took part in the session.
    add_client(&idp, &f, "bystander", |c| c.backchannel_logout_uri = Some(rx.url("/bystander")));
    let s = sign_in(&idp, &f).await;
    let sid = s.sid();
    let sub = s.claims().subject().as_str().to_string();

    logout_with_hint(&idp, &f, &s).await;
    // Exactly the session's client was queued (in the logout transaction).
    let rows = outbox_rows(&idp).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, bc_uri);

    let mut got = None;
    for _ in 0..150 {
        if let Some(r) = rx.received().into_iter().next() {
            got = Some(r);
            break;
        }
        pause().await;
    }
    let (head, body) = got.expect("no back-channel logout request arrived");
    assert!(head.starts_with("POST /bc HTTP/1.1"), "{head}");
    assert!(head.to_ascii_lowercase().contains("content-type: application/x-www-form-urlencoded"), "{head}");
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let token = form.get("logout_token").unwrap_or_else(|| panic!("no logout_token in {body}"));
    let (h, c) = verify_with_realm_keys(&idp, &f.realm, token).await;
    assert_eq!(h["typ"], "logout+jwt");
    assert_eq!(c["iss"], idp.issuer(&f.realm));
    let aud_ok = c["aud"] == "rp1" || c["aud"] == serde_json::json!(["rp1"]);
    assert!(aud_ok, "aud: {}", c["aud"]);
    assert_eq!(c["sid"], sid.as_str());
    assert_eq!(c["sub"], sub.as_str());
    assert_eq!(c["events"][EVENT], serde_json::json!({}), "events: {}", c["events"]);
    assert!(c.get("nonce").is_none(), "a logout token must not contain a nonce");
    assert!(c["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(c["iat"].as_i64().is_some());
    assert!(c["exp"].as_i64() > c["iat"].as_i64());

    // Recorded as delivered, and only the one request was made.
    let mut delivered = false;
    for _ in 0..100 {
        if outbox_rows(&idp).await.iter().all(|r| r.3) {
            delivered = true;
            break;
        }
        pause().await;
    }
    assert!(delivered, "the notice was not marked delivered: {:?}", outbox_rows(&idp).await);
    let all = rx.received();
    assert_eq!(all.len(), 1, "{all:?}");
});

dual_backend_test!(backchannel_receiver_down_does_not_hold_up_logout, |db| async move {
    let idp = TestIdp::start(&db);
    let port = dead_port();
    let f = idp.seed_with(|c| c.backchannel_logout_uri = Some(format!("http://127.0.0.1:{port}/bc")));
    let s = sign_in(&idp, &f).await;
    let rt = s.refresh_token();

    logout_with_hint(&idp, &f, &s).await;
    let r = refresh_raw(&idp, &f, &rt).await;
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"), "{}", r.body);
    let a = s.rp.authorize(&[], &[]);
    assert!(is_login_page(&open(&s.browser, &idp, &a.url).await), "the session ended although the client is down");

    // The sender tried, failed, kept the notice for a retry.
    let mut rows = Vec::new();
    for _ in 0..150 {
        rows = outbox_rows(&idp).await;
        if rows.iter().any(|r| r.1 >= 1 && r.2.is_some()) {
            break;
        }
        pause().await;
    }
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (_, attempts, last_error, delivered) = &rows[0];
    assert!(*attempts >= 1 && last_error.is_some(), "no failed attempt recorded: {rows:?}");
    assert!(!delivered, "{rows:?}");
});
