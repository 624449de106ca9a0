use super::AdminError;
use crate::realm::validate::{self as v, FieldError, NamePart};
use crate::security::hasher::{self, HashProfile};
use crate::store::users::UserRow;
use crate::store::{self, Store, write_tx};
use crate::web::render::Pages;

#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub realm: String,
    pub username: String,
    pub password: kenpo_shared::secret::Secret,
    pub temporary: bool,
    pub email: Option<String>,
    pub email_verified: bool,
    pub birthdate: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub family_kana: Option<String>,
    pub given_kana: Option<String>,
    pub insurer_number: Option<String>,
    pub card_symbol: Option<String>,
    pub card_number: Option<String>,
}

/// Validates every field (all problems at once), hashes the password with the realm's profile
/// and writes the member in one transaction.
pub fn create(store: &Store, pages: &Pages, new: NewUser) -> Result<UserRow, AdminError> {
    let realm = super::realms::find(store, &new.realm)?;
    let mut errors: Vec<FieldError> = Vec::new();
    let username = v::normalize_username(&new.username).map_err(|e| errors.push(e)).ok();
    let password = match v::validate_password(
        &realm.settings.password.policy,
        username.as_deref().unwrap_or(""),
        new.password.expose(),
    ) {
        Ok(p) => Some(p),
        Err(es) => {
            errors.extend(es);
            None
        }
    };
    let email = match new.email.as_deref() {
        Some(e) => match v::normalize_email(e) {
            Ok(n) => Some(v::email_uniqueness_key(&n)),
            Err(es) => {
                errors.extend(es);
                None
            }
        },
        None => None,
    };
    let mut opt = |input: &Option<String>, f: &dyn Fn(&str) -> Result<String, FieldError>| -> Option<String> {
        input.as_deref().and_then(|s| f(s).map_err(|e| errors.push(e)).ok())
    };
    let family_name = opt(&new.family_name, &|s| v::normalize_name_part(NamePart::Family, s));
    let given_name = opt(&new.given_name, &|s| v::normalize_name_part(NamePart::Given, s));
    let family_kana = opt(&new.family_kana, &|s| v::normalize_kana_part(NamePart::Family, s));
    let given_kana = opt(&new.given_kana, &|s| v::normalize_kana_part(NamePart::Given, s));
    let insurer_number = opt(&new.insurer_number, &v::normalize_insurer_number);
    let card_symbol = opt(&new.card_symbol, &v::normalize_card_symbol);
    let card_number = opt(&new.card_number, &v::normalize_card_number);
    let birthdate = opt(&new.birthdate, &|s| {
        let d = v::parse_birthdate(s)?;
        v::check_birthdate_not_future(d, chrono::Utc::now().date_naive())?;
        Ok(d.format("%Y-%m-%d").to_string())
    });
    if !errors.is_empty() {
        return Err(AdminError::from_field_errors(&errors, pages, &realm.settings.password.policy));
    }
    let (Some(username), Some(password)) = (username, password) else {
        return Err(AdminError::field("username", "invalid"));
    };
    let hash = hasher::hash_now(HashProfile::parse(&realm.settings.password.hash), &password)
        .map_err(|_| AdminError::field("password", "could not be hashed"))?;
    let now = store::now();
    let row = UserRow {
        id: store::new_id(),
        realm_id: realm.id.clone(),
        username,
        email_verified: email.is_some() && new.email_verified,
        email,
        family_name,
        given_name,
        family_kana,
        given_kana,
        birthdate,
        insurer_number,
        card_symbol,
        card_number,
        relationship: None,
        password_hash: Some(hash),
        password_changed_at: Some(now),
        temporary_password: new.temporary,
        status: "active".into(),
        required_actions: first_login_actions(new.temporary),
        created_at: now,
        updated_at: now,
        mfa_choice: None,
    };
    let outcome = store.run_sync(|c| {
        write_tx(c, |c| {
            if store::users::find_by_username(c, &realm.id, &row.username)?.is_some() {
                return Ok(Err(FieldError::UsernameTaken));
            }
            if let Some(e) = &row.email
                && store::users::email_taken(c, &realm.id, e, None)?
            {
                return Ok(Err(FieldError::EmailInUse));
            }
            store::users::insert(c, &row)?;
            store::audit::record(
                c,
                store::audit::Event {
                    realm_id: Some(&realm.id),
                    kind: "user_created",
                    user_id: Some(&row.id),
                    detail: serde_json::json!({ "by": "admin", "temporary_password": row.temporary_password }),
                    ..Default::default()
                },
            )?;
            Ok(Ok(()))
        })
    });
    match outcome {
        Ok(Ok(())) => Ok(row),
        Ok(Err(e)) => Err(AdminError::from_field_errors(&[e], pages, &realm.settings.password.policy)),
        // A concurrent insert of the same user ID or e-mail loses on the unique index.
        Err(store::StoreError::Conflict(_)) => {
            Err(AdminError::from_field_errors(&[FieldError::UsernameTaken], pages, &realm.settings.password.policy))
        }
        Err(e) => Err(e.into()),
    }
}

