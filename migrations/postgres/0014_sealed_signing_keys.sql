-- 0014: a signing key's private part may be kept in the database, sealed with the configured key
-- encryption key (AES-256-GCM, bound to its kid), so instances on several hosts share it without a shared
-- file system. key_file is then 'database'.
ALTER TABLE signing_keys ADD COLUMN sealed_key BYTEA;
