-- 0003: answers of the certificate-status checker (OCSP or CRL), kept across restarts.
CREATE TABLE certificate_status_cache (
    thumbprint  TEXT PRIMARY KEY NOT NULL,   -- x5t#S256 of the certificate
    status      TEXT NOT NULL CHECK (status IN ('good', 'revoked')),
    reason      TEXT,
    revoked_at  INTEGER,
    source_kind TEXT NOT NULL CHECK (source_kind IN ('ocsp', 'crl')),
    source_url  TEXT NOT NULL,
    valid_until INTEGER NOT NULL,
    leaf_der    BLOB NOT NULL,
    issuer_der  BLOB NOT NULL
) WITHOUT ROWID;
CREATE INDEX certificate_status_cache_until ON certificate_status_cache (valid_until);