/// Records a required action on a member (admin: e.g. "update password after a reset").
pub fn require_action(store: &Store, realm: &str, username: &str, action: &str) -> Result<(), AdminError> {
    use crate::flows::login::RequiredAction;
    let Some(action) = RequiredAction::parse(action) else {
        let known: Vec<&str> = RequiredAction::ALL.iter().map(|a| a.as_str()).collect();
        return Err(AdminError::field("action", format!("unknown action; one of {}", known.join(", "))));
    };
    let realm = super::realms::find(store, realm)?;
    let key = v::username_lookup_key(username);
    store
        .run_sync(|c| {
            write_tx(c, |c| {
                let Some(user) = store::users::find_by_username(c, &realm.id, &key)? else {
                    return Ok(false);
                };
                store::users::require_action(c, &user.id, action.as_str())?;
                store::audit::record(
                    c,
                    store::audit::Event {
                        realm_id: Some(&realm.id),
                        kind: "required_action_set",
                        user_id: Some(&user.id),
                        detail: serde_json::json!({ "action": action.as_str(), "by": "admin" }),
                        ..Default::default()
                    },
                )?;
                Ok(true)
            })
        })?
        .then_some(())
        .ok_or_else(|| AdminError::NotFound(format!("user {username} in realm {}", realm.name)))
}

/// One enrolled second factor, for `user factors`.
#[derive(Debug, Clone)]
pub struct FactorSummary {
    pub kind: String,
    pub label: String,
    pub created_at: chrono::NaiveDateTime,
    pub last_used_at: Option<chrono::NaiveDateTime>,
}

fn member_id(store: &Store, realm: &str, username: &str) -> Result<(String, String), AdminError> {
    let realm = super::realms::find(store, realm)?;
    let key = v::username_lookup_key(username);
    let rid = realm.id.clone();
    let user = store.run_sync(|c| store::users::find_by_username(c, &rid, &key))?;
    user.map(|u| (realm.id, u.id))
        .ok_or_else(|| AdminError::NotFound(format!("user {username} in realm {}", realm.name)))
}

/// The member's devices and how many unused recovery codes are left.
pub fn factors(store: &Store, realm: &str, username: &str) -> Result<(Vec<FactorSummary>, i64), AdminError> {
    let (_, uid) = member_id(store, realm, username)?;
    let (rows, unused) = store
        .run_sync(|c| Ok((store::factors::for_user(c, &uid)?, store::factors::unused_recovery_codes(c, &uid)?)))?;
    let list = rows
        .into_iter()
        .map(|r| FactorSummary { kind: r.kind, label: r.label, created_at: r.created_at, last_used_at: r.last_used_at })
        .collect();
    Ok((list, unused))
}

/// Removes every second factor and recovery code of a member (lost phone, union-verified by
/// other means) and clears the second-factor lockout; the member enrols again at the next
/// login (the method chosen earlier, or a new choice when the realm requires one).
pub fn reset_second_factors(store: &Store, realm: &str, username: &str) -> Result<usize, AdminError> {
    let (realm_id, uid) = member_id(store, realm, username)?;
    Ok(store.run_sync(|c| {
        write_tx(c, |c| {
            let rows = store::factors::for_user(c, &uid)?;
            for r in &rows {
                store::factors::delete_credential(c, &uid, &r.id)?;
            }
            store::factors::replace_recovery_codes(c, &uid, &[], store::now())?;
            store::failures::clear(c, &realm_id, &crate::flows::factors::lockout_key(&uid))?;
            store::audit::record(
                c,
                store::audit::Event {
                    realm_id: Some(&realm_id),
                    kind: "second_factors_reset",
                    user_id: Some(&uid),
                    detail: serde_json::json!({ "removed": rows.len(), "by": "admin" }),
                    ..Default::default()
                },
            )?;
            Ok(rows.len())
        })
    })?)
}

/// A union-issued account (temporary password) walks through SPEC §4 at its first login:
/// birthdate check (skipped when no birthdate is on record), user-ID change and method choice,
/// new password, e-mail. Terms of use are due whenever a version is unaccepted.
fn first_login_actions(temporary: bool) -> String {
    if temporary {
        r#"["VERIFY_BIRTHDATE","CHOOSE_USER_ID_AND_MFA","UPDATE_PASSWORD","VERIFY_EMAIL"]"#.into()
    } else {
        "[]".into()
    }
}
