-- 0011: a reused code is marked, so tokens stored after the reuse from that code are stored revoked.
ALTER TABLE authorization_codes ADD COLUMN reused_at BIGINT;
