-- 0009: the hash-chained audit log. Appends lock the single audit_head row (SELECT … FOR UPDATE) as the
-- last step of their transaction, so instances append one after another and the chain stays linear.
CREATE TABLE audit_log (
    seq             BIGINT PRIMARY KEY,
    time            TEXT NOT NULL,
    type            TEXT NOT NULL,
    client_id       TEXT,
    org_id          TEXT,
    "user"          TEXT,
    cnf_x5t         TEXT,
    interaction_id  TEXT,
    source          TEXT,
    outcome         TEXT NOT NULL,
    reason          TEXT,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time);

CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   BIGINT NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE audit_checkpoints (
    seq         BIGINT PRIMARY KEY,
    hash        TEXT NOT NULL,
    jws         TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
