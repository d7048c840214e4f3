-- 0007: authorization codes and refresh tokens, stored only as SHA-256 hashes.
CREATE TABLE authorization_codes (
    code_hash      BLOB PRIMARY KEY NOT NULL,
    client_id      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce          TEXT,
    auth_time      INTEGER NOT NULL,
    acr            TEXT,
    claims         TEXT,                -- the OIDC claims request, JSON
    expires_at     INTEGER NOT NULL,
    used_at        INTEGER
) WITHOUT ROWID;

CREATE TABLE refresh_tokens (
    token_hash    BLOB PRIMARY KEY NOT NULL,
    client_id     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    scope         TEXT NOT NULL,
    auth_time     INTEGER NOT NULL,
    nonce         TEXT,
    cnf_x5t       TEXT,
    code_hash     BLOB,                 -- the code it came from, to revoke on code reuse
    issued_at     INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    revoked_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX refresh_tokens_code ON refresh_tokens (code_hash);

-- Access tokens remember the code or refresh token they came from, so reuse can revoke them.
ALTER TABLE access_tokens ADD COLUMN origin_hash BLOB;
CREATE INDEX access_tokens_origin ON access_tokens (origin_hash);
