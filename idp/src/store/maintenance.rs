//! Removes what has expired. Runs periodically in every replica; deletes are idempotent.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{
    auth_codes, auth_flows, backchannel_outbox, refresh_tokens, revoked_tokens, sso_sessions, used_assertions,
};
use super::{AnyConnection, StoreError};

pub fn sweep(c: &mut AnyConnection, now: NaiveDateTime) -> Result<usize, StoreError> {
    let mut n = 0;
    // Flows are kept an hour past expiry so a member who comes back is told "expired", not "unknown".
    n += diesel::delete(auth_flows::table.filter(auth_flows::expires_at.lt(now - Duration::hours(1)))).execute(c)?;
    // Codes are kept a while after expiry so that a late replay is still recognised as one.
    n += diesel::delete(auth_codes::table.filter(auth_codes::expires_at.lt(now - Duration::hours(1)))).execute(c)?;
    n += diesel::delete(refresh_tokens::table.filter(refresh_tokens::expires_at.lt(now))).execute(c)?;
    n += diesel::delete(revoked_tokens::table.filter(revoked_tokens::expires_at.lt(now))).execute(c)?;
    n += diesel::delete(used_assertions::table.filter(used_assertions::expires_at.lt(now))).execute(c)?;
    n += diesel::delete(sso_sessions::table.filter(sso_sessions::expires_at.lt(now))).execute(c)?;
    n += diesel::delete(
        backchannel_outbox::table
            .filter(backchannel_outbox::delivered_at.is_not_null())
            .filter(backchannel_outbox::created_at.lt(now - Duration::days(7))),
    )
    .execute(c)?;
    n += super::factors::delete_expired(c, now)?;
    Ok(n)
}

/// Records a private_key_jwt assertion id; false when it was seen before (a replay).
pub fn use_assertion(c: &mut AnyConnection, jti_hash: &str, expires_at: NaiveDateTime) -> Result<bool, StoreError> {
    match diesel::insert_into(used_assertions::table)
        .values((used_assertions::jti_hash.eq(jti_hash), used_assertions::expires_at.eq(expires_at)))
        .execute(c)
        .map_err(StoreError::from)
    {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}
