-- Back to rowid tables: the same rebuild in the other direction.
CREATE TABLE session_clients_old (
    session_id TEXT NOT NULL REFERENCES sso_sessions(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (session_id, client_id)
);
INSERT INTO session_clients_old SELECT session_id, client_id, created_at FROM session_clients;
DROP TABLE session_clients;
ALTER TABLE session_clients_old RENAME TO session_clients;

CREATE TABLE auth_flows_old (
    id TEXT PRIMARY KEY,
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    client_request TEXT NOT NULL,
    state TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
);
INSERT INTO auth_flows_old SELECT id, realm_id, client_request, state, version, created_at, updated_at, expires_at FROM auth_flows;
DROP TABLE auth_flows;
ALTER TABLE auth_flows_old RENAME TO auth_flows;
CREATE INDEX auth_flows_expires ON auth_flows(expires_at);

CREATE TABLE auth_codes_old (
    code_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
);
INSERT INTO auth_codes_old SELECT code_hash, grant_id, redirect_uri, code_challenge, code_challenge_method, created_at, expires_at, used_at FROM auth_codes;
DROP TABLE auth_codes;
ALTER TABLE auth_codes_old RENAME TO auth_codes;

CREATE TABLE refresh_tokens_old (
    token_hash TEXT PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    rotated_at TIMESTAMP
);
INSERT INTO refresh_tokens_old SELECT token_hash, grant_id, created_at, expires_at, rotated_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_old RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);

CREATE TABLE audit_events_old (
    id TEXT PRIMARY KEY,
    realm_id TEXT,
    kind TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    ip TEXT,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
INSERT INTO audit_events_old SELECT id, realm_id, kind, user_id, client_id, ip, detail, created_at FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_old RENAME TO audit_events;
CREATE INDEX audit_events_realm_time ON audit_events(realm_id, created_at);
