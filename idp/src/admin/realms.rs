use super::AdminError;
use crate::oidc::keys::KeyRing;
use crate::realm::{Realm, RealmSettings, validate_realm_name};
use crate::store::{self, Store, write_tx};

pub fn create(store: &Store, keys: &KeyRing, name: &str, display_name: Option<&str>) -> Result<Realm, AdminError> {
    validate_realm_name(name).map_err(|m| AdminError::field("name", m))?;
    let display = display_name.unwrap_or(name).trim();
    if display.is_empty() || display.chars().count() > 100 || display.chars().any(char::is_control) {
        return Err(AdminError::field("display-name", "1-100 characters, no control characters"));
    }
    store
        .run_sync(|c| {
            write_tx(c, |c| {
                if store::realms::find_by_name(c, name)?.is_some() {
                    return Err(store::StoreError::Conflict("realm".into()));
                }
                let realm = store::realms::insert(c, name, display, &RealmSettings::default())?;
                keys.ensure_keys(c, &realm.id)?;
                Ok(realm)
            })
        })
        .map_err(|e| match e {
            store::StoreError::Conflict(_) => AdminError::Exists(format!("realm {name}")),
            other => other.into(),
        })
}

pub fn find(store: &Store, name: &str) -> Result<Realm, AdminError> {
    store
        .run_sync(|c| store::realms::find_by_name(c, name))?
        .ok_or_else(|| AdminError::NotFound(format!("realm {name}")))
}

/// Applies `KEY=VALUE` assignments all or nothing.
pub fn set(store: &Store, name: &str, assignments: &[String]) -> Result<Realm, AdminError> {
    let mut realm = find(store, name)?;
    let mut errors = Vec::new();
    for a in assignments {
        let Some((k, v)) = a.split_once('=') else {
            errors.push((a.clone(), "expected KEY=VALUE".to_string()));
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k == "display_name" {
            if v.is_empty() || v.chars().count() > 100 || v.chars().any(char::is_control) {
                errors.push((k.to_string(), "1-100 characters, no control characters".into()));
            } else {
                realm.display_name = v.to_string();
            }
            continue;
        }
        if let Err(e) = realm.settings.set(k, v) {
            errors.push((k.to_string(), e));
        }
    }
    if !errors.is_empty() {
        return Err(AdminError::Invalid(errors));
    }
    store.run_sync(|c| store::realms::update(c, &realm))?;
    Ok(realm)
}

/// `display_name` plus every policy, for `realm show`.
pub fn show(realm: &Realm) -> Vec<(String, String)> {
    let mut out =
        vec![("name".to_string(), realm.name.clone()), ("display_name".to_string(), realm.display_name.clone())];
    out.extend(realm.settings.entries());
    out
}

/// Startup: every realm has its signing keys.
pub fn ensure_all_keys(store: &Store, keys: &KeyRing) -> Result<(), AdminError> {
    store.run_sync(|c| {
        for r in store::realms::list(c)? {
            write_tx(c, |c| keys.ensure_keys(c, &r.id))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// Publishes the next version of the realm's terms of use.
pub fn publish_terms(store: &Store, name: &str, body: &str) -> Result<i32, AdminError> {
    let body = body.trim();
    if body.is_empty() || body.chars().count() > 200_000 || body.contains('\0') {
        return Err(AdminError::field("file", "1-200,000 characters of text, no NUL"));
    }
    let realm = find(store, name)?;
    Ok(store.run_sync(|c| {
        write_tx(c, |c| {
            let v = store::terms::publish(c, &realm.id, body, store::now())?;
            store::audit::record(
                c,
                store::audit::Event {
                    realm_id: Some(&realm.id),
                    kind: "terms_published",
                    detail: serde_json::json!({ "version": v }),
                    ..Default::default()
                },
            )?;
            Ok(v)
        })
    })?)
}
