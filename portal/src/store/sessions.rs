//! Portal sessions: one row per signed-in browser, found by the hash of its cookie. The IdP's
//! tokens live here, server side; the browser holds only the random cookie.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::portal_sessions;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = portal_sessions)]
pub struct SessionRow {
    pub id: String,
    pub sid: Option<String>,
    pub subject: String,
    pub name: String,
    pub insurer_number: Option<String>,
    pub card_symbol: Option<String>,
    pub card_number: Option<String>,
    pub birthdate: Option<String>,
    pub id_token: String,
    pub access_token: String,
    pub refresh_token: Option<String>,
    pub auth_time: NaiveDateTime,
    pub amr: String,
    pub csrf: String,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(c: &mut AnyConnection, row: &SessionRow) -> Result<(), StoreError> {
    diesel::insert_into(portal_sessions::table).values(row).execute(c)?;
    Ok(())
}

/// A session by its cookie hash, expired or not (the caller tells "expired" from "unknown").
pub fn find(c: &mut AnyConnection, id: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(portal_sessions::table.find(id).select(SessionRow::as_select()).first(c).optional()?)
}

pub fn touch(c: &mut AnyConnection, id: &str, now: NaiveDateTime, expires_at: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(portal_sessions::table.find(id))
        .set((portal_sessions::last_seen_at.eq(now), portal_sessions::expires_at.eq(expires_at)))
        .execute(c)?;
    Ok(())
}

pub fn delete(c: &mut AnyConnection, id: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(portal_sessions::table.find(id)).execute(c)?)
}

/// Back-channel logout: every portal session of one IdP session.
pub fn delete_by_sid(c: &mut AnyConnection, sid: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(portal_sessions::table.filter(portal_sessions::sid.eq(sid))).execute(c)?)
}

/// Back-channel logout without `sid`: every portal session of the member.
pub fn delete_by_subject(c: &mut AnyConnection, subject: &str) -> Result<usize, StoreError> {
    Ok(diesel::delete(portal_sessions::table.filter(portal_sessions::subject.eq(subject))).execute(c)?)
}

pub fn delete_expired(c: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, StoreError> {
    Ok(diesel::delete(portal_sessions::table.filter(portal_sessions::expires_at.le(now))).execute(c)?)
}
