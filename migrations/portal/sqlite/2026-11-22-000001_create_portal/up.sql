-- Portal tables. Timestamps are UTC, always computed in Rust. Dates are TEXT 'YYYY-MM-DD'.

-- A member signed in to the portal. `id` is the SHA-256 of the cookie token; the tokens from
-- the IdP stay here, never in the browser.
CREATE TABLE portal_sessions (
    id TEXT PRIMARY KEY,
    sid TEXT,                          -- the IdP's session id (back-channel logout finds rows by it)
    subject TEXT NOT NULL,             -- `sub` of the ID token
    name TEXT NOT NULL,
    insurer_number TEXT,
    card_symbol TEXT,
    card_number TEXT,
    birthdate TEXT,
    id_token TEXT NOT NULL,
    access_token TEXT NOT NULL,
    refresh_token TEXT,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,                 -- JSON array
    csrf TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX portal_sessions_sid ON portal_sessions(sid);
CREATE INDEX portal_sessions_expires ON portal_sessions(expires_at);

-- A login in progress: state, nonce and PKCE verifier, found by the hash of a browser cookie.
CREATE TABLE login_attempts (
    id TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    nonce TEXT NOT NULL,
    pkce_verifier TEXT NOT NULL,
    return_to TEXT NOT NULL,
    max_age BIGINT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX login_attempts_expires ON login_attempts(expires_at);

-- Checkup results as the union imports them, keyed by insurance card and birthdate.
CREATE TABLE checkup_results (
    id TEXT PRIMARY KEY,
    insurer_number TEXT NOT NULL,
    card_symbol TEXT NOT NULL,
    card_number TEXT NOT NULL,
    birthdate TEXT NOT NULL,
    checkup_date TEXT NOT NULL,
    item_code TEXT NOT NULL,
    value TEXT NOT NULL,
    unit TEXT NOT NULL,
    sex TEXT,
    imported_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (insurer_number, card_symbol, card_number, birthdate, checkup_date, item_code)
);

-- 「健診結果に関する注意事項」 accepted, per member and notice version.
CREATE TABLE notice_acceptances (
    subject TEXT NOT NULL,
    notice_version TEXT NOT NULL,
    accepted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (subject, notice_version)
);
