use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{login_failures, users};
use super::users::UserRow;
use super::{AnyConnection, StoreError};
use crate::security::brute_force::FailureRecord;

type RecordColumns = (i32, NaiveDateTime, Option<NaiveDateTime>);

fn record((failures, last_failure_at, locked_until): RecordColumns) -> FailureRecord {
    FailureRecord { failures, last_failure_at, locked_until }
}

pub fn get(c: &mut AnyConnection, realm_id: &str, key: &str) -> Result<Option<FailureRecord>, StoreError> {
    let row: Option<RecordColumns> = login_failures::table
        .find((realm_id, key))
        .select((login_failures::failures, login_failures::last_failure_at, login_failures::locked_until))
        .first(c)
        .optional()?;
    Ok(row.map(record))
}

/// The failure record of a submitted user ID and the member with that ID, as a login reads
/// them: one query when the member exists (on PostgreSQL each query is a round trip). An ID
/// no member has keeps its counter too; that one is read on its own.
pub fn get_with_member(
    c: &mut AnyConnection,
    realm_id: &str,
    key: &str,
) -> Result<(Option<FailureRecord>, Option<UserRow>), StoreError> {
    let found: Option<(UserRow, Option<RecordColumns>)> = users::table
        .left_join(
            login_failures::table
                .on(login_failures::realm_id.eq(users::realm_id).and(login_failures::username_key.eq(key))),
        )
        .filter(users::realm_id.eq(realm_id))
        .filter(users::username.eq(key))
        .select((
            UserRow::as_select(),
            (login_failures::failures, login_failures::last_failure_at, login_failures::locked_until).nullable(),
        ))
        .first(c)
        .optional()?;
    match found {
        Some((user, rec)) => Ok((rec.map(record), Some(user))),
        None => Ok((get(c, realm_id, key)?, None)),
    }
}

/// Writes the record (insert or update; MultiConnection has no portable upsert).
pub fn put(c: &mut AnyConnection, realm_id: &str, key: &str, rec: &FailureRecord) -> Result<(), StoreError> {
    let n = diesel::update(login_failures::table.find((realm_id, key)))
        .set((
            login_failures::failures.eq(rec.failures),
            login_failures::last_failure_at.eq(rec.last_failure_at),
            login_failures::locked_until.eq(rec.locked_until),
        ))
        .execute(c)?;
    if n == 0 {
        diesel::insert_into(login_failures::table)
            .values((
                login_failures::realm_id.eq(realm_id),
                login_failures::username_key.eq(key),
                login_failures::failures.eq(rec.failures),
                login_failures::last_failure_at.eq(rec.last_failure_at),
                login_failures::locked_until.eq(rec.locked_until),
            ))
            .execute(c)?;
    }
    Ok(())
}

pub fn clear(c: &mut AnyConnection, realm_id: &str, key: &str) -> Result<(), StoreError> {
    diesel::delete(login_failures::table.find((realm_id, key))).execute(c)?;
    Ok(())
}
