-- Billing's idempotency keys moved to kit/idempotency's idempotency_keys table (its
-- migration 0300_idempotency.sql): the per-method requests table goes. Keys in flight
-- at the upgrade are forgotten, so a retry of a call made just before it runs again.
DROP TABLE requests;
