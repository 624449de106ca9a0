//! E-mail verification links: only the SHA-256 of the token is stored.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::email_verifications;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = email_verifications)]
pub struct VerificationRow {
    pub token_hash: String,
    pub realm_id: String,
    pub user_id: String,
    pub email: String,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert(c: &mut AnyConnection, row: &VerificationRow) -> Result<(), StoreError> {
    diesel::insert_into(email_verifications::table).values(row).execute(c)?;
    Ok(())
}

pub fn find(c: &mut AnyConnection, token_hash: &str) -> Result<Option<VerificationRow>, StoreError> {
    Ok(email_verifications::table.find(token_hash).select(VerificationRow::as_select()).first(c).optional()?)
}

/// Spends the link; false when it was already used (a concurrent click wins once).
pub fn use_once(c: &mut AnyConnection, token_hash: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    let n = diesel::update(email_verifications::table.find(token_hash).filter(email_verifications::used_at.is_null()))
        .set(email_verifications::used_at.eq(now))
        .execute(c)?;
    Ok(n == 1)
}

/// A newer link replaces the older ones of the same member.
pub fn expire_for_user(c: &mut AnyConnection, user_id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(
        email_verifications::table
            .filter(email_verifications::user_id.eq(user_id))
            .filter(email_verifications::used_at.is_null()),
    )
    .set(email_verifications::expires_at.eq(now))
    .execute(c)?;
    Ok(())
}
