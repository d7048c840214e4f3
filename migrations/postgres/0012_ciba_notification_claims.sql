-- 0012: several instances share the database: a ping or push notification is claimed by one instance for
-- a short lease before it is sent, so it is sent once; a failed one is retried after the lease.
ALTER TABLE ciba_requests ADD COLUMN notify_claimed_until BIGINT;
CREATE INDEX ciba_requests_unnotified ON ciba_requests (decided_at) WHERE notified_at IS NULL AND delivery_mode IN ('ping', 'push');
