-- Inventory (departures with fare classes, properties with room types and per-night
-- counters), reservations, and idempotency keys.
--
-- Capacity is enforced here, not in Go: every hold adds to a counter row with
-- `held + sold + n <= capacity` in the UPDATE's WHERE clause, and a CHECK constraint on the
-- same rows refuses any change that would overbook even if a query forgot that condition.

CREATE TABLE departure (
    id               uuid PRIMARY KEY,
    mode             smallint    NOT NULL CHECK (mode BETWEEN 1 AND 3),
    carrier          text        NOT NULL,
    number           text        NOT NULL,
    origin           text        NOT NULL,
    destination      text        NOT NULL,
    departure_time   timestamptz NOT NULL,
    arrival_time     timestamptz NOT NULL CHECK (arrival_time > departure_time),
    origin_time_zone text        NOT NULL,
    -- The departure date in the origin's zone, for searches by local date.
    local_date       date        NOT NULL,
    status           smallint    NOT NULL CHECK (status BETWEEN 1 AND 3),
    sub_status       text        NOT NULL DEFAULT '',
    cancel_reason    text        NOT NULL DEFAULT '',
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    version          bigint      NOT NULL DEFAULT 1
);
CREATE INDEX departure_route_idx ON departure (origin, destination, local_date, departure_time, id);
CREATE INDEX departure_time_idx ON departure (departure_time, id);

-- One counter row per (departure, fare class): the unit holds lock and update.
CREATE TABLE fare_class (
    departure_id uuid     NOT NULL REFERENCES departure (id),
    name         text     NOT NULL,
    position     int      NOT NULL,
    display_name text     NOT NULL DEFAULT '',
    capacity     int      NOT NULL CHECK (capacity BETWEEN 0 AND 10000),
    held         int      NOT NULL DEFAULT 0 CHECK (held >= 0),
    sold         int      NOT NULL DEFAULT 0 CHECK (sold >= 0),
    policy       jsonb    NOT NULL DEFAULT '[]',
    PRIMARY KEY (departure_id, name),
    CONSTRAINT fare_class_not_overbooked CHECK (held + sold <= capacity)
);

CREATE TABLE property (
    id             uuid PRIMARY KEY,
    name           text        NOT NULL,
    city           text        NOT NULL,
    address        text        NOT NULL DEFAULT '',
    latitude       double precision NOT NULL,
    longitude      double precision NOT NULL,
    time_zone      text        NOT NULL,
    check_in_hour  int         NOT NULL CHECK (check_in_hour BETWEEN 0 AND 23),
    check_out_hour int         NOT NULL CHECK (check_out_hour BETWEEN 0 AND 23),
    status         smallint    NOT NULL CHECK (status BETWEEN 1 AND 2),
    sub_status     text        NOT NULL DEFAULT '',
    close_reason   text        NOT NULL DEFAULT '',
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    version        bigint      NOT NULL DEFAULT 1
);
CREATE INDEX property_city_idx ON property (city, name, id);

CREATE TABLE room_type (
    property_id      uuid NOT NULL REFERENCES property (id),
    name             text NOT NULL,
    position         int  NOT NULL,
    display_name     text NOT NULL DEFAULT '',
    nightly_capacity int  NOT NULL CHECK (nightly_capacity BETWEEN 0 AND 10000),
    max_guests       int  NOT NULL CHECK (max_guests BETWEEN 1 AND 20),
    policy           jsonb NOT NULL DEFAULT '[]',
    PRIMARY KEY (property_id, name)
);

-- One counter row per (property, room type, night), created on the first hold of that
-- night with the room type's nightly capacity. A stay's hold updates all its nights in
-- one statement and fails unless every night had room.
CREATE TABLE room_night (
    property_id uuid NOT NULL,
    room_type   text NOT NULL,
    night       date NOT NULL,
    capacity    int  NOT NULL CHECK (capacity >= 0),
    held        int  NOT NULL DEFAULT 0 CHECK (held >= 0),
    sold        int  NOT NULL DEFAULT 0 CHECK (sold >= 0),
    PRIMARY KEY (property_id, room_type, night),
    FOREIGN KEY (property_id, room_type) REFERENCES room_type (property_id, name),
    CONSTRAINT room_night_not_overbooked CHECK (held + sold <= capacity)
);

CREATE TABLE reservation (
    id               uuid PRIMARY KEY,
    customer_id      text        NOT NULL,
    -- The create call's idempotency key; unique per customer.
    request_id       text,
    kind             smallint    NOT NULL CHECK (kind BETWEEN 1 AND 4),
    departure_id     uuid REFERENCES departure (id),
    fare_class       text,
    property_id      uuid REFERENCES property (id),
    room_type        text,
    check_in_date    date,
    check_out_date   date,
    guest_count      int,
    quantity         int         NOT NULL CHECK (quantity BETWEEN 1 AND 9),
    travelers        text[]      NOT NULL,
    price_minor      bigint      NOT NULL CHECK (price_minor >= 0),
    currency         text        NOT NULL,
    rate_card_id     text        NOT NULL DEFAULT '',
    rate_version     bigint      NOT NULL DEFAULT 0,
    quote_id         text        NOT NULL DEFAULT '',
    hold_expire_time timestamptz,
    status           smallint    NOT NULL CHECK (status BETWEEN 1 AND 6),
    sub_status       text        NOT NULL DEFAULT '',
    policy           jsonb       NOT NULL DEFAULT '[]',
    cancel_time      timestamptz,
    cancel_reason    text        NOT NULL DEFAULT '',
    cancel_actor     text        NOT NULL DEFAULT '',
    refundable_minor bigint,
    service_start    timestamptz NOT NULL,
    service_end      timestamptz NOT NULL,
    history          jsonb       NOT NULL DEFAULT '[]',
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    version          bigint      NOT NULL DEFAULT 1,
    CHECK ((departure_id IS NOT NULL AND fare_class IS NOT NULL) <> (property_id IS NOT NULL AND room_type IS NOT NULL))
);
CREATE UNIQUE INDEX reservation_request_idx ON reservation (customer_id, request_id) WHERE request_id IS NOT NULL;
CREATE INDEX reservation_customer_idx ON reservation (customer_id, create_time DESC, id DESC);
CREATE INDEX reservation_created_idx ON reservation (create_time DESC, id DESC);
CREATE INDEX reservation_departure_idx ON reservation (departure_id) WHERE departure_id IS NOT NULL;
CREATE INDEX reservation_property_idx ON reservation (property_id) WHERE property_id IS NOT NULL;
-- The expiry job's queue: held reservations by expiry time.
CREATE INDEX reservation_hold_expiry_idx ON reservation (hold_expire_time) WHERE status = 1;
-- The completion job's queue: confirmed or checked-in reservations by end of service.
CREATE INDEX reservation_service_end_idx ON reservation (service_end) WHERE status IN (2, 3);

-- Idempotency keys of mutations other than CreateReservation: the first call with a key
-- records it with the resource it changed, in the same transaction as the change; a retry
-- finds it and returns the resource instead of changing it again.
CREATE TABLE idempotency_key (
    actor       text        NOT NULL,
    operation   text        NOT NULL,
    request_id  text        NOT NULL,
    resource_id uuid        NOT NULL,
    result      bytea,
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (actor, operation, request_id)
);
