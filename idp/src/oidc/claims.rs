//! Which member data a client gets, by scope (OIDC Core §5.4), and the claims of each token.
//! Pure: no storage, no signing.

use serde_json::{Map, Value, json};

use crate::store::users::UserRow;

/// Scopes this IdP understands. Unknown scopes are ignored (RFC 6749 §3.3 lets the server
/// narrow the scope); the token response says which were granted.
pub const SUPPORTED_SCOPES: &[&str] = &["openid", "profile", "email", "insurance", "offline_access"];

pub const SUPPORTED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "acr",
    "amr",
    "azp",
    "sid",
    "preferred_username",
    "name",
    "family_name",
    "given_name",
    "family_name#ja-Kana-JP",
    "given_name#ja-Kana-JP",
    "birthdate",
    "email",
    "email_verified",
    "insurer_number",
    "card_symbol",
    "card_number",
];

/// The granted scopes: the requested ones we support, in request order, without duplicates.
pub fn granted_scopes(requested: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in requested {
        if SUPPORTED_SCOPES.contains(&s.as_str()) && !out.contains(s) {
            out.push(s.clone());
        }
    }
    out
}

/// Member claims released for `scopes` (used by the ID token and userinfo alike).
pub fn user_claims(user: &UserRow, scopes: &[String]) -> Map<String, Value> {
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let mut m = Map::new();
    m.insert("sub".into(), json!(user.id));
    // Relying parties configured for Keycloak read preferred_username with every token.
    m.insert("preferred_username".into(), json!(user.username));
    let mut put = |k: &str, v: &Option<String>| {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    };
    if has("profile") {
        put("name", &user.display_name());
        put("family_name", &user.family_name);
        put("given_name", &user.given_name);
        put("family_name#ja-Kana-JP", &user.family_kana);
        put("given_name#ja-Kana-JP", &user.given_kana);
        put("birthdate", &user.birthdate);
    }
    if has("email") {
        put("email", &user.email);
    }
    if has("insurance") {
        put("insurer_number", &user.insurer_number);
        put("card_symbol", &user.card_symbol);
        put("card_number", &user.card_number);
    }
    if has("email") && user.email.is_some() {
        m.insert("email_verified".into(), json!(user.email_verified));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserRow {
        UserRow::example()
    }

    #[test]
    fn scopes_release_only_their_claims() {
        let only_openid = user_claims(&user(), &["openid".into()]);
        assert_eq!(only_openid.len(), 2);
        assert!(!only_openid.contains_key("email"));
        let all = user_claims(
            &user(),
            &granted_scopes(&["openid".into(), "profile".into(), "email".into(), "insurance".into()]),
        );
        assert_eq!(all["name"], "健保 太郎");
        assert_eq!(all["family_name#ja-Kana-JP"], "ケンポ");
        assert_eq!(all["email_verified"], true);
        assert_eq!(all["insurer_number"], "06123456");
        assert_eq!(all["birthdate"], "1979-08-22");
    }

    #[test]
    fn granted_scopes_drop_unknown_and_duplicates() {
        let g = granted_scopes(&["openid".into(), "weird".into(), "email".into(), "openid".into()]);
        assert_eq!(g, vec!["openid".to_string(), "email".to_string()]);
    }
}
