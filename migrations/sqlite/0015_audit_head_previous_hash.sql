-- 0015: kept in step with the PostgreSQL schema, where one UPDATE … RETURNING of the audit head hands the new
-- audit row its link; SQLite appends under its single writer and leaves this column empty.
ALTER TABLE audit_head ADD COLUMN prev_hash TEXT;
