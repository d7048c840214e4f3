-- 0007: authorization codes and refresh tokens (by hash), and the origin of each access token.
CREATE TABLE authorization_codes (
    code_hash      BYTEA PRIMARY KEY,
    client_id      TEXT NOT NULL,
    subject        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    scope          TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    nonce          TEXT,
    auth_time      BIGINT NOT NULL,
    acr            TEXT,
    claims         TEXT,                -- the OIDC claims request, JSON
    expires_at     BIGINT NOT NULL,
    used_at        BIGINT
);
CREATE INDEX authorization_codes_expiry ON authorization_codes (expires_at);

CREATE TABLE refresh_tokens (
    token_hash    BYTEA PRIMARY KEY,
    client_id     TEXT NOT NULL,
    subject       TEXT NOT NULL,
    scope         TEXT NOT NULL,
    auth_time     BIGINT NOT NULL,
    nonce         TEXT,
    cnf_x5t       TEXT,
    code_hash     BYTEA,                -- the code it came from, to revoke on code reuse
    issued_at     BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX refresh_tokens_code ON refresh_tokens (code_hash);
CREATE INDEX refresh_tokens_client ON refresh_tokens (client_id);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);

ALTER TABLE access_tokens ADD COLUMN origin_hash BYTEA;
CREATE INDEX access_tokens_origin ON access_tokens (origin_hash);
