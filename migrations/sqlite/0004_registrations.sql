-- 0004: dynamic registrations (RFC 7591/7592): who registered a client, with which software statement
-- and transport certificate, and the hash of its registration access token.
CREATE TABLE registrations (
    client_id              TEXT PRIMARY KEY NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    access_token_hash      BLOB NOT NULL,
    directory              TEXT NOT NULL,
    software_id            TEXT NOT NULL,
    org_id                 TEXT,
    certificate_thumbprint TEXT NOT NULL,
    software_statement     TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX registrations_software ON registrations (software_id);
