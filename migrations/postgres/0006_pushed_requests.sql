-- 0006: RFC 9126 pushed authorization requests, by hash of their request_uri.
CREATE TABLE pushed_requests (
    uri_hash   BYTEA PRIMARY KEY,
    client_id  TEXT NOT NULL,
    request    TEXT NOT NULL,      -- the validated authorization request, JSON
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);
CREATE INDEX pushed_requests_expiry ON pushed_requests (expires_at);
