-- 0003: OCSP/CRL answers, persisted so they survive restarts and are shared by instances.
CREATE TABLE certificate_status_cache (
    thumbprint  TEXT PRIMARY KEY,            -- x5t#S256 of the certificate
    status      TEXT NOT NULL CHECK (status IN ('good', 'revoked')),
    reason      TEXT,
    revoked_at  BIGINT,
    source_kind TEXT NOT NULL CHECK (source_kind IN ('ocsp', 'crl')),
    source_url  TEXT NOT NULL,
    valid_until BIGINT NOT NULL,
    leaf_der    BYTEA NOT NULL,
    issuer_der  BYTEA NOT NULL
);
CREATE INDEX certificate_status_cache_until ON certificate_status_cache (valid_until);
