use diesel::prelude::*;

use super::schema::realms;
use super::{AnyConnection, StoreError, from_json, new_id, now};
use crate::realm::{Realm, RealmSettings};

#[derive(Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = realms)]
struct RealmRow {
    id: String,
    name: String,
    display_name: String,
    settings: String,
    created_at: chrono::NaiveDateTime,
    updated_at: chrono::NaiveDateTime,
}

impl TryFrom<RealmRow> for Realm {
    type Error = StoreError;
    fn try_from(r: RealmRow) -> Result<Realm, StoreError> {
        let settings: RealmSettings = from_json("realm settings", &r.settings)?;
        Ok(Realm { id: r.id, name: r.name, display_name: r.display_name, settings })
    }
}

pub fn insert(
    c: &mut AnyConnection,
    name: &str,
    display_name: &str,
    settings: &RealmSettings,
) -> Result<Realm, StoreError> {
    let t = now();
    let row = RealmRow {
        id: new_id(),
        name: name.to_string(),
        display_name: display_name.to_string(),
        settings: settings.to_json(),
        created_at: t,
        updated_at: t,
    };
    diesel::insert_into(realms::table).values(&row).execute(c)?;
    Realm::try_from(row)
}

pub fn find_by_name(c: &mut AnyConnection, name: &str) -> Result<Option<Realm>, StoreError> {
    realms::table
        .filter(realms::name.eq(name))
        .select(RealmRow::as_select())
        .first(c)
        .optional()?
        .map(Realm::try_from)
        .transpose()
}

pub fn list(c: &mut AnyConnection) -> Result<Vec<Realm>, StoreError> {
    realms::table
        .order(realms::name.asc())
        .select(RealmRow::as_select())
        .load(c)?
        .into_iter()
        .map(Realm::try_from)
        .collect()
}

pub fn update(c: &mut AnyConnection, realm: &Realm) -> Result<(), StoreError> {
    let n = diesel::update(realms::table.find(&realm.id))
        .set((
            realms::display_name.eq(&realm.display_name),
            realms::settings.eq(realm.settings.to_json()),
            realms::updated_at.eq(now()),
        ))
        .execute(c)?;
    if n == 1 { Ok(()) } else { Err(StoreError::NotFound) }
}
