-- The tables every login writes and nothing references, rebuilt WITHOUT ROWID: a table with a
-- TEXT primary key is otherwise two b-trees (the rowid table and the key's index), and every
-- commit writes a page of each to the WAL and, at the checkpoint, to the file again. W6 wrote
-- ~24 pages per login; this removes five. Rows are copied, so flows, codes and refresh tokens
-- in use survive the upgrade. Tables that others reference (sso_sessions, grants) are left as
-- they are: dropping a parent table deletes its children through ON DELETE CASCADE.

CREATE TABLE session_clients_new (
    session_id TEXT NOT NULL REFERENCES sso_sessions(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES clients(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (session_id, client_id)
) WITHOUT ROWID;
INSERT INTO session_clients_new (session_id, client_id, created_at)
    SELECT session_id, client_id, created_at FROM session_clients;
DROP TABLE session_clients;
ALTER TABLE session_clients_new RENAME TO session_clients;

CREATE TABLE auth_flows_new (
    id TEXT PRIMARY KEY NOT NULL,      -- SHA-256 of the flow cookie token
    realm_id TEXT NOT NULL REFERENCES realms(id) ON DELETE CASCADE,
    client_request TEXT NOT NULL,      -- JSON: the validated authorization request
    state TEXT NOT NULL,               -- JSON: flows::login::LoginState
    version BIGINT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL
) WITHOUT ROWID;
INSERT INTO auth_flows_new (id, realm_id, client_request, state, version, created_at, updated_at, expires_at)
    SELECT id, realm_id, client_request, state, version, created_at, updated_at, expires_at FROM auth_flows;
DROP TABLE auth_flows;
ALTER TABLE auth_flows_new RENAME TO auth_flows;
CREATE INDEX auth_flows_expires ON auth_flows(expires_at);

CREATE TABLE auth_codes_new (
    code_hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT,
    code_challenge_method TEXT,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    used_at TIMESTAMP
) WITHOUT ROWID;
INSERT INTO auth_codes_new (code_hash, grant_id, redirect_uri, code_challenge, code_challenge_method, created_at, expires_at, used_at)
    SELECT code_hash, grant_id, redirect_uri, code_challenge, code_challenge_method, created_at, expires_at, used_at FROM auth_codes;
DROP TABLE auth_codes;
ALTER TABLE auth_codes_new RENAME TO auth_codes;

CREATE TABLE refresh_tokens_new (
    token_hash TEXT PRIMARY KEY NOT NULL,
    grant_id TEXT NOT NULL REFERENCES grants(id) ON DELETE CASCADE,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    rotated_at TIMESTAMP
) WITHOUT ROWID;
INSERT INTO refresh_tokens_new (token_hash, grant_id, created_at, expires_at, rotated_at)
    SELECT token_hash, grant_id, created_at, expires_at, rotated_at FROM refresh_tokens;
DROP TABLE refresh_tokens;
ALTER TABLE refresh_tokens_new RENAME TO refresh_tokens;
CREATE INDEX refresh_tokens_grant ON refresh_tokens(grant_id);

-- Audit ids are time-ordered (UUID v7) from this release on, so new rows append at the end of
-- the key's b-tree instead of landing on a random page of an ever-growing table.
CREATE TABLE audit_events_new (
    id TEXT PRIMARY KEY NOT NULL,
    realm_id TEXT,
    kind TEXT NOT NULL,
    user_id TEXT,
    client_id TEXT,
    ip TEXT,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
) WITHOUT ROWID;
INSERT INTO audit_events_new (id, realm_id, kind, user_id, client_id, ip, detail, created_at)
    SELECT id, realm_id, kind, user_id, client_id, ip, detail, created_at FROM audit_events;
DROP TABLE audit_events;
ALTER TABLE audit_events_new RENAME TO audit_events;
CREATE INDEX audit_events_realm_time ON audit_events(realm_id, created_at);
