-- 0022: the consents the expiry sweep still has to mark expired (issue 19): only awaiting or authorised ones,
-- so a pass never walks the decided, consumed, revoked and expired rows kept as evidence.
CREATE INDEX consents_due ON consents (expires_at) WHERE status IN ('awaiting_authorisation', 'authorised');
