use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{clients, session_clients, sso_sessions};
use super::{AnyConnection, StoreError};

/// An SSO session. `id` is the SHA-256 of the cookie token; `sid` is the public identifier
/// that goes into tokens and logout tokens.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = sso_sessions)]
pub struct SessionRow {
    pub id: String,
    pub sid: String,
    pub realm_id: String,
    pub user_id: String,
    pub auth_time: NaiveDateTime,
    pub amr: String,
    pub acr: String,
    pub remember_me: bool,
    pub created_at: NaiveDateTime,
    pub last_seen_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(c: &mut AnyConnection, row: &SessionRow) -> Result<(), StoreError> {
    diesel::insert_into(sso_sessions::table).values(row).execute(c)?;
    Ok(())
}

/// A session that has not expired, by its cookie hash.
pub fn find_live(
    c: &mut AnyConnection,
    id: &str,
    realm_id: &str,
    now: NaiveDateTime,
) -> Result<Option<SessionRow>, StoreError> {
    Ok(sso_sessions::table
        .find(id)
        .filter(sso_sessions::realm_id.eq(realm_id))
        .filter(sso_sessions::expires_at.gt(now))
        .select(SessionRow::as_select())
        .first(c)
        .optional()?)
}

pub fn find_by_sid(c: &mut AnyConnection, sid: &str) -> Result<Option<SessionRow>, StoreError> {
    Ok(sso_sessions::table.filter(sso_sessions::sid.eq(sid)).select(SessionRow::as_select()).first(c).optional()?)
}

/// A fresh authentication on an existing session: new auth_time, methods and lifetime.
pub fn reauthenticate(c: &mut AnyConnection, row: &SessionRow) -> Result<(), StoreError> {
    diesel::update(sso_sessions::table.find(&row.id))
        .set((
            sso_sessions::auth_time.eq(row.auth_time),
            sso_sessions::amr.eq(&row.amr),
            sso_sessions::acr.eq(&row.acr),
            sso_sessions::remember_me.eq(row.remember_me),
            sso_sessions::last_seen_at.eq(row.last_seen_at),
            sso_sessions::expires_at.eq(row.expires_at),
        ))
        .execute(c)?;
    Ok(())
}

pub fn touch(c: &mut AnyConnection, id: &str, now: NaiveDateTime, expires_at: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(sso_sessions::table.find(id))
        .set((sso_sessions::last_seen_at.eq(now), sso_sessions::expires_at.eq(expires_at)))
        .execute(c)?;
    Ok(())
}

pub fn delete(c: &mut AnyConnection, id: &str) -> Result<(), StoreError> {
    diesel::delete(session_clients::table.filter(session_clients::session_id.eq(id))).execute(c)?;
    diesel::delete(sso_sessions::table.find(id)).execute(c)?;
    Ok(())
}

pub fn for_user(c: &mut AnyConnection, user_id: &str) -> Result<Vec<SessionRow>, StoreError> {
    Ok(sso_sessions::table.filter(sso_sessions::user_id.eq(user_id)).select(SessionRow::as_select()).load(c)?)
}

/// Records that `client_pk` received tokens from this session (for back-channel logout).
pub fn add_client(
    c: &mut AnyConnection,
    session_id: &str,
    client_pk: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    // One statement (a round trip on PostgreSQL); a second use by the same client changes
    // nothing, and unlike a failed plain INSERT it does not abort a PostgreSQL transaction.
    // ON CONFLICT is not part of diesel's common (multi-backend) dialect: per backend.
    let insert = diesel::insert_into(session_clients::table)
        .values((
            session_clients::session_id.eq(session_id),
            session_clients::client_id.eq(client_pk),
            session_clients::created_at.eq(now),
        ))
        .on_conflict_do_nothing();
    match c {
        AnyConnection::Sqlite(s) => insert.execute(s)?,
        AnyConnection::Postgres(p) => insert.execute(p)?,
    };
    Ok(())
}

/// The clients of a session that registered a back-channel logout URI: (client pk, uri).
pub fn backchannel_targets(
    c: &mut AnyConnection,
    session_id: &str,
) -> Result<Vec<(String, String, String)>, StoreError> {
    let rows: Vec<(String, String, Option<String>)> = session_clients::table
        .inner_join(clients::table.on(clients::id.eq(session_clients::client_id)))
        .filter(session_clients::session_id.eq(session_id))
        .select((clients::id, clients::client_id, clients::backchannel_logout_uri))
        .load(c)?;
    Ok(rows.into_iter().filter_map(|(pk, cid, uri)| uri.map(|u| (pk, cid, u))).collect())
}

pub fn count_live(c: &mut AnyConnection, now: NaiveDateTime) -> Result<i64, StoreError> {
    Ok(sso_sessions::table.filter(sso_sessions::expires_at.gt(now)).count().get_result(c)?)
}
