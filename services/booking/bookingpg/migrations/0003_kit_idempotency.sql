-- Idempotency moves to kit/idempotency (its idempotency_keys table, 0300): booking's own
-- key table and the create call's request id on reservations go. Keys in flight are
-- forgotten: a retry of a call made before this migration runs again.
DROP TABLE idempotency_key;
DROP INDEX reservation_request_idx;
ALTER TABLE reservation DROP COLUMN request_id;
