-- 0001: the server's signing keys.
-- Private keys stay in files (mode 0600) under the keys directory; this table records which
-- key signs for which algorithm and how long a retired key stays published in /jwks.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY NOT NULL,
    alg           TEXT NOT NULL CHECK (alg IN ('PS256', 'ES256', 'EdDSA')),
    key_file      TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    retired_at    INTEGER,
    publish_until INTEGER,
    CHECK ((retired_at IS NULL) = (publish_until IS NULL))
);

-- At most one active key per algorithm.
CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE retired_at IS NULL;
