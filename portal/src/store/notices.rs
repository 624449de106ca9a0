//! 「健診結果に関する注意事項」 acceptances, per member (IdP subject) and notice version: a new
//! version of the notice is shown again once.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::notice_acceptances;
use super::{AnyConnection, StoreError};

pub fn accepted(c: &mut AnyConnection, subject: &str, version: &str) -> Result<bool, StoreError> {
    let n: i64 = notice_acceptances::table
        .filter(notice_acceptances::subject.eq(subject))
        .filter(notice_acceptances::notice_version.eq(version))
        .count()
        .get_result(c)?;
    Ok(n > 0)
}

/// Records the acceptance; accepting twice (two tabs, two replicas) is not an error.
pub fn accept(c: &mut AnyConnection, subject: &str, version: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    let r = diesel::insert_into(notice_acceptances::table)
        .values((
            notice_acceptances::subject.eq(subject),
            notice_acceptances::notice_version.eq(version),
            notice_acceptances::accepted_at.eq(now),
        ))
        .execute(c);
    match r.map_err(StoreError::from) {
        Ok(_) => Ok(()),
        Err(e) if e.is_conflict() => Ok(()),
        Err(e) => Err(e),
    }
}
