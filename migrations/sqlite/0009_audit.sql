-- 0009: the tamper-evident audit log. Rows are only ever appended, in the transaction of the change they
-- record; each holds the hash of the previous row and its own (see docs/operations.md, "Audit log").
CREATE TABLE audit_log (
    seq             INTEGER PRIMARY KEY NOT NULL,
    time            TEXT NOT NULL,
    type            TEXT NOT NULL,
    client_id       TEXT,
    org_id          TEXT,
    user            TEXT,
    cnf_x5t         TEXT,
    interaction_id  TEXT,
    source          TEXT,
    outcome         TEXT NOT NULL,
    reason          TEXT,
    prev_hash       TEXT NOT NULL,
    hash            TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (time);

-- The chain head (one row): the last seq and hash, updated with every append, so that removing the last
-- rows is detected too.
CREATE TABLE audit_head (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    seq   INTEGER NOT NULL,
    hash  TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Signed checkpoints of the head (a JWS by the daemon's signing key), to export off the machine.
CREATE TABLE audit_checkpoints (
    seq         INTEGER PRIMARY KEY NOT NULL,
    hash        TEXT NOT NULL,
    jws         TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
