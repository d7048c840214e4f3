-- 0001: the server's signing keys (PostgreSQL). Times are seconds since 1970 (BIGINT), as in the SQLite
-- schema, so both backends store the same values.
CREATE TABLE signing_keys (
    kid           TEXT PRIMARY KEY,
    alg           TEXT NOT NULL CHECK (alg IN ('PS256', 'ES256', 'EdDSA')),
    key_file      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    retired_at    BIGINT,
    publish_until BIGINT,
    CHECK ((retired_at IS NULL) = (publish_until IS NULL))
);

CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (alg) WHERE retired_at IS NULL;
