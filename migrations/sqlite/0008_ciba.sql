-- 0008: CIBA backchannel authentication requests. The auth_req_id is stored only as a hash; staff see
-- and decide by the internal id.
CREATE TABLE ciba_requests (
    id                        TEXT PRIMARY KEY NOT NULL,
    auth_req_id_hash          BLOB NOT NULL UNIQUE,
    client_id                 TEXT NOT NULL,
    username                  TEXT NOT NULL,
    scope                     TEXT NOT NULL,
    binding_message           TEXT,
    acr                       TEXT,
    delivery_mode             TEXT NOT NULL CHECK (delivery_mode IN ('poll', 'ping', 'push')),
    notification_token        TEXT,
    created_at                INTEGER NOT NULL,
    expires_at                INTEGER NOT NULL,
    poll_interval             INTEGER NOT NULL,
    last_polled_at            INTEGER,
    status                    TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'redeemed')),
    decided_by                TEXT,
    decided_at                INTEGER,
    notified_at               INTEGER,
    -- ping and push modes only: the auth_req_id the notification must carry, erased once the client is notified
    ping_auth_req_id          TEXT
);
CREATE INDEX ciba_requests_status ON ciba_requests (status, expires_at);
