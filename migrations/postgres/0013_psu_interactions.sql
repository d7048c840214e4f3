-- 0013: the PSU's browser interactions and sign-in sessions, in storage rather than in one process, so
-- any instance can serve the browser's next request. Ids and CSRF tokens are kept as SHA-256 hashes.
CREATE TABLE psu_interactions (
    id_hash          BYTEA PRIMARY KEY,
    client_id        TEXT NOT NULL,
    request          TEXT NOT NULL,          -- the validated authorization request, JSON
    request_uri_hash BYTEA,
    csrf_hash        BYTEA NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    username         TEXT,
    auth_time        BIGINT
);
CREATE INDEX psu_interactions_expiry ON psu_interactions (expires_at);

CREATE TABLE psu_sessions (
    id_hash    BYTEA PRIMARY KEY,
    username   TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX psu_sessions_expiry ON psu_sessions (expires_at);
