//! Second factors at rest (SPEC §5): enrolled devices, recovery codes, e-mail codes and the
//! server-side state of enrolments and WebAuthn ceremonies. Secrets arrive here already sealed
//! or hashed; nothing in this module sees a plaintext secret.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::schema::{email_otps, mfa_challenges, recovery_codes, user_credentials};
use super::{AnyConnection, StoreError};

/// The kinds of `user_credentials.kind`.
pub const KIND_OTP: &str = "otp";
pub const KIND_PASSKEY: &str = "webauthn";
pub const KIND_EMAIL: &str = "email";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = user_credentials)]
pub struct CredentialRow {
    pub id: String,
    pub realm_id: String,
    pub user_id: String,
    pub kind: String,
    pub label: String,
    pub secret_enc: Option<Vec<u8>>,
    pub data: String,
    pub credential_key: Option<String>,
    pub last_used_step: Option<i64>,
    pub created_at: NaiveDateTime,
    pub last_used_at: Option<NaiveDateTime>,
}

pub fn insert_credential(c: &mut AnyConnection, row: &CredentialRow) -> Result<(), StoreError> {
    diesel::insert_into(user_credentials::table).values(row).execute(c)?;
    Ok(())
}

/// A member's devices, oldest first (the order of the picker).
pub fn for_user(c: &mut AnyConnection, user_id: &str) -> Result<Vec<CredentialRow>, StoreError> {
    Ok(user_credentials::table
        .filter(user_credentials::user_id.eq(user_id))
        .order((user_credentials::created_at.asc(), user_credentials::id.asc()))
        .select(CredentialRow::as_select())
        .load(c)?)
}

pub fn find_credential(c: &mut AnyConnection, id: &str) -> Result<Option<CredentialRow>, StoreError> {
    Ok(user_credentials::table.find(id).select(CredentialRow::as_select()).first(c).optional()?)
}

pub fn find_by_key(c: &mut AnyConnection, realm_id: &str, key: &str) -> Result<Option<CredentialRow>, StoreError> {
    Ok(user_credentials::table
        .filter(user_credentials::realm_id.eq(realm_id))
        .filter(user_credentials::credential_key.eq(key))
        .select(CredentialRow::as_select())
        .first(c)
        .optional()?)
}

pub fn label_taken(c: &mut AnyConnection, user_id: &str, label: &str) -> Result<bool, StoreError> {
    let n: i64 = user_credentials::table
        .filter(user_credentials::user_id.eq(user_id))
        .filter(user_credentials::kind.ne(KIND_EMAIL))
        .filter(user_credentials::label.eq(label))
        .count()
        .get_result(c)?;
    Ok(n > 0)
}

/// Accepts an OTP time step for a device once: true when `step` is later than every step
/// accepted before. Two concurrent submissions of the same code cannot both see true, because
/// the comparison and the write are one statement.
pub fn use_otp_step(c: &mut AnyConnection, id: &str, step: i64, now: NaiveDateTime) -> Result<bool, StoreError> {
    let n = diesel::update(
        user_credentials::table
            .filter(user_credentials::id.eq(id))
            .filter(user_credentials::last_used_step.is_null().or(user_credentials::last_used_step.lt(step))),
    )
    .set((user_credentials::last_used_step.eq(step), user_credentials::last_used_at.eq(now)))
    .execute(c)?;
    Ok(n == 1)
}

/// Saves a passkey's state after use (its counter lives inside `data`) unless another login
/// saved a newer state since `old` was read: the stored counter never moves backwards.
pub fn update_passkey(
    c: &mut AnyConnection,
    id: &str,
    old: &str,
    data: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(user_credentials::table.find(id).filter(user_credentials::data.eq(old)))
        .set((user_credentials::data.eq(data), user_credentials::last_used_at.eq(now)))
        .execute(c)?;
    Ok(n == 1)
}

pub fn touch(c: &mut AnyConnection, id: &str, now: NaiveDateTime) -> Result<(), StoreError> {
    diesel::update(user_credentials::table.find(id)).set(user_credentials::last_used_at.eq(now)).execute(c)?;
    Ok(())
}

pub fn delete_credential(c: &mut AnyConnection, user_id: &str, id: &str) -> Result<bool, StoreError> {
    let n = diesel::delete(
        user_credentials::table.filter(user_credentials::id.eq(id)).filter(user_credentials::user_id.eq(user_id)),
    )
    .execute(c)?;
    Ok(n == 1)
}

// --- recovery codes -------------------------------------------------------------------------

