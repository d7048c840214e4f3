-- 0021: consents (grants) as first-class rows (RFC 9396 authorization_details, Grant Management draft -02).
-- The id is the grant_id and the openbanking_intent_id; authorization_details is the validated JSON array;
-- approvals is a JSON array of {"by", "at", "details_sha256"}, one per approver (dual control); amr a JSON array.
CREATE TABLE consents (
    id                        TEXT PRIMARY KEY,
    client_id                 TEXT NOT NULL,
    subject                   TEXT,
    type                      TEXT NOT NULL,
    authorization_details     TEXT NOT NULL,
    scope                     TEXT NOT NULL,
    status                    TEXT NOT NULL CHECK (status IN
                                  ('awaiting_authorisation', 'authorised', 'rejected', 'consumed', 'revoked', 'expired')),
    origin                    TEXT NOT NULL CHECK (origin IN ('par', 'authorize', 'ciba', 'resource_server')),
    created_at                BIGINT NOT NULL,
    updated_at                BIGINT NOT NULL,
    authorised_at             BIGINT,
    expires_at                BIGINT NOT NULL,
    decided_by                TEXT,
    acr                       TEXT,
    amr                       TEXT NOT NULL,
    approvals                 TEXT NOT NULL,
    approvals_required        BIGINT NOT NULL CHECK (approvals_required >= 1),
    certificate_x5t           TEXT,
    certificate_status        TEXT,
    request_sha256            TEXT
);
CREATE INDEX consents_client ON consents (client_id, created_at);
CREATE INDEX consents_subject ON consents (subject, created_at);
CREATE INDEX consents_expiry ON consents (expires_at);
-- The consent each code, token and CIBA request was issued under: revoking the consent revokes its tokens.
ALTER TABLE authorization_codes ADD COLUMN grant_id TEXT;
ALTER TABLE access_tokens ADD COLUMN grant_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN grant_id TEXT;
ALTER TABLE ciba_requests ADD COLUMN grant_id TEXT;
CREATE INDEX access_tokens_grant ON access_tokens (grant_id) WHERE grant_id IS NOT NULL;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id) WHERE grant_id IS NOT NULL;
