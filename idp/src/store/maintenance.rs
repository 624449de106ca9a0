//! Removes what has expired. Runs periodically in every replica; deletes are idempotent.

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;

use super::schema::{
    auth_codes, auth_flows, backchannel_outbox, email_otps, mfa_challenges, refresh_tokens, revoked_tokens,
    sso_sessions, used_assertions,
};
use super::{AnyConnection, StoreError};

/// Deletes expired rows, at most `batch` of each kind per call: the caller repeats until it
/// returns 0. Small batches keep each call short, because on SQLite a call holds the store
/// (every request waits for it) and on PostgreSQL a long delete holds row locks.
pub fn sweep(c: &mut AnyConnection, now: NaiveDateTime, batch: i64) -> Result<usize, StoreError> {
    // The keys first, then DELETE … WHERE key IN (…): DELETE … LIMIT is not standard SQL.
    macro_rules! delete_some {
        ($table:ident, $key:ident, $expired:expr) => {{
            let keys: Vec<String> = $table::table.select($table::$key).filter($expired).limit(batch).load(c)?;
            // The condition again: a row changed in between (another replica) stays.
            if keys.is_empty() {
                0
            } else {
                diesel::delete($table::table.filter($table::$key.eq_any(keys)).filter($expired)).execute(c)?
            }
        }};
    }
    let mut n = 0;
    // Flows are kept an hour past expiry so a member who comes back is told "expired", not "unknown".
    n += delete_some!(auth_flows, id, auth_flows::expires_at.lt(now - Duration::hours(1)));
    // Codes are kept a while after expiry so that a late replay is still recognised as one.
    n += delete_some!(auth_codes, code_hash, auth_codes::expires_at.lt(now - Duration::hours(1)));
    n += delete_some!(refresh_tokens, token_hash, refresh_tokens::expires_at.lt(now));
    n += delete_some!(revoked_tokens, jti, revoked_tokens::expires_at.lt(now));
    n += delete_some!(used_assertions, jti_hash, used_assertions::expires_at.lt(now));
    n += delete_some!(sso_sessions, id, sso_sessions::expires_at.lt(now));
    n += delete_some!(
        backchannel_outbox,
        id,
        backchannel_outbox::delivered_at.is_not_null().and(backchannel_outbox::created_at.lt(now - Duration::days(7)))
    );
    n += delete_some!(mfa_challenges, id, mfa_challenges::expires_at.le(now));
    n += delete_some!(email_otps, flow_id, email_otps::expires_at.le(now));
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
