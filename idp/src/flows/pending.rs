//! A login that has not taken a step yet lives in its cookie, sealed with the master key
//! (AES-256-GCM), instead of in the database: the authorization request writes nothing and
//! neither view of the login page reads anything. The flow's row appears at its first step:
//! inserted under the id the cookie carries (the hash of the token sealed inside, so the
//! page's CSRF token stays valid), either with the next state, or, when that step finishes
//! the login, as the record that it is finished. A second submit of the same cookie then
//! conflicts on the row's key and loses (`Stale`), as a second submit of a stored flow loses
//! on its version. Login pages that are opened and abandoned (crawlers, a closed tab, a flood
//! of authorization requests) cost no row, and a password login makes three database round
//! trips fewer.
//!
//! Replaying a sealed cookie after its first step (the browser has the stored flow's token by
//! then) always ends `Stale`, whatever the password: the step's writes, a failure count
//! included, roll back with the conflicting insert, and the answer (back to the login page)
//! is the same for a right and a wrong password, so replays cannot be used to guess one.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::oidc::jose::SecretBox;
use crate::store::flows::FlowRow;

/// Marks a sealed flow cookie; a stored flow's cookie is a bare random token.
const PREFIX: &str = "s1.";
/// Browsers drop cookies over 4 KiB: a request that seals larger (long `state` or
/// `login_hint` values) keeps its row instead.
const MAX_COOKIE_LEN: usize = 3_500;
/// Binds the sealed bytes to this use of the master key.
const AAD: &[u8] = b"kenpo-idp pending login flow v1";

#[derive(Serialize, Deserialize)]
struct Sealed {
    token: String,
    realm_id: String,
    client_request: String,
    state: String,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

/// A flow opened from its cookie: the row it will be stored as, and its token.
#[derive(Debug, Clone)]
pub struct Pending {
    pub token: String,
    pub row: FlowRow,
}

/// The cookie value for a new flow that is not stored yet (`row.id` must be the hash of
/// `token`), or None when it would be too large for a cookie.
pub fn seal(sealer: &SecretBox, token: &str, row: &FlowRow) -> Option<String> {
    let sealed = Sealed {
        token: token.to_string(),
        realm_id: row.realm_id.clone(),
        client_request: row.client_request.clone(),
        state: row.state.clone(),
        created_at: row.created_at,
        expires_at: row.expires_at,
    };
    let plain = serde_json::to_vec(&sealed).ok()?;
    let bytes = sealer.seal(AAD, &plain).ok()?;
    let cookie = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    (cookie.len() <= MAX_COOKIE_LEN).then_some(cookie)
}

/// Whether a flow cookie is a sealed one (as opposed to a stored flow's token).
pub fn is_sealed(cookie: &str) -> bool {
    cookie.starts_with(PREFIX)
}

/// Opens a sealed flow cookie of `realm_id`; None for anything forged, tampered with, sealed
/// under another master key or for another realm.
pub fn open(sealer: &SecretBox, realm_id: &str, cookie: &str) -> Option<Pending> {
    let bytes = URL_SAFE_NO_PAD.decode(cookie.strip_prefix(PREFIX)?).ok()?;
    let plain = sealer.open(AAD, &bytes).ok()?;
    let s: Sealed = serde_json::from_slice(&plain).ok()?;
    if s.realm_id != realm_id {
        return None;
    }
    let row = FlowRow {
        id: kenpo_shared::crypto::token_hash(&s.token),
        realm_id: s.realm_id,
        client_request: s.client_request,
        state: s.state,
        version: 0,
        created_at: s.created_at,
        updated_at: s.created_at,
        expires_at: s.expires_at,
    };
    Some(Pending { token: s.token, row })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> SecretBox {
        SecretBox::new(&[byte; 32]).expect("key")
    }

    fn row(token: &str, client_request: String) -> FlowRow {
        let now = crate::store::now();
        FlowRow {
            id: kenpo_shared::crypto::token_hash(token),
            realm_id: "realm-1".into(),
            client_request,
            state: r#"{"credentials":{"notice":null}}"#.into(),
            version: 0,
            created_at: now,
            updated_at: now,
            expires_at: now + chrono::Duration::minutes(30),
        }
    }

    #[test]
    fn round_trip_keeps_the_row_and_its_id() {
        let box1 = sealer(1);
        let original = row("tok-123", r#"{"client_id":"portal"}"#.into());
        let cookie = seal(&box1, "tok-123", &original).expect("fits");
        assert!(is_sealed(&cookie));
        assert!(!is_sealed("tok-123"));
        let opened = open(&box1, "realm-1", &cookie).expect("opens");
        assert_eq!(opened.token, "tok-123");
        assert_eq!(opened.row.id, original.id);
        assert_eq!(opened.row.client_request, original.client_request);
        assert_eq!(opened.row.state, original.state);
        assert_eq!(opened.row.expires_at, original.expires_at);
        assert_eq!(opened.row.version, 0);
    }

    #[test]
    fn forged_tampered_foreign_or_other_realm_cookies_do_not_open() {
        let box1 = sealer(1);
        let cookie = seal(&box1, "tok", &row("tok", "{}".into())).expect("fits");
        assert!(open(&sealer(2), "realm-1", &cookie).is_none(), "another master key");
        assert!(open(&box1, "realm-2", &cookie).is_none(), "another realm");
        let mut tampered = cookie.clone().into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert!(open(&box1, "realm-1", &String::from_utf8(tampered).expect("ascii")).is_none(), "tampered");
        for junk in ["", "s1.", "s1.!!!", "tok", "s1.AAAA"] {
            assert!(open(&box1, "realm-1", junk).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn requests_too_large_for_a_cookie_are_not_sealed() {
        let big = format!(r#"{{"state":"{}"}}"#, "x".repeat(4_000));
        assert!(seal(&sealer(1), "tok", &row("tok", big)).is_none());
    }
}
