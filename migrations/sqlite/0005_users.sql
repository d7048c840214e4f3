-- 0005: PSU accounts (login, consent, CIBA login_hint). Passwords are scrypt hashes, never plain text.
CREATE TABLE users (
    username      TEXT PRIMARY KEY NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
) WITHOUT ROWID;
