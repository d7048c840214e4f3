-- 0023: staged key rotation (OIDC Core §10.1.1). A key may be published before it signs: activates_at is when
-- it starts (NULL: from created_at). recorded_state is the last state (next, active, retiring, removed) an audit
-- event was written for, so that one instance, not each, records a transition that time brought.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN recorded_state TEXT;
-- The public JWK as /jwks publishes it: a key that no longer signs is published, and checkpoints it signed verified,
-- without loading its private half (which a token may have destroyed after the key retired).
ALTER TABLE signing_keys ADD COLUMN public_jwk TEXT;
-- Keys from before this migration: their current state counts as recorded (their events were written by the
-- rotation that made them), so the first start after the upgrade writes no event for them.
UPDATE signing_keys SET recorded_state = CASE
    WHEN retired_at IS NULL THEN 'active'
    WHEN publish_until > CAST(extract(epoch FROM now()) AS BIGINT) THEN 'retiring'
    ELSE 'removed' END;
