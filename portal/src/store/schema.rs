// The one schema of the portal, valid for both backends (portable types only). Dates are
// TEXT 'YYYY-MM-DD'; instants are UTC timestamps computed in Rust.

diesel::table! {
    portal_sessions (id) {
        id -> Text,
        sid -> Nullable<Text>,
        subject -> Text,
        name -> Text,
        insurer_number -> Nullable<Text>,
        card_symbol -> Nullable<Text>,
        card_number -> Nullable<Text>,
        birthdate -> Nullable<Text>,
        id_token -> Text,
        access_token -> Text,
        refresh_token -> Nullable<Text>,
        auth_time -> Timestamp,
        amr -> Text,
        csrf -> Text,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    login_attempts (id) {
        id -> Text,
        state -> Text,
        nonce -> Text,
        pkce_verifier -> Text,
        return_to -> Text,
        max_age -> Nullable<BigInt>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    checkup_results (id) {
        id -> Text,
        insurer_number -> Text,
        card_symbol -> Text,
        card_number -> Text,
        birthdate -> Text,
        checkup_date -> Text,
        item_code -> Text,
        value -> Text,
        unit -> Text,
        sex -> Nullable<Text>,
        imported_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    notice_acceptances (subject, notice_version) {
        subject -> Text,
        notice_version -> Text,
        accepted_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(portal_sessions, login_attempts, checkup_results, notice_acceptances);
