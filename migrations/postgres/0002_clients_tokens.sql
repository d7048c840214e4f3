-- 0002: clients, resource servers, access tokens (by SHA-256 hash only) and single-use assertion jtis.
CREATE TABLE clients (
    client_id  TEXT PRIMARY KEY,
    metadata   TEXT NOT NULL,            -- the registered RFC 7591 metadata, JSON
    created_at BIGINT NOT NULL
);

CREATE TABLE resource_servers (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    subject_dn TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE access_tokens (
    token_hash  BYTEA PRIMARY KEY,
    client_id   TEXT NOT NULL,
    subject     TEXT,
    scope       TEXT NOT NULL,
    issued_at   BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    cnf_x5t     TEXT,                    -- RFC 8705 x5t#S256 of the bound certificate
    format      TEXT NOT NULL CHECK (format IN ('opaque', 'jwt')),
    revoked_at  BIGINT
);
CREATE INDEX access_tokens_client ON access_tokens (client_id);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

CREATE TABLE client_assertion_jtis (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);
