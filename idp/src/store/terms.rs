//! Terms of use: versions per realm and each member's acceptances.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{terms_acceptances, terms_versions};
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = terms_versions)]
pub struct TermsRow {
    pub realm_id: String,
    pub version: i32,
    pub body: String,
    pub published_at: NaiveDateTime,
}

pub fn current(c: &mut AnyConnection, realm_id: &str) -> Result<Option<TermsRow>, StoreError> {
    Ok(terms_versions::table
        .filter(terms_versions::realm_id.eq(realm_id))
        .order(terms_versions::version.desc())
        .select(TermsRow::as_select())
        .first(c)
        .optional()?)
}

/// Whether the realm has terms whose current version the member has not accepted: one query
/// (a login asks this every time; the text itself is not read).
pub fn due(c: &mut AnyConnection, realm_id: &str, user_id: &str) -> Result<bool, StoreError> {
    let latest: Option<(i32, Option<i32>)> = terms_versions::table
        .left_join(
            terms_acceptances::table
                .on(terms_acceptances::version.eq(terms_versions::version).and(terms_acceptances::user_id.eq(user_id))),
        )
        .filter(terms_versions::realm_id.eq(realm_id))
        .order(terms_versions::version.desc())
        .select((terms_versions::version, terms_acceptances::version.nullable()))
        .first(c)
        .optional()?;
    Ok(matches!(latest, Some((_, None))))
}

/// Publishes the next version; returns its number.
pub fn publish(c: &mut AnyConnection, realm_id: &str, body: &str, now: NaiveDateTime) -> Result<i32, StoreError> {
    let next = current(c, realm_id)?.map(|t| t.version + 1).unwrap_or(1);
    diesel::insert_into(terms_versions::table)
        .values((
            terms_versions::realm_id.eq(realm_id),
            terms_versions::version.eq(next),
            terms_versions::body.eq(body),
            terms_versions::published_at.eq(now),
        ))
        .execute(c)?;
    Ok(next)
}

pub fn accepted(c: &mut AnyConnection, user_id: &str, version: i32) -> Result<bool, StoreError> {
    Ok(terms_acceptances::table
        .find((user_id, version))
        .select(terms_acceptances::version)
        .first::<i32>(c)
        .optional()?
        .is_some())
}

pub fn accept(c: &mut AnyConnection, user_id: &str, version: i32, now: NaiveDateTime) -> Result<(), StoreError> {
    if !accepted(c, user_id, version)? {
        diesel::insert_into(terms_acceptances::table)
            .values((
                terms_acceptances::user_id.eq(user_id),
                terms_acceptances::version.eq(version),
                terms_acceptances::accepted_at.eq(now),
            ))
            .execute(c)?;
    }
    Ok(())
}
