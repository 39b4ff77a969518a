-- Ride fares: the finished trips fare learned from trip's events, the fares calculated from
-- them (or by CalculateRideFare), and the automatic surge of each S2 cell.

-- ride_trip is one row per trip whose end (or late cancellation) fare received: the trip
-- record as received, so every fare can be explained and recomputed. A row without a fare
-- (priced false) is "calculating": next_attempt_at says when pricing is tried again.
CREATE TABLE ride_trip (
    trip_id         text PRIMARY KEY,
    customer_id     text NOT NULL,
    record          jsonb NOT NULL,
    received_at     timestamptz NOT NULL,
    priced          boolean NOT NULL DEFAULT false,
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text NOT NULL DEFAULT '',
    next_attempt_at timestamptz NOT NULL
);

-- The retry loop's scan: only trips still calculating.
CREATE INDEX ride_trip_due ON ride_trip (next_attempt_at) WHERE NOT priced;

-- ride_fare holds every fare, inserted once and never changed.
CREATE TABLE ride_fare (
    trip_id              text PRIMARY KEY,
    customer_id          text NOT NULL,
    city                 text NOT NULL,
    product              text NOT NULL,
    distance_meters      bigint NOT NULL CHECK (distance_meters >= 0),
    duration_seconds     bigint NOT NULL CHECK (duration_seconds >= 0),
    distance_source      text NOT NULL,
    rate_card_id         uuid NOT NULL,
    rate_version         bigint NOT NULL,
    surge_multiplier_bps integer NOT NULL,
    quote_id             text NOT NULL,
    lines                jsonb NOT NULL,
    total_minor          bigint NOT NULL CHECK (total_minor >= 0),
    currency_code        text NOT NULL,
    request_time         timestamptz NOT NULL,
    create_time          timestamptz NOT NULL,
    -- What the fare was computed from beyond the columns above (fare.FareInputs).
    inputs               jsonb NOT NULL
);

CREATE INDEX ride_fare_newest ON ride_fare (create_time DESC, trip_id DESC);
CREATE INDEX ride_fare_customer ON ride_fare (customer_id, create_time DESC, trip_id DESC);

-- zone_surge is the automatic surge of each S2 level-12 cell, from matching's supply and
-- demand events.
CREATE TABLE zone_surge (
    zone              text PRIMARY KEY,
    center_lat        double precision NOT NULL,
    center_lng        double precision NOT NULL,
    available_drivers integer NOT NULL,
    open_requests     integer NOT NULL,
    -- The latest raw demand/supply ratio, and the smoothed ratio and the multiplier as of
    -- the latest event (fare.ZoneSurge.At evaluates them at a later time).
    raw_bps           integer NOT NULL,
    ratio_bps         integer NOT NULL,
    multiplier_bps    integer NOT NULL CHECK (multiplier_bps BETWEEN 10000 AND 100000),
    as_of             timestamptz NOT NULL,
    update_time       timestamptz NOT NULL
);
