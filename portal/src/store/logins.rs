//! Logins in progress: the `state`, `nonce` and PKCE verifier of one authorization request,
//! found by the hash of a short-lived browser cookie and consumed by the callback (once).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::login_attempts;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = login_attempts)]
pub struct LoginRow {
    pub id: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
    pub return_to: String,
    pub max_age: Option<i64>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(c: &mut AnyConnection, row: &LoginRow) -> Result<(), StoreError> {
    diesel::insert_into(login_attempts::table).values(row).execute(c)?;
    Ok(())
}

/// Removes and returns the attempt: a callback can use it once, even if it is replayed.
pub fn take(c: &mut AnyConnection, id: &str, now: NaiveDateTime) -> Result<Option<LoginRow>, StoreError> {
    let row = login_attempts::table.find(id).select(LoginRow::as_select()).first(c).optional()?;
    let Some(row) = row else { return Ok(None) };
    let deleted = diesel::delete(login_attempts::table.find(id)).execute(c)?;
    Ok((deleted == 1 && row.expires_at > now).then_some(row))
}

pub fn delete_expired(c: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(login_attempts::table.filter(login_attempts::expires_at.le(now))).execute(c)?)
}
