-- 0006: pushed authorization requests (RFC 9126), keyed by the SHA-256 of their request_uri.
CREATE TABLE pushed_requests (
    uri_hash   BLOB PRIMARY KEY NOT NULL,
    client_id  TEXT NOT NULL,
    request    TEXT NOT NULL,      -- the validated authorization request, JSON
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);
