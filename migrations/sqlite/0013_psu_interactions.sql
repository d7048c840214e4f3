-- 0013: the PSU's browser interactions and sign-in sessions, in storage rather than in one process, so
-- any instance can serve the browser's next request. Ids and CSRF tokens are kept as SHA-256 hashes.
CREATE TABLE psu_interactions (
    id_hash          BLOB PRIMARY KEY NOT NULL,
    client_id        TEXT NOT NULL,
    request          TEXT NOT NULL,          -- the validated authorization request, JSON
    request_uri_hash BLOB,
    csrf_hash        BLOB NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    username         TEXT,
    auth_time        INTEGER
) WITHOUT ROWID;
CREATE INDEX psu_interactions_expiry ON psu_interactions (expires_at);

CREATE TABLE psu_sessions (
    id_hash    BLOB PRIMARY KEY NOT NULL,
    username   TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX psu_sessions_expiry ON psu_sessions (expires_at);
