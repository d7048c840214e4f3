-- 0004: RFC 7591/7592 registrations of accredited TPPs.
CREATE TABLE registrations (
    client_id              TEXT PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
    access_token_hash      BYTEA NOT NULL,
    directory              TEXT NOT NULL,
    software_id            TEXT NOT NULL,
    org_id                 TEXT,
    certificate_thumbprint TEXT NOT NULL,
    software_statement     TEXT NOT NULL
);
CREATE INDEX registrations_software ON registrations (software_id);
