-- The analytics schema: projections of the other services' event streams. Every table
-- below except alerts is written only by the consumers' handlers, in the transaction
-- that advances their cursor (kit/consumer), from the events alone (no clock), so that
-- replaying every source into fresh tables (`waybill analytics rebuild`) gives the same
-- rows.

-- The properties and departures the rollups are about: their grouping keys and
-- capacity. Filled from reservation events (route, city) and inventory events (capacity).
CREATE TABLE units (
    unit_kind    text    NOT NULL CHECK (unit_kind IN ('property', 'departure')),
    unit_id      text    NOT NULL,
    route        text    NOT NULL DEFAULT '',
    city         text    NOT NULL DEFAULT '',
    -- Rooms per night (properties) or seats (departures); 0 until an inventory event.
    capacity     bigint  NOT NULL DEFAULT 0,
    -- A property's first and closing days (closed_on NULL while open).
    opened_on    date,
    closed_on    date,
    -- A departure's UTC day, and whether it was cancelled.
    departure_day date,
    cancelled    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (unit_kind, unit_id)
);

-- Every booked reservation, as it was when booked: what a cancellation takes back, and
-- the lead times the percentiles are read from.
CREATE TABLE reservations (
    reservation_id text        PRIMARY KEY,
    unit_kind      text        NOT NULL,
    unit_id        text        NOT NULL,
    booked_at      timestamptz NOT NULL,
    booked_on      date        NOT NULL,
    lead_seconds   bigint      NOT NULL,
    quantity       bigint      NOT NULL,
    nights         bigint      NOT NULL,
    first_night    date,
    service_start  timestamptz NOT NULL,
    currency_code  text        NOT NULL,
    amount_minor   bigint      NOT NULL,
    cancelled_at   timestamptz
);
CREATE INDEX reservations_booked_on ON reservations (booked_on);
CREATE INDEX reservations_booked_at ON reservations (booked_at);
CREATE INDEX reservations_cancelled_at ON reservations (cancelled_at) WHERE cancelled_at IS NOT NULL;

-- Bookings and cancellations per day (of the confirmation or the cancellation) and unit.
CREATE TABLE booking_days (
    day           date   NOT NULL,
    unit_kind     text   NOT NULL,
    unit_id       text   NOT NULL,
    bookings      bigint NOT NULL DEFAULT 0,
    cancellations bigint NOT NULL DEFAULT 0,
    stay_bookings bigint NOT NULL DEFAULT 0,
    stay_nights   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, unit_kind, unit_id)
);

-- Gross revenue and refunds per day, unit and currency.
CREATE TABLE booking_money_days (
    day           date   NOT NULL,
    unit_kind     text   NOT NULL,
    unit_id       text   NOT NULL,
    currency_code text   NOT NULL,
    gross_minor   bigint NOT NULL DEFAULT 0,
    refunds_minor bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, unit_kind, unit_id, currency_code)
);

-- Rooms (per night) and seats (per departure day) sold, and the revenue of that day.
CREATE TABLE usage_days (
    day           date   NOT NULL,
    unit_kind     text   NOT NULL,
    unit_id       text   NOT NULL,
    currency_code text   NOT NULL,
    sold          bigint NOT NULL DEFAULT 0,
    revenue_minor bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, unit_kind, unit_id, currency_code)
);

-- Payment attempts and money moved per day and currency.
CREATE TABLE payment_days (
    day             date   NOT NULL,
    currency_code   text   NOT NULL,
    authorizations  bigint NOT NULL DEFAULT 0,
    failures        bigint NOT NULL DEFAULT 0,
    captured_minor  bigint NOT NULL DEFAULT 0,
    refunded_minor  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency_code)
);

-- Payment attempts per hour, for the failure spike rule.
CREATE TABLE payment_hours (
    hour           timestamptz NOT NULL PRIMARY KEY,
    authorizations bigint      NOT NULL DEFAULT 0,
    failures       bigint      NOT NULL DEFAULT 0
);

-- The bills owed now (finalized, not paid or cancelled), per currency.
CREATE TABLE outstanding_bills (
    bill_id       text   NOT NULL,
    currency_code text   NOT NULL,
    amount_minor  bigint NOT NULL,
    PRIMARY KEY (bill_id, currency_code)
);

-- Receivables finalized and cleared per day and currency; the balance at a day is the sum
-- of finalized - cleared up to it.
CREATE TABLE receivable_days (
    day             date   NOT NULL,
    currency_code   text   NOT NULL,
    finalized_minor bigint NOT NULL DEFAULT 0,
    cleared_minor   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency_code)
);

-- Ride fares per day, city and currency.
CREATE TABLE fare_days (
    day           date   NOT NULL,
    city          text   NOT NULL,
    currency_code text   NOT NULL,
    fares         bigint NOT NULL DEFAULT 0,
    revenue_minor bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, city, currency_code)
);

-- Alerts raised by the periodic rules; at most one open per rule and subject.
CREATE TABLE alerts (
    id         uuid        PRIMARY KEY,
    rule       text        NOT NULL,
    subject    text        NOT NULL DEFAULT '',
    message    text        NOT NULL,
    value      double precision NOT NULL,
    threshold  double precision NOT NULL,
    raised_at  timestamptz NOT NULL,
    cleared_at timestamptz
);
CREATE UNIQUE INDEX alerts_open ON alerts (rule, subject) WHERE cleared_at IS NULL;
CREATE INDEX alerts_raised_at ON alerts (raised_at DESC);
