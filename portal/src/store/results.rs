//! Checkup results, keyed by insurance card + birthdate, checkup date and item. Import is
//! idempotent: a row already stored with the same value changes nothing, a corrected value
//! replaces the old one, and a whole file goes in one transaction (all or nothing).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::checkup_results as cr;
use super::{AnyConnection, StoreError, new_id, write_tx};
use crate::checkups::import::{MemberKey, ResultRow};

#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = cr)]
pub struct ResultRecord {
    pub checkup_date: String,
    pub item_code: String,
    pub value: String,
    pub unit: String,
    pub sex: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportSummary {
    pub inserted: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Every result of one member, oldest checkup first.
pub fn for_member(c: &mut AnyConnection, key: &MemberKey) -> Result<Vec<ResultRecord>, StoreError> {
    Ok(cr::table
        .filter(cr::insurer_number.eq(&key.insurer_number))
        .filter(cr::card_symbol.eq(&key.card_symbol))
        .filter(cr::card_number.eq(&key.card_number))
        .filter(cr::birthdate.eq(&key.birthdate))
        .order((cr::checkup_date.asc(), cr::item_code.asc()))
        .select(ResultRecord::as_select())
        .load(c)?)
}

pub fn count(c: &mut AnyConnection) -> Result<i64, StoreError> {
    Ok(cr::table.count().get_result(c)?)
}

/// Stores validated rows in one transaction.
pub fn import(c: &mut AnyConnection, rows: &[ResultRow], now: NaiveDateTime) -> Result<ImportSummary, StoreError> {
    write_tx(c, |c| {
        let mut s = ImportSummary::default();
        for r in rows {
            let date = r.checkup_date.format("%Y-%m-%d").to_string();
            let value = r.value.to_string();
            let sex = r.sex.map(|x| x.as_str().to_string());
            let m = &r.member;
            let existing: Option<(String, String, String, Option<String>)> = cr::table
                .filter(cr::insurer_number.eq(&m.insurer_number))
                .filter(cr::card_symbol.eq(&m.card_symbol))
                .filter(cr::card_number.eq(&m.card_number))
                .filter(cr::birthdate.eq(&m.birthdate))
                .filter(cr::checkup_date.eq(&date))
                .filter(cr::item_code.eq(&r.item_code))
                .select((cr::id, cr::value, cr::unit, cr::sex))
                .first(c)
                .optional()?;
            match existing {
                None => {
                    diesel::insert_into(cr::table)
                        .values((
                            cr::id.eq(new_id()),
                            cr::insurer_number.eq(&m.insurer_number),
                            cr::card_symbol.eq(&m.card_symbol),
                            cr::card_number.eq(&m.card_number),
                            cr::birthdate.eq(&m.birthdate),
                            cr::checkup_date.eq(&date),
                            cr::item_code.eq(&r.item_code),
                            cr::value.eq(&value),
                            cr::unit.eq(&r.unit),
                            cr::sex.eq(&sex),
                            cr::imported_at.eq(now),
                            cr::updated_at.eq(now),
                        ))
                        .execute(c)?;
                    s.inserted += 1;
                }
                Some((id, old_value, old_unit, old_sex)) => {
                    let new_sex = sex.or(old_sex.clone());
                    if old_value == value && old_unit == r.unit && old_sex == new_sex {
                        s.unchanged += 1;
                    } else {
                        diesel::update(cr::table.find(&id))
                            .set((
                                cr::value.eq(&value),
                                cr::unit.eq(&r.unit),
                                cr::sex.eq(&new_sex),
                                cr::updated_at.eq(now),
                            ))
                            .execute(c)?;
                        s.updated += 1;
                    }
                }
            }
        }
        Ok(s)
    })
}
