use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::login_failures;
use super::{AnyConnection, StoreError};
use crate::security::brute_force::FailureRecord;

pub fn get(c: &mut AnyConnection, realm_id: &str, key: &str) -> Result<Option<FailureRecord>, StoreError> {
    let row: Option<(i32, NaiveDateTime, Option<NaiveDateTime>)> = login_failures::table
        .find((realm_id, key))
        .select((login_failures::failures, login_failures::last_failure_at, login_failures::locked_until))
        .first(c)
        .optional()?;
    Ok(row.map(|(failures, last_failure_at, locked_until)| FailureRecord { failures, last_failure_at, locked_until }))
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
