//! Login flows in progress. Writes are optimistic: `save` only succeeds for the version that
//! was read, so two submits of the same page (two tabs, a double click, two IdP replicas)
//! cannot both advance the flow.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::auth_flows;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = auth_flows)]
pub struct FlowRow {
    pub id: String,
    pub realm_id: String,
    pub client_request: String,
    pub state: String,
    pub version: i64,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
}

pub fn insert(c: &mut AnyConnection, row: &FlowRow) -> Result<(), StoreError> {
    diesel::insert_into(auth_flows::table).values(row).execute(c)?;
    Ok(())
}

/// The flow by its cookie hash, expired or not (the caller tells the member it expired).
pub fn find(c: &mut AnyConnection, id: &str) -> Result<Option<FlowRow>, StoreError> {
    Ok(auth_flows::table.find(id).select(FlowRow::as_select()).first(c).optional()?)
}

/// Saves a new state if the stored version is still `expected_version`.
pub fn save(
    c: &mut AnyConnection,
    id: &str,
    expected_version: i64,
    state: &str,
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    let n = diesel::update(auth_flows::table.find(id).filter(auth_flows::version.eq(expected_version)))
        .set((
            auth_flows::state.eq(state),
            auth_flows::version.eq(expected_version + 1),
            auth_flows::updated_at.eq(now),
        ))
        .execute(c)?;
    if n == 1 { Ok(()) } else { Err(StoreError::Stale) }
}

/// Deletes the flow if it is still at `expected_version` (it is finished: one code per flow).
pub fn finish(c: &mut AnyConnection, id: &str, expected_version: i64) -> Result<(), StoreError> {
    let n = diesel::delete(auth_flows::table.find(id).filter(auth_flows::version.eq(expected_version))).execute(c)?;
    if n == 1 { Ok(()) } else { Err(StoreError::Stale) }
}
