-- 0016: PSU sign-in failure counters in the shared storage, so every instance sees the same counts
-- (CWE-307). Keys are SHA-256 hashes of user:NAME, address:ADDR or interaction:ID; a counter restarts
-- once its window has ended. And an index to bound the live interactions of one request_uri (CWE-400).
CREATE TABLE sign_in_attempts (
    key_hash    BYTEA PRIMARY KEY,
    failures    INTEGER NOT NULL,
    window_ends BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_window ON sign_in_attempts (window_ends);

CREATE INDEX psu_interactions_request_uri ON psu_interactions (request_uri_hash);
