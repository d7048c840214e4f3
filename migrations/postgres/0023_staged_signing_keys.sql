-- 0023: staged key rotation (OIDC Core §10.1.1). A key may be published before it signs: activates_at is when
-- it starts (NULL: from created_at). recorded_state is the last state (next, active, retiring, removed) an audit
-- event was written for, so that one instance, not each, records a transition that time brought.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT;
ALTER TABLE signing_keys ADD COLUMN recorded_state TEXT;
