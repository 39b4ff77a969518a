-- Rides on bills (billing/ride.go): each ride fare fare announces becomes a finalized bill of
-- its own, which billing collects with the rider's default payment method. A row here is
-- one such bill still to collect: the collector starts its pay saga (PayBill) and then marks
-- it done; until then it is retried with backoff (for example while the rider has no usable
-- payment method).
CREATE TABLE ride_collections (
    bill_id         uuid        PRIMARY KEY REFERENCES bills (id),
    customer_id     text        NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    last_error      text        NOT NULL DEFAULT '',
    done            boolean     NOT NULL DEFAULT false
);

-- The collector's scan: only bills still to collect.
CREATE INDEX ride_collections_due ON ride_collections (next_attempt_at) WHERE NOT done;
