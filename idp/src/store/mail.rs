//! The mail outbox. `enqueue` is called inside the transaction of the change that needs the
//! mail, so the change and its mail commit or roll back together; the sender delivers later.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::mail_outbox;
use super::{AnyConnection, StoreError, new_id};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = mail_outbox)]
pub struct MailRow {
    pub id: String,
    pub realm_id: String,
    pub kind: String,
    pub to_address: String,
    pub from_address: String,
    pub subject: String,
    pub body_text: String,
    pub attempts: i32,
    pub next_attempt_at: NaiveDateTime,
    pub last_error: Option<String>,
    pub created_at: NaiveDateTime,
    pub sent_at: Option<NaiveDateTime>,
}

pub struct NewMail<'a> {
    pub realm_id: &'a str,
    pub kind: &'a str,
    pub to: &'a str,
    pub from: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
}

pub fn enqueue(c: &mut AnyConnection, m: NewMail<'_>, now: NaiveDateTime) -> Result<String, StoreError> {
    let row = MailRow {
        id: new_id(),
        realm_id: m.realm_id.into(),
        kind: m.kind.into(),
        to_address: m.to.into(),
        from_address: m.from.into(),
        subject: m.subject.into(),
        body_text: m.body_text.into(),
        attempts: 0,
        next_attempt_at: now,
        last_error: None,
        created_at: now,
        sent_at: None,
    };
    diesel::insert_into(mail_outbox::table).values(&row).execute(c)?;
    Ok(row.id)
}

pub fn due(c: &mut AnyConnection, now: NaiveDateTime, limit: i64) -> Result<Vec<MailRow>, StoreError> {
    Ok(mail_outbox::table
        .filter(mail_outbox::sent_at.is_null())
        .filter(mail_outbox::next_attempt_at.le(now))
        .order(mail_outbox::next_attempt_at.asc())
        .limit(limit)
        .select(MailRow::as_select())
        .load(c)?)
}

/// Claims one attempt (only one sender among replicas wins) and schedules the retry in case
/// this attempt dies with the process.
pub fn claim(c: &mut AnyConnection, id: &str, attempts: i32, retry_at: NaiveDateTime) -> Result<bool, StoreError> {
    let n = diesel::update(
        mail_outbox::table.find(id).filter(mail_outbox::attempts.eq(attempts)).filter(mail_outbox::sent_at.is_null()),
    )
    .set((mail_outbox::attempts.eq(attempts + 1), mail_outbox::next_attempt_at.eq(retry_at)))
    .execute(c)?;
    Ok(n == 1)
}

/// Marks a mail delivered. `forget_body`: the text held a one-time code or link, which has no
/// business staying in the database once the SMTP server has it.
pub fn sent(c: &mut AnyConnection, id: &str, at: NaiveDateTime, forget_body: bool) -> Result<(), StoreError> {
    if forget_body {
        diesel::update(mail_outbox::table.find(id))
            .set((mail_outbox::sent_at.eq(at), mail_outbox::body_text.eq("(delivered; text removed)")))
            .execute(c)?;
    } else {
        diesel::update(mail_outbox::table.find(id)).set(mail_outbox::sent_at.eq(at)).execute(c)?;
    }
    Ok(())
}

pub fn failed(c: &mut AnyConnection, id: &str, error: &str) -> Result<(), StoreError> {
    diesel::update(mail_outbox::table.find(id))
        .set(mail_outbox::last_error.eq(error.chars().take(500).collect::<String>()))
        .execute(c)?;
    Ok(())
}

/// Newest first, for the development mailbox page.
pub fn recent(c: &mut AnyConnection, limit: i64) -> Result<Vec<MailRow>, StoreError> {
    Ok(mail_outbox::table.order(mail_outbox::created_at.desc()).limit(limit).select(MailRow::as_select()).load(c)?)
}

pub fn find(c: &mut AnyConnection, id: &str) -> Result<Option<MailRow>, StoreError> {
    Ok(mail_outbox::table.find(id).select(MailRow::as_select()).first(c).optional()?)
}
