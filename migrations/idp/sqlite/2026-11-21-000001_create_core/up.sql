-- Core tables of the IdP. Timestamps are UTC, always computed in Rust.
CREATE TABLE realms (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    settings TEXT NOT NULL,            -- JSON: every realm policy (realm::RealmSettings)
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    alg TEXT NOT NULL,
    private_enc BLOB NOT NULL,        -- PKCS#8, AES-256-GCM sealed with the master key
    public_jwk TEXT NOT NULL,
    status TEXT NOT NULL,              -- active | retired
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX signing_keys_realm ON signing_keys(realm_id);

CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    kind TEXT NOT NULL,                -- confidential | public
    auth_method TEXT NOT NULL,         -- client_secret_basic | client_secret_post | private_key_jwt | none
    secret_hash TEXT,                  -- SHA-256 of a high-entropy secret (never a slow hash)
    jwks TEXT,                         -- JSON JWK set for private_key_jwt
    redirect_uris TEXT NOT NULL,       -- JSON array
    post_logout_redirect_uris TEXT NOT NULL,
    backchannel_logout_uri TEXT,
    signing_alg TEXT NOT NULL,         -- RS256 | ES256
    grant_types TEXT NOT NULL,         -- JSON array
    require_pkce BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (realm_id, client_id)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    username TEXT NOT NULL,            -- lowercased
    email TEXT,
    email_verified BOOLEAN NOT NULL,
    family_name TEXT,
    given_name TEXT,
    family_kana TEXT,
    given_kana TEXT,
    birthdate TEXT,                    -- YYYY-MM-DD
    insurer_number TEXT,
    card_symbol TEXT,
    card_number TEXT,
    relationship TEXT,
    password_hash TEXT,
    password_changed_at TIMESTAMP,
    temporary_password BOOLEAN NOT NULL,
    status TEXT NOT NULL,              -- active | disabled | locked
    required_actions TEXT NOT NULL,    -- JSON array
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (realm_id, username),
    UNIQUE (realm_id, email)
);

CREATE TABLE sso_sessions (
    id TEXT PRIMARY KEY,               -- SHA-256 of the cookie token
    sid TEXT NOT NULL UNIQUE,          -- public session id (the `sid` claim)
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    auth_time TIMESTAMP NOT NULL,
    amr TEXT NOT NULL,                 -- JSON array
    acr TEXT NOT NULL,
    remember_me BOOLEAN NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sso_sessions_user ON sso_sessions(user_id);
CREATE INDEX sso_sessions_expires ON sso_sessions(expires_at);

CREATE TABLE session_clients (
    session_id TEXT NOT NULL REFERENCES sso_sessions(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (session_id, client_id)
);

CREATE TABLE auth_flows (
    id TEXT PRIMARY KEY,               -- SHA-256 of the flow cookie token
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    client_request TEXT NOT NULL,      -- JSON: the validated authorization request
    state TEXT NOT NULL,               -- JSON: flows::login::LoginState
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX auth_flows_expires ON auth_flows(expires_at);

-- One grant per authorization (code exchange or refresh family). Revoking it revokes every
-- token it issued: refresh tokens by lookup, JWT access tokens at introspection/userinfo.
CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
    session_id TEXT,                   -- sso_sessions.id; not a foreign key: offline use survives logout rules later
    sid TEXT,
    scope TEXT NOT NULL,
    nonce TEXT,
    auth_time TIMESTAMP,
    amr TEXT NOT NULL,
    acr TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP
);
CREATE INDEX grants_session ON grants(session_id);
CREATE INDEX grants_user ON grants(user_id);

CREATE TABLE auth_codes (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    rotated_at TIMESTAMP
);
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);

-- Revoked JWT access tokens that belong to no grant (client_credentials), until they expire.
CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at TIMESTAMP NOT NULL
);

-- private_key_jwt assertions are single use: their jti is kept until the assertion expires.
CREATE TABLE used_assertions (
    jti_hash TEXT PRIMARY KEY,
    expires_at TIMESTAMP NOT NULL
);

-- Back-channel logout tokens waiting for delivery (written in the logout transaction).
CREATE TABLE backchannel_outbox (
    id TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL,
    client_id TEXT NOT NULL,
    uri TEXT NOT NULL,
    logout_token TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    delivered_at TIMESTAMP
);
CREATE INDEX backchannel_outbox_due ON backchannel_outbox(delivered_at, next_attempt_at);

-- Failed password attempts per submitted user ID (whether or not it exists).
CREATE TABLE login_failures (
    realm_id TEXT NOT NULL,
    username_key TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_failure_at TIMESTAMP NOT NULL,
    locked_until TIMESTAMP,
    PRIMARY KEY (realm_id, username_key)
);

CREATE TABLE audit_events (
    id TEXT PRIMARY KEY,
    realm_id TEXT,
    kind TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    ip TEXT,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_events_realm_time ON audit_events(realm_id, created_at);
