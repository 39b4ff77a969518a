-- Idempotency keys move to kit/idempotency's table (idempotency_keys, migration 0300),
-- scoped by method and caller, holding the domain's own encoding of each first result.
-- The old table held gRPC-encoded responses, which the new code cannot replay, and no
-- caller subject: its keys are dropped. Apply it with no payment call in flight (a key
-- in flight here would be lost; the payment's busy operation still makes the next call
-- reconcile with the processor first).
DROP TABLE idempotency_key;