/// Replaces every recovery code of the member with a new set (hashes).
pub fn replace_recovery_codes(
    c: &mut AnyConnection,
    user_id: &str,
    hashes: &[String],
    now: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(c)?;
    for h in hashes {
        diesel::insert_into(recovery_codes::table)
            .values((
                recovery_codes::id.eq(super::new_id()),
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(h),
                recovery_codes::created_at.eq(now),
            ))
            .execute(c)?;
    }
    Ok(())
}

pub fn unused_recovery_codes(c: &mut AnyConnection, user_id: &str) -> Result<i64, StoreError> {
    Ok(recovery_codes::table
        .filter(recovery_codes::user_id.eq(user_id))
        .filter(recovery_codes::used_at.is_null())
        .count()
        .get_result(c)?)
}

/// Uses a recovery code once: true when an unused code with this hash existed and is now used.
pub fn use_recovery_code(
    c: &mut AnyConnection,
    user_id: &str,
    hash: &str,
    now: NaiveDateTime,
) -> Result<bool, StoreError> {
    let n = diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(c)?;
    Ok(n == 1)
}

// --- e-mail codes ---------------------------------------------------------------------------

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(treat_none_as_default_value = false)]
#[diesel(table_name = email_otps)]
pub struct EmailOtpRow {
    pub flow_id: String,
    pub user_id: String,
    pub code_hash: String,
    pub tries: i32,
    pub sent_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub used_at: Option<NaiveDateTime>,
}

pub fn email_otp(c: &mut AnyConnection, flow_id: &str) -> Result<Option<EmailOtpRow>, StoreError> {
    Ok(email_otps::table.find(flow_id).select(EmailOtpRow::as_select()).first(c).optional()?)
}

/// Stores the flow's new code, replacing the previous one (which stops working).
pub fn put_email_otp(c: &mut AnyConnection, row: &EmailOtpRow) -> Result<(), StoreError> {
    diesel::delete(email_otps::table.find(&row.flow_id)).execute(c)?;
    diesel::insert_into(email_otps::table).values(row).execute(c)?;
    Ok(())
}

/// Counts one try against the code; false when the code has no tries left (or is gone).
pub fn count_email_otp_try(c: &mut AnyConnection, flow_id: &str, max_tries: i32) -> Result<bool, StoreError> {
    let n = diesel::update(email_otps::table.find(flow_id).filter(email_otps::tries.lt(max_tries)))
        .set(email_otps::tries.eq(email_otps::tries + 1))
        .execute(c)?;
    Ok(n == 1)
}

/// Marks the code used once; false when it was used meanwhile.
pub fn use_email_otp(c: &mut AnyConnection, flow_id: &str, now: NaiveDateTime) -> Result<bool, StoreError> {
    let n = diesel::update(email_otps::table.find(flow_id).filter(email_otps::used_at.is_null()))
        .set(email_otps::used_at.eq(now))
        .execute(c)?;
    Ok(n == 1)
}

// --- ceremony state -------------------------------------------------------------------------

pub fn put_challenge(
    c: &mut AnyConnection,
    id: &str,
    user_id: Option<&str>,
    purpose: &str,
    payload: &[u8],
    now: NaiveDateTime,
    expires_at: NaiveDateTime,
) -> Result<(), StoreError> {
    diesel::delete(mfa_challenges::table.find(id)).execute(c)?;
    diesel::insert_into(mfa_challenges::table)
        .values((
            mfa_challenges::id.eq(id),
            mfa_challenges::user_id.eq(user_id),
            mfa_challenges::purpose.eq(purpose),
            mfa_challenges::payload.eq(payload),
            mfa_challenges::created_at.eq(now),
            mfa_challenges::expires_at.eq(expires_at),
        ))
        .execute(c)?;
    Ok(())
}

/// Reads a live challenge without using it up (the TOTP enrolment page shows the same secret
/// on every reload).
pub fn peek_challenge(
    c: &mut AnyConnection,
    id: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> Result<Option<Vec<u8>>, StoreError> {
    Ok(mfa_challenges::table
        .find(id)
        .filter(mfa_challenges::purpose.eq(purpose))
        .filter(mfa_challenges::expires_at.gt(now))
        .select(mfa_challenges::payload)
        .first(c)
        .optional()?)
}

/// Takes a live challenge: returns it and deletes it, so it answers once only. Run inside the
/// transaction that acts on it; a concurrent taker finds nothing.
pub fn take_challenge(
    c: &mut AnyConnection,
    id: &str,
    purpose: &str,
    now: NaiveDateTime,
) -> Result<Option<Vec<u8>>, StoreError> {
    let payload = peek_challenge(c, id, purpose, now)?;
    if payload.is_none() {
        return Ok(None);
    }
    let n = diesel::delete(mfa_challenges::table.find(id).filter(mfa_challenges::purpose.eq(purpose))).execute(c)?;
    Ok(if n == 1 { payload } else { None })
}
