//! Grants, authorization codes and refresh tokens. A grant is one authorization of a client
//! (by a member, or by the client itself); every code and refresh token belongs to one, and
//! revoking the grant revokes everything it issued. Codes and refresh tokens are stored only
//! as hashes, and single use is enforced with conditional updates, which are atomic on both
//! backends and across IdP replicas.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{auth_codes, grants, refresh_tokens, revoked_tokens};
use super::{AnyConnection, SpendOnce, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = grants)]
pub struct GrantRow {
    pub id: String,
    pub realm_id: String,
    pub client_id: String,
    pub user_id: Option<String>,
    pub session_id: Option<String>,
    pub sid: Option<String>,
    pub scope: String,
    pub nonce: Option<String>,
    pub auth_time: Option<NaiveDateTime>,
    pub amr: String,
    pub acr: String,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = auth_codes)]
pub struct CodeRow {
    pub code_hash: String,
    pub grant_id: String,
    pub redirect_uri: String,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub created_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn insert_grant_with_code(c: &mut AnyConnection, grant: &GrantRow, code: &CodeRow) -> Result<(), StoreError> {
    diesel::insert_into(grants::table).values(grant).execute(c)?;
    diesel::insert_into(auth_codes::table).values(code).execute(c)?;
    Ok(())
}

pub fn find_grant(c: &mut AnyConnection, id: &str) -> Result<Option<GrantRow>, StoreError> {
    Ok(grants::table.find(id).select(GrantRow::as_select()).first(c).optional()?)
}

/// Each of `ids` that is a live (not revoked) grant, with its member, keyed by grant id, in one
/// query: bearer-token checks (introspection, userinfo) need both, and on PostgreSQL every query
/// is a round trip, so concurrent checks are batched into one call (`state.grant_lookups`).
pub fn live_grants_with_users(
    c: &mut AnyConnection,
    ids: &[String],
) -> Result<Vec<(String, GrantWithUser)>, StoreError> {
    use super::schema::users;
    use super::users::UserRow;
    let live = grants::table
        .left_join(users::table.on(users::id.nullable().eq(grants::user_id)))
        .filter(grants::revoked_at.is_null())
        .select((GrantRow::as_select(), Option::<UserRow>::as_select()));
    let rows: Vec<GrantWithUser> = match ids {
        // One id (always, on SQLite): `=` keeps the statement prepared; SQLite's `IN (…)` is not.
        [id] => live.filter(grants::id.eq(id)).load(c)?,
        _ => live.filter(grants::id.eq_any(ids)).load(c)?,
    };
    Ok(rows.into_iter().map(|row| (row.0.id.clone(), row)).collect())
}

/// A grant with its member (`None` for a grant without one, or a member since deleted).
pub type GrantWithUser = (GrantRow, Option<super::users::UserRow>);

pub fn revoke_grant(c: &mut AnyConnection, id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(grants::table.find(id).filter(grants::revoked_at.is_null()))
        .set(grants::revoked_at.eq(now))
        .execute(c)?;
    Ok(())
}

/// Revokes every grant issued from an SSO session (logout ends what the session handed out).
pub fn revoke_for_session(c: &mut AnyConnection, session_id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(grants::table.filter(grants::session_id.eq(session_id)).filter(grants::revoked_at.is_null()))
        .set(grants::revoked_at.eq(now))
        .execute(c)?;
    Ok(())
}

/// What happened when a code was presented.
#[derive(Debug)]
pub enum CodeUse {
    /// First use: the code is now spent. The grant's member comes along (one query instead of
    /// three: each is a round trip on PostgreSQL).
    Fresh(CodeRow, GrantRow, Option<super::users::UserRow>),
    /// The code was used before: a replay. The caller revokes the grant.
    Replayed(GrantRow),
    Unknown,
}

pub fn use_code(c: &mut AnyConnection, code_hash: &str, now: NaiveDateTime) -> Result<CodeUse, StoreError> {
    use super::schema::users;
    use super::users::UserRow;
    let row: Option<(CodeRow, GrantRow, Option<UserRow>)> = auth_codes::table
        .inner_join(grants::table.on(grants::id.eq(auth_codes::grant_id)))
        .left_join(users::table.on(users::id.nullable().eq(grants::user_id)))
        .filter(auth_codes::code_hash.eq(code_hash))
        .select((CodeRow::as_select(), GrantRow::as_select(), Option::<UserRow>::as_select()))
        .first(c)
        .optional()?;
    let Some((code, grant, user)) = row else {
        return Ok(CodeUse::Unknown);
    };
    let spent = SpendOnce { table: "auth_codes", column: "used_at", key_column: "code_hash", key: code_hash, at: now }
        .execute(c)?;
    Ok(if spent == 1 { CodeUse::Fresh(code, grant, user) } else { CodeUse::Replayed(grant) })
}

pub fn insert_refresh(
    c: &mut AnyConnection,
    token_hash: &str,
    grant_id: &str,
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(token_hash),
            refresh_tokens::grant_id.eq(grant_id),
            refresh_tokens::created_at.eq(now),
            refresh_tokens::expires_at.eq(expires_at),
        ))
        .execute(c)?;
    Ok(())
}

