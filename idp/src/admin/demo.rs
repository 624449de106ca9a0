//! The demo realm `start-dev` seeds into an empty database, so a newcomer can sign in at once.
//! The README lists these credentials; they exist only in development databases.

use super::AdminError;
use super::clients::NewClient;
use super::users::NewUser;
use crate::state::AppState;
use crate::store;
use kenpo_shared::secret::Secret;

pub const REALM: &str = "demo";
pub const PORTAL_CLIENT_ID: &str = "kenpo-portal";
pub const PORTAL_CLIENT_SECRET: &str = "portal-dev-secret-change-me";
pub const PORTAL_URL: &str = "http://localhost:8081";
pub const MEMBER_USERNAME: &str = "demo0001";
pub const MEMBER_PASSWORD: &str = "Kenpo!demo2026";

pub fn seed_if_empty(st: &AppState) -> Result<bool, AdminError> {
    if !st.store.run_sync(store::realms::list)?.is_empty() {
        return Ok(false);
    }
    super::realms::create(&st.store, &st.keys, REALM, Some("デモ健保組合 加入者ページ"))?;
    super::realms::set(&st.store, REALM, &[format!("login.portal_url={PORTAL_URL}/")])?;
    super::clients::create(
        &st.store,
        NewClient {
            realm: REALM.into(),
            client_id: PORTAL_CLIENT_ID.into(),
            redirect_uris: vec![format!("{PORTAL_URL}/callback")],
            secret: Some(PORTAL_CLIENT_SECRET.into()),
            post_logout_redirect_uris: vec![format!("{PORTAL_URL}/")],
            backchannel_logout_uri: Some(format!("{PORTAL_URL}/backchannel-logout")),
            ..Default::default()
        },
    )?;
    super::users::create(
        &st.store,
        &st.pages,
        NewUser {
            realm: REALM.into(),
            username: MEMBER_USERNAME.into(),
            password: Secret::new(MEMBER_PASSWORD),
            email: Some("demo0001@example.jp".into()),
            email_verified: true,
            birthdate: Some("19790822".into()),
            family_name: Some("健保".into()),
            given_name: Some("太郎".into()),
            family_kana: Some("ケンポ".into()),
            given_kana: Some("タロウ".into()),
            insurer_number: Some("06139999".into()),
            card_symbol: Some("1234".into()),
            card_number: Some("56".into()),
            ..Default::default()
        },
    )?;
    tracing::info!(realm = REALM, member = MEMBER_USERNAME, "demo realm, portal client and member created");
    Ok(true)
}
