-- 0017: the auth_req_id and client_notification_token a ping or push notification sends are kept sealed
-- (AES-256-GCM, the request id as additional data) until delivery, no longer in plaintext; rows written
-- before this migration keep their plaintext columns until they are notified or expire.
ALTER TABLE ciba_requests ADD COLUMN notification_sealed BYTEA;