#[derive(Debug)]
pub enum RefreshUse {
    /// Valid and now rotated: the caller issues a successor in the same transaction. The
    /// grant's member comes along (one query instead of three: each is a round trip on
    /// PostgreSQL).
    Rotated(GrantRow, Option<super::users::UserRow>),
    /// Presented after rotation: someone holds a copy. The caller revokes the family.
    Reused(GrantRow),
    Expired,
    Unknown,
}

pub fn rotate_refresh(c: &mut AnyConnection, token_hash: &str, now: NaiveDateTime) -> Result<RefreshUse, StoreError> {
    use super::schema::users;
    use super::users::UserRow;
    type Found = (NaiveDateTime, Option<NaiveDateTime>, GrantRow, Option<UserRow>);
    let row: Option<Found> = refresh_tokens::table
        .inner_join(grants::table.on(grants::id.eq(refresh_tokens::grant_id)))
        .left_join(users::table.on(users::id.nullable().eq(grants::user_id)))
        .filter(refresh_tokens::token_hash.eq(token_hash))
        .select((
            refresh_tokens::expires_at,
            refresh_tokens::rotated_at,
            GrantRow::as_select(),
            Option::<UserRow>::as_select(),
        ))
        .first(c)
        .optional()?;
    let Some((expires_at, rotated_at, grant, user)) = row else {
        return Ok(RefreshUse::Unknown);
    };
    if rotated_at.is_some() {
        return Ok(RefreshUse::Reused(grant));
    }
    if expires_at <= now {
        return Ok(RefreshUse::Expired);
    }
    let n =
        SpendOnce { table: "refresh_tokens", column: "rotated_at", key_column: "token_hash", key: token_hash, at: now }
            .execute(c)?;
    Ok(if n == 1 { RefreshUse::Rotated(grant, user) } else { RefreshUse::Reused(grant) })
}

/// The grant a live (not rotated, not expired) refresh token belongs to, without using it.
pub fn refresh_grant(
    c: &mut AnyConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> Result<Option<GrantRow>, StoreError> {
    let row: Option<String> = refresh_tokens::table
        .find(token_hash)
        .filter(refresh_tokens::rotated_at.is_null())
        .filter(refresh_tokens::expires_at.gt(now))
        .select(refresh_tokens::grant_id)
        .first(c)
        .optional()?;
    match row {
        Some(g) => find_grant(c, &g),
        None => Ok(None),
    }
}

pub fn revoke_jti(c: &mut AnyConnection, jti: &str, expires_at: NaiveDateTime) -> Result<(), StoreError> {
    match diesel::insert_into(revoked_tokens::table)
        .values((revoked_tokens::jti.eq(jti), revoked_tokens::expires_at.eq(expires_at)))
        .execute(c)
        .map_err(StoreError::from)
    {
        Ok(_) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Which of `jtis` (client tokens' ids) were revoked; batched like grants (`state.revoked_jtis`).
pub fn revoked_jtis(c: &mut AnyConnection, jtis: &[String]) -> Result<Vec<(String, ())>, StoreError> {
    let found: Vec<String> = match jtis {
        [jti] => revoked_tokens::table.filter(revoked_tokens::jti.eq(jti)).select(revoked_tokens::jti).load(c)?,
        _ => revoked_tokens::table.filter(revoked_tokens::jti.eq_any(jtis)).select(revoked_tokens::jti).load(c)?,
    };
    Ok(found.into_iter().map(|jti| (jti, ())).collect())
}
