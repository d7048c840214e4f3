-- 0015: the audit head also keeps the hash before it, so one UPDATE … RETURNING moves the head on and hands
-- the new audit row both its link and its hash, computed in that statement (see PostgresAuditLog).
ALTER TABLE audit_head ADD COLUMN prev_hash TEXT;
