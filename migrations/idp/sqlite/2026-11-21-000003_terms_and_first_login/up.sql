-- Terms of use, versioned per realm; a new version must be accepted again by every member.
CREATE TABLE terms_versions (
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    body TEXT NOT NULL,
    published_at TIMESTAMP NOT NULL,
    PRIMARY KEY (realm_id, version)
);

CREATE TABLE terms_acceptances (
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    accepted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, version)
);

-- The second-factor method the member chose at first login (passkey, otp, email).
ALTER TABLE users ADD COLUMN mfa_choice TEXT;
