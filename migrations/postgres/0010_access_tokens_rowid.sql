-- 0010: the SQLite schema rebuilt access_tokens as a rowid table here. PostgreSQL tables are heaps
-- already; only the origin index becomes partial, as there.
DROP INDEX access_tokens_origin;
CREATE INDEX access_tokens_origin ON access_tokens (origin_hash) WHERE origin_hash IS NOT NULL;
