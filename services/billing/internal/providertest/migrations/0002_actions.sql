-- Confirm and cancel: the idempotency keys of the batched calls, with the first answer,
-- and how each reservation was cancelled.
CREATE TABLE action_requests (
    method     text  NOT NULL,
    request_id text  NOT NULL,
    response   bytea NOT NULL,
    PRIMARY KEY (method, request_id)
);

ALTER TABLE reservations ADD COLUMN cancel_reason text NOT NULL DEFAULT '';
ALTER TABLE reservations ADD COLUMN fees_waived boolean NOT NULL DEFAULT false;
