-- 0008: CIBA backchannel authentication requests, by hash of their auth_req_id.
CREATE TABLE ciba_requests (
    id                        TEXT PRIMARY KEY,
    auth_req_id_hash          BYTEA NOT NULL UNIQUE,
    client_id                 TEXT NOT NULL,
    username                  TEXT NOT NULL,
    scope                     TEXT NOT NULL,
    binding_message           TEXT,
    acr                       TEXT,
    delivery_mode             TEXT NOT NULL CHECK (delivery_mode IN ('poll', 'ping', 'push')),
    notification_token        TEXT,
    created_at                BIGINT NOT NULL,
    expires_at                BIGINT NOT NULL,
    poll_interval             BIGINT NOT NULL,
    last_polled_at            BIGINT,
    status                    TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'redeemed')),
    decided_by                TEXT,
    decided_at                BIGINT,
    notified_at               BIGINT,
    -- ping and push modes only: the auth_req_id the notification must carry, erased once the client is notified
    ping_auth_req_id          TEXT
);
CREATE INDEX ciba_requests_status ON ciba_requests (status, expires_at);
CREATE INDEX ciba_requests_expiry ON ciba_requests (expires_at);
