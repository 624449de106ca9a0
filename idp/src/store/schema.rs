// The one schema of the IdP, valid for both backends (portable types only). A test loads every
// table from both databases after migrating, so drift between this file and the SQL fails CI.

diesel::table! {
    realms (id) {
        id -> Text,
        name -> Text,
        display_name -> Text,
        settings -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        realm_id -> Text,
        alg -> Text,
        private_enc -> Binary,
        public_jwk -> Text,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    clients (id) {
        id -> Text,
        realm_id -> Text,
        client_id -> Text,
        kind -> Text,
        auth_method -> Text,
        secret_hash -> Nullable<Text>,
        jwks -> Nullable<Text>,
        redirect_uris -> Text,
        post_logout_redirect_uris -> Text,
        backchannel_logout_uri -> Nullable<Text>,
        signing_alg -> Text,
        grant_types -> Text,
        require_pkce -> Bool,
        created_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        realm_id -> Text,
        username -> Text,
        email -> Nullable<Text>,
        email_verified -> Bool,
        family_name -> Nullable<Text>,
        given_name -> Nullable<Text>,
        family_kana -> Nullable<Text>,
        given_kana -> Nullable<Text>,
        birthdate -> Nullable<Text>,
        insurer_number -> Nullable<Text>,
        card_symbol -> Nullable<Text>,
        card_number -> Nullable<Text>,
        relationship -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        password_changed_at -> Nullable<Timestamp>,
        temporary_password -> Bool,
        status -> Text,
        required_actions -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        mfa_choice -> Nullable<Text>,
    }
}

diesel::table! {
    sso_sessions (id) {
        id -> Text,
        sid -> Text,
        realm_id -> Text,
        user_id -> Text,
        auth_time -> Timestamp,
        amr -> Text,
        acr -> Text,
        remember_me -> Bool,
        created_at -> Timestamp,
        last_seen_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    session_clients (session_id, client_id) {
        session_id -> Text,
        client_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    auth_flows (id) {
        id -> Text,
        realm_id -> Text,
        client_request -> Text,
        state -> Text,
        version -> BigInt,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    grants (id) {
        id -> Text,
        realm_id -> Text,
        client_id -> Text,
        user_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        sid -> Nullable<Text>,
        scope -> Text,
        nonce -> Nullable<Text>,
        auth_time -> Nullable<Timestamp>,
        amr -> Text,
        acr -> Text,
        created_at -> Timestamp,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    auth_codes (code_hash) {
        code_hash -> Text,
        grant_id -> Text,
        redirect_uri -> Text,
        code_challenge -> Nullable<Text>,
        code_challenge_method -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Text,
        grant_id -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    used_assertions (jti_hash) {
        jti_hash -> Text,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    backchannel_outbox (id) {
        id -> Text,
        realm_id -> Text,
        client_id -> Text,
        uri -> Text,
        logout_token -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        delivered_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    login_failures (realm_id, username_key) {
        realm_id -> Text,
        username_key -> Text,
        failures -> Integer,
        last_failure_at -> Timestamp,
        locked_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_events (id) {
        id -> Text,
        realm_id -> Nullable<Text>,
        kind -> Text,
        user_id -> Nullable<Text>,
        client_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    mail_outbox (id) {
        id -> Text,
        realm_id -> Text,
        kind -> Text,
        to_address -> Text,
        from_address -> Text,
        subject -> Text,
        body_text -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_verifications (token_hash) {
        token_hash -> Text,
        realm_id -> Text,
        user_id -> Text,
        email -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    terms_versions (realm_id, version) {
        realm_id -> Text,
        version -> Integer,
        body -> Text,
        published_at -> Timestamp,
    }
}

diesel::table! {
    terms_acceptances (user_id, version) {
        user_id -> Text,
        version -> Integer,
        accepted_at -> Timestamp,
    }
}

diesel::table! {
    user_credentials (id) {
        id -> Text,
        realm_id -> Text,
        user_id -> Text,
        kind -> Text,
        label -> Text,
        secret_enc -> Nullable<Binary>,
        data -> Text,
        credential_key -> Nullable<Text>,
        last_used_step -> Nullable<BigInt>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    email_otps (flow_id) {
        flow_id -> Text,
        user_id -> Text,
        code_hash -> Text,
        tries -> Integer,
        sent_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    mfa_challenges (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        purpose -> Text,
        payload -> Binary,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    realms,
    signing_keys,
    clients,
    users,
    sso_sessions,
    session_clients,
    auth_flows,
    grants,
    auth_codes,
    refresh_tokens,
    revoked_tokens,
    used_assertions,
    backchannel_outbox,
    login_failures,
    audit_events,
    mail_outbox,
    email_verifications,
    terms_versions,
    terms_acceptances,
    user_credentials,
    recovery_codes,
    email_otps,
    mfa_challenges,
);
