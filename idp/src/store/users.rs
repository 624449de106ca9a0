use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use super::schema::users;
use super::{AnyConnection, StoreError, from_json, to_json};

/// A member account. Names follow SPEC §2; `username` is stored lowercased.
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub realm_id: String,
    pub username: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub family_kana: Option<String>,
    pub given_kana: Option<String>,
    pub birthdate: Option<String>,
    pub insurer_number: Option<String>,
    pub card_symbol: Option<String>,
    pub card_number: Option<String>,
    pub relationship: Option<String>,
    #[serde(skip)]
    pub password_hash: Option<String>,
    pub password_changed_at: Option<NaiveDateTime>,
    pub temporary_password: bool,
    pub status: String,
    pub required_actions: String,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub mfa_choice: Option<String>,
}

#[cfg(test)]
impl UserRow {
    /// A complete active member for unit tests (claims, factors): change what a test varies
    /// with struct update syntax.
    pub(crate) fn example() -> UserRow {
        let t = chrono::NaiveDateTime::default();
        UserRow {
            id: "u1".into(),
            realm_id: "r".into(),
            username: "kenpo001".into(),
            email: Some("t@example.jp".into()),
            email_verified: true,
            family_name: Some("健保".into()),
            given_name: Some("太郎".into()),
            family_kana: Some("ケンポ".into()),
            given_kana: Some("タロウ".into()),
            birthdate: Some("1979-08-22".into()),
            insurer_number: Some("06123456".into()),
            card_symbol: Some("12-3".into()),
            card_number: Some("456".into()),
            relationship: None,
            password_hash: None,
            password_changed_at: None,
            temporary_password: false,
            status: "active".into(),
            required_actions: "[]".into(),
            created_at: t,
            updated_at: t,
            mfa_choice: None,
        }
    }
}

impl UserRow {
    pub fn is_active(&self) -> bool {
        self.status == "active"
    }

    pub fn required_actions(&self) -> Result<Vec<String>, StoreError> {
        from_json("required_actions", &self.required_actions)
    }

    /// `name` claim: family name first, as Japanese names are written.
    pub fn display_name(&self) -> Option<String> {
        match (&self.family_name, &self.given_name) {
            (Some(f), Some(g)) => Some(format!("{f} {g}")),
            (Some(one), None) | (None, Some(one)) => Some(one.clone()),
            (None, None) => None,
        }
    }
}

pub fn insert(c: &mut AnyConnection, row: &UserRow) -> Result<(), StoreError> {
    diesel::insert_into(users::table).values(row).execute(c)?;
    Ok(())
}

pub fn find_by_username(c: &mut AnyConnection, realm_id: &str, username: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table
        .filter(users::realm_id.eq(realm_id))
        .filter(users::username.eq(username))
        .select(UserRow::as_select())
        .first(c)
        .optional()?)
}

pub fn find(c: &mut AnyConnection, id: &str) -> Result<Option<UserRow>, StoreError> {
    Ok(users::table.find(id).select(UserRow::as_select()).first(c).optional()?)
}

pub fn email_taken(
    c: &mut AnyConnection,
    realm_id: &str,
    email: &str,
    except_user: Option<&str>,
) -> Result<bool, StoreError> {
    let mut q =
        users::table.filter(users::realm_id.eq(realm_id)).filter(users::email.eq(email)).select(users::id).into_boxed();
    if let Some(id) = except_user {
        q = q.filter(users::id.ne(id.to_string()));
    }
    Ok(q.first::<String>(c).optional()?.is_some())
}

pub fn set_password_hash(
    c: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    temporary: bool,
    at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::update(users::table.find(user_id))
        .set((
            users::password_hash.eq(hash),
            users::password_changed_at.eq(at),
            users::temporary_password.eq(temporary),
            users::updated_at.eq(at),
        ))
        .execute(c)?;
    Ok(())
}

/// Replaces the hash only if it is still `old` (a concurrent password change wins).
pub fn upgrade_password_hash(c: &mut AnyConnection, user_id: &str, old: &str, new: &str) -> Result<(), StoreError> {
    diesel::update(users::table.find(user_id).filter(users::password_hash.eq(old)))
        .set(users::password_hash.eq(new))
        .execute(c)?;
    Ok(())
}

pub fn set_required_actions(c: &mut AnyConnection, user_id: &str, actions: &[String]) -> Result<(), StoreError> {
    diesel::update(users::table.find(user_id))
        .set((users::required_actions.eq(to_json(&actions)), users::updated_at.eq(super::now())))
        .execute(c)?;
    Ok(())
}

pub fn count_in_realm(c: &mut AnyConnection, realm_id: &str) -> Result<i64, StoreError> {
    Ok(users::table.filter(users::realm_id.eq(realm_id)).count().get_result(c)?)
}

/// Sets the member's e-mail; a different address is unverified until its link is clicked.
pub fn update_email(c: &mut AnyConnection, user_id: &str, email: &str, verified: bool) -> Result<(), StoreError> {
    diesel::update(users::table.find(user_id))
        .set((users::email.eq(email), users::email_verified.eq(verified), users::updated_at.eq(super::now())))
        .execute(c)?;
    Ok(())
}

/// Marks the address verified only if it is still the member's address.
pub fn mark_email_verified(c: &mut AnyConnection, user_id: &str, email: &str) -> Result<bool, StoreError> {
    let n = diesel::update(users::table.find(user_id).filter(users::email.eq(email)))
        .set((users::email_verified.eq(true), users::updated_at.eq(super::now())))
        .execute(c)?;
    Ok(n == 1)
}

/// Removes one action from the member's recorded required actions.
pub fn complete_action(c: &mut AnyConnection, user_id: &str, action: &str) -> Result<(), StoreError> {
    if let Some(u) = find(c, user_id)? {
        let remaining: Vec<String> =
            u.required_actions()?.into_iter().filter(|a| !a.eq_ignore_ascii_case(action)).collect();
        set_required_actions(c, user_id, &remaining)?;
    }
    Ok(())
}

/// Adds one action (idempotent).
pub fn require_action(c: &mut AnyConnection, user_id: &str, action: &str) -> Result<(), StoreError> {
    if let Some(u) = find(c, user_id)? {
        let mut actions = u.required_actions()?;
        if !actions.iter().any(|a| a.eq_ignore_ascii_case(action)) {
            actions.push(action.to_string());
            set_required_actions(c, user_id, &actions)?;
        }
    }
    Ok(())
}

pub fn set_username(c: &mut AnyConnection, user_id: &str, username: &str) -> Result<(), StoreError> {
    diesel::update(users::table.find(user_id))
        .set((users::username.eq(username), users::updated_at.eq(super::now())))
        .execute(c)?;
    Ok(())
}

pub fn set_mfa_choice(c: &mut AnyConnection, user_id: &str, choice: &str) -> Result<(), StoreError> {
    diesel::update(users::table.find(user_id))
        .set((users::mfa_choice.eq(choice), users::updated_at.eq(super::now())))
        .execute(c)?;
    Ok(())
}
