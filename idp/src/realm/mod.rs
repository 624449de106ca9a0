//! Realms: one per union. A realm owns its members, clients, keys and every policy; the
//! policies live in one typed settings document (`RealmSettings`) so that `realm set KEY=VALUE`
//! and `realm show` work for every policy without a column per setting.

pub mod settings;
pub mod validate;

pub use settings::RealmSettings;

use serde::Serialize;

/// A realm as the rest of the IdP sees it: identity, display name and parsed settings.
#[derive(Debug, Clone, Serialize)]
pub struct Realm {
    pub id: String,
    pub name: String,
    pub display_name: String,
    pub settings: RealmSettings,
}

/// Realm names appear in every URL: keep them to a URL-safe, case-sensitive slug.
pub fn validate_realm_name(name: &str) -> Result<(), String> {
    let ok_len = (1..=64).contains(&name.len());
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok_len && ok_chars && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric()) {
        Ok(())
    } else {
        Err("realm name: 1-64 characters of a-z A-Z 0-9 - _, starting with a letter or digit".into())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn realm_names() {
        assert!(super::validate_realm_name("demo").is_ok());
        assert!(super::validate_realm_name("kenpo-01").is_ok());
        assert!(super::validate_realm_name("").is_err());
        assert!(super::validate_realm_name("-x").is_err());
        assert!(super::validate_realm_name("a/b").is_err());
        assert!(super::validate_realm_name("日本").is_err());
    }
}
