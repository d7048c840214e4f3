-- 0002: registered clients, resource servers, access tokens and client-assertion jti values.

CREATE TABLE clients (
    client_id  TEXT PRIMARY KEY NOT NULL,
    metadata   TEXT NOT NULL,            -- the registered RFC 7591 metadata, JSON
    created_at INTEGER NOT NULL
);

CREATE TABLE resource_servers (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL UNIQUE,
    subject_dn TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

-- Tokens are stored only as SHA-256 hashes of their value.
CREATE TABLE access_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    client_id   TEXT NOT NULL,
    subject     TEXT,
    scope       TEXT NOT NULL,
    issued_at   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    cnf_x5t     TEXT,                    -- RFC 8705 x5t#S256 of the bound certificate
    format      TEXT NOT NULL CHECK (format IN ('opaque', 'jwt')),
    revoked_at  INTEGER
) WITHOUT ROWID;
CREATE INDEX access_tokens_client ON access_tokens (client_id);
CREATE INDEX access_tokens_expiry ON access_tokens (expires_at);

-- RFC 7523 §3: each client assertion jti is accepted once, remembered until the assertion expires.
CREATE TABLE client_assertion_jtis (
    client_id  TEXT NOT NULL,
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
) WITHOUT ROWID;
CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);
