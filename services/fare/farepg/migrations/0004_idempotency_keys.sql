-- Fare's retriable mutations (CreateRateCard, UpdateRateCard, SetSurge) keep their
-- idempotency keys in kit/idempotency's idempotency_keys table (0300_idempotency.sql), like
-- every service's. The request ids fare kept on its own rows served only that, and go,
-- with the unique constraints that enforced them. surge_history stays: every surge ever
-- set, by version, which a replayed SetSurge answers from.
ALTER TABLE rate_card DROP COLUMN create_request_id;
ALTER TABLE rate_card_version DROP COLUMN request_id;
ALTER TABLE surge_history DROP COLUMN request_id;

COMMENT ON TABLE surge_history IS 'Every surge ever set, one row per zone and version; SetSurge''s replays read it';
