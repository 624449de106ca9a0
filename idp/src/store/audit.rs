//! Audit events: who did what, when. Written in the same transaction as the change they describe.

use diesel::prelude::*;

use super::schema::audit_events;
use super::{AnyConnection, StoreError, new_ordered_id, now};

#[derive(Debug, Default)]
pub struct Event<'a> {
    pub realm_id: Option<&'a str>,
    pub kind: &'a str,
    pub user_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// Free-form JSON. Never a password, token or secret.
    pub detail: serde_json::Value,
}

pub fn record(c: &mut AnyConnection, e: Event<'_>) -> Result<(), StoreError> {
    diesel::insert_into(audit_events::table)
        .values((
            audit_events::id.eq(new_ordered_id()),
            audit_events::realm_id.eq(e.realm_id),
            audit_events::kind.eq(e.kind),
            audit_events::user_id.eq(e.user_id),
            audit_events::client_id.eq(e.client_id),
            audit_events::ip.eq(e.ip),
            audit_events::detail.eq(e.detail.to_string()),
            audit_events::created_at.eq(now()),
        ))
        .execute(c)?;
    Ok(())
}

pub fn kinds_for_user(c: &mut AnyConnection, user_id: &str) -> Result<Vec<String>, StoreError> {
    Ok(audit_events::table
        .filter(audit_events::user_id.eq(user_id))
        .order(audit_events::created_at.asc())
        .select(audit_events::kind)
        .load(c)?)
}
