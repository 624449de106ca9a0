//! Back-channel logout tokens waiting for delivery. Rows are written in the logout transaction,
//! so a crash after the member's logout still delivers them; the sender retries with backoff.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::backchannel_outbox;
use super::{AnyConnection, StoreError, new_id};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = backchannel_outbox)]
pub struct OutboxRow {
    pub id: String,
    pub uri: String,
    pub logout_token: String,
    pub attempts: i32,
}

pub fn enqueue(
    c: &mut AnyConnection,
    realm_id: &str,
    client_pk: &str,
    uri: &str,
    token: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::insert_into(backchannel_outbox::table)
        .values((
            backchannel_outbox::id.eq(new_id()),
            backchannel_outbox::realm_id.eq(realm_id),
            backchannel_outbox::client_id.eq(client_pk),
            backchannel_outbox::uri.eq(uri),
            backchannel_outbox::logout_token.eq(token),
            backchannel_outbox::attempts.eq(0),
            backchannel_outbox::next_attempt_at.eq(now),
            backchannel_outbox::created_at.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

pub fn due(c: &mut AnyConnection, now: NaiveDateTime, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(backchannel_outbox::table
        .filter(backchannel_outbox::delivered_at.is_null())
        .filter(backchannel_outbox::next_attempt_at.le(now))
        .order(backchannel_outbox::next_attempt_at.asc())
        .limit(limit)
        .select(OutboxRow::as_select())
        .load(c)?)
}

/// Claims a row for one attempt by pushing its next attempt into the future; only one sender
/// (of several replicas) wins the claim.
pub fn claim(c: &mut AnyConnection, id: &str, attempts: i32, retry_at: NaiveDateTime) -> Result<bool, StoreError> {
    let n = diesel::update(
        backchannel_outbox::table
            .find(id)
            .filter(backchannel_outbox::attempts.eq(attempts))
            .filter(backchannel_outbox::delivered_at.is_null()),
    )
    .set((backchannel_outbox::attempts.eq(attempts + 1), backchannel_outbox::next_attempt_at.eq(retry_at)))
    .execute(c)?;
    Ok(n == 1)
}

pub fn delivered(c: &mut AnyConnection, id: &str, at: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(backchannel_outbox::table.find(id)).set(backchannel_outbox::delivered_at.eq(at)).execute(c)?;
    Ok(())
}

pub fn failed(c: &mut AnyConnection, id: &str, error: &str) -> Result<(), StoreError> {
    diesel::update(backchannel_outbox::table.find(id))
        .set(backchannel_outbox::last_error.eq(error.chars().take(500).collect::<String>()))
        .execute(c)?;
    Ok(())
}

pub fn pending_count(c: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(backchannel_outbox::table.filter(backchannel_outbox::delivered_at.is_null()).count().get_result(c)?)
}
