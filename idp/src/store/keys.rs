use diesel::prelude::*;

use super::schema::signing_keys;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub kid: String,
    pub realm_id: String,
    pub alg: String,
    pub private_enc: Vec<u8>,
    pub public_jwk: String,
    pub status: String,
    pub created_at: chrono::NaiveDateTime,
}

pub fn insert(c: &mut AnyConnection, row: &KeyRow) -> Result<(), StoreError> {
    diesel::insert_into(signing_keys::table).values(row).execute(c)?;
    Ok(())
}

/// Active and retired keys of a realm, newest first. Retired keys still verify and are still
/// published until they are deleted, which gives relying parties time to pick up new keys.
pub fn for_realm(c: &mut AnyConnection, realm_id: &str) -> Result<Vec<KeyRow>, StoreError> {
    Ok(signing_keys::table
        .filter(signing_keys::realm_id.eq(realm_id))
        .order(signing_keys::created_at.desc())
        .select(KeyRow::as_select())
        .load(c)?)
}

pub fn set_status(c: &mut AnyConnection, kid: &str, status: &str) -> Result<(), StoreError> {
    diesel::update(signing_keys::table.find(kid)).set(signing_keys::status.eq(status)).execute(c)?;
    Ok(())
}

pub fn delete(c: &mut AnyConnection, kid: &str) -> Result<(), StoreError> {
    diesel::delete(signing_keys::table.find(kid)).execute(c)?;
    Ok(())
}
