-- 0011: a code redeemed twice is marked, so that tokens from its first redemption that are stored only
-- after the second one (the two race) are stored revoked, in the same transaction as their insert.
ALTER TABLE authorization_codes ADD COLUMN reused_at INTEGER;
