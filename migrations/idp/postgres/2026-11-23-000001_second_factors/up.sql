-- Second factors (SPEC §5). One row per enrolled device: an authenticator app (kind 'otp'), a
-- passkey ('webauthn') or the member's e-mail address as an OTP channel ('email').
CREATE TABLE user_credentials (
    id TEXT PRIMARY KEY NOT NULL,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    -- The device name the member gave (「デバイス名」); unique per member across devices.
    label TEXT NOT NULL,
    -- OTP: the secret sealed with the master key (AES-256-GCM, the row id as associated data).
    secret_enc BYTEA,
    -- OTP: algorithm/digits/period as JSON; passkey: the serialised credential (public key).
    data TEXT NOT NULL,
    -- Passkey: the credential ID (base64url), unique in the realm.
    credential_key TEXT,
    -- OTP: the last accepted time step; a code is accepted once per device.
    last_used_step BIGINT,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP
);
CREATE INDEX user_credentials_user ON user_credentials (user_id);
CREATE UNIQUE INDEX user_credentials_label ON user_credentials (user_id, label) WHERE kind <> 'email';
CREATE UNIQUE INDEX user_credentials_key ON user_credentials (realm_id, credential_key);

-- Recovery codes: single use, stored as hashes only.
CREATE TABLE recovery_codes (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
CREATE UNIQUE INDEX recovery_codes_hash ON recovery_codes (user_id, code_hash);

-- E-mail one-time passwords: one live code per login flow, hashed, with its tries.
CREATE TABLE email_otps (
    flow_id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    tries INTEGER NOT NULL,
    sent_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);

-- Server-side state of an enrolment or a WebAuthn ceremony (pending TOTP secret, challenge),
-- sealed with the master key; taken once.
CREATE TABLE mfa_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT,
    purpose TEXT NOT NULL,
    payload BYTEA NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
