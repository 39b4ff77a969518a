-- Bills, their items, billing's read model of the providers' reservations, and the
-- idempotency keys of billing's mutations.

CREATE TABLE bills (
    id            uuid        PRIMARY KEY,
    customer_id   text        NOT NULL,
    currency_code text        NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    status        text        NOT NULL CHECK (status IN ('open', 'finalized', 'paid', 'settled', 'failed', 'cancelled')),
    sub_status    text        NOT NULL DEFAULT '',
    create_time   timestamptz NOT NULL,
    -- When the bill or any of its items last changed; the panel's order.
    update_time   timestamptz NOT NULL,
    finalize_time timestamptz,
    paid_time     timestamptz,
    settle_time   timestamptz,
    cancel_time   timestamptz,
    cancel_reason text        NOT NULL DEFAULT '',
    version       bigint      NOT NULL DEFAULT 1,
    payment_id    text        NOT NULL DEFAULT ''
);

CREATE INDEX bills_by_update ON bills (update_time DESC, id DESC);
CREATE INDEX bills_by_customer ON bills (customer_id, update_time DESC, id DESC);
CREATE INDEX bills_by_status ON bills (status, update_time DESC, id DESC);

-- The read model: billing's copy of each provider reservation's summary, fed by the
-- provider's events (and by GetReservationDetails when an item is added or an event's
-- payload is not understood). Keyed by provider name and reservation id; never read by
-- any other service.
CREATE TABLE reservation_summaries (
    provider             text        NOT NULL,
    reservation_id       text        NOT NULL,
    kind                 integer     NOT NULL DEFAULT 0,
    customer_id          text        NOT NULL DEFAULT '',
    main_status          integer     NOT NULL DEFAULT 0,
    sub_status           text        NOT NULL DEFAULT '',
    amount_minor         bigint      NOT NULL DEFAULT 0,
    currency_code        text        NOT NULL DEFAULT '',
    title                text        NOT NULL DEFAULT '',
    provider_update_time timestamptz,
    -- The provider's version the row reflects; 0 while billing holds no summary yet.
    provider_version     bigint      NOT NULL DEFAULT 0,
    -- When billing last changed the row.
    changed_at           timestamptz NOT NULL DEFAULT now(),
    -- Set when an event arrived whose payload billing could not read: the refresher
    -- fetches the reservation's details and clears it.
    refresh_requested_at timestamptz,
    PRIMARY KEY (provider, reservation_id)
);

CREATE INDEX reservation_summaries_refresh ON reservation_summaries (provider, refresh_requested_at)
    WHERE refresh_requested_at IS NOT NULL;

CREATE TABLE bill_items (
    id              uuid        PRIMARY KEY,
    bill_id         uuid        NOT NULL REFERENCES bills (id),
    position        integer     NOT NULL,
    kind            integer     NOT NULL,
    provider        text        NOT NULL,
    reservation_id  text        NOT NULL,
    -- True once the bill is cancelled: the reservation may then go on another bill.
    released        boolean     NOT NULL DEFAULT false,
    billed_minor    bigint,
    billed_currency text,
    create_time     timestamptz NOT NULL
);

-- A reservation is on at most one bill that is not cancelled.
CREATE UNIQUE INDEX bill_items_active_reservation ON bill_items (provider, reservation_id) WHERE NOT released;
CREATE INDEX bill_items_by_bill ON bill_items (bill_id, position);
CREATE INDEX bill_items_by_reservation ON bill_items (provider, reservation_id);

-- Idempotency keys: the first call's result per (method, request id), kept 24 hours.
CREATE TABLE requests (
    method      text        NOT NULL,
    request_id  text        NOT NULL,
    fingerprint text        NOT NULL,
    bill_id     uuid,
    item_id     uuid,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (method, request_id)
);

CREATE INDEX requests_by_time ON requests (create_time);
