-- Trips, their recorded routes, and the calls to matching their changes owe.

CREATE TABLE trip (
    id                 uuid PRIMARY KEY,
    customer_id        text NOT NULL,
    pickup_lat         double precision NOT NULL,
    pickup_lng         double precision NOT NULL,
    dropoff_lat        double precision NOT NULL,
    dropoff_lng        double precision NOT NULL,
    product            text NOT NULL,
    city               text NOT NULL,
    status             text NOT NULL CONSTRAINT trip_status_check
                           CHECK (status IN ('requested', 'driver_assigned', 'started', 'ended', 'cancelled')),
    sub_status         text NOT NULL DEFAULT '',
    driver_id          text NOT NULL DEFAULT '',
    match_id           text NOT NULL DEFAULT '',
    -- The request id of the CreateMatch call that started the trip's search.
    match_request_id   text NOT NULL,
    estimate_amount    bigint NOT NULL,
    estimate_currency  text NOT NULL,
    quote_id           text NOT NULL,
    surge_bps          integer NOT NULL DEFAULT 10000,
    final_fare_amount  bigint,
    final_fare_currency text,
    actual_dropoff_lat double precision,
    actual_dropoff_lng double precision,
    last_point_lat     double precision,
    last_point_lng     double precision,
    last_point_time    timestamptz,
    distance_meters    bigint NOT NULL DEFAULT 0,
    duration_seconds   bigint NOT NULL DEFAULT 0,
    assign_time        timestamptz,
    start_time         timestamptz,
    end_time           timestamptz,
    cancel_actor       text,
    cancel_actor_id    text,
    cancel_reason      text,
    cancel_time        timestamptz,
    -- Notable moments, oldest first: [{"time": ..., "label": ...}].
    timeline           jsonb NOT NULL DEFAULT '[]',
    create_time        timestamptz NOT NULL,
    update_time        timestamptz NOT NULL,
    version            bigint NOT NULL,
    -- False while the request is being set up (matching not yet asked): invisible to reads.
    published          boolean NOT NULL DEFAULT false,
    -- True while the sweeper undoes an unpublished request: no retry may publish it.
    abandoning         boolean NOT NULL DEFAULT false
);

-- A rider has at most one unfinished trip (published or still being set up).
CREATE UNIQUE INDEX trip_one_active_per_rider ON trip (customer_id)
    WHERE status IN ('requested', 'driver_assigned', 'started');

CREATE INDEX trip_by_time ON trip (create_time DESC, id DESC) WHERE published;
CREATE INDEX trip_by_customer ON trip (customer_id, create_time DESC, id DESC) WHERE published;
CREATE INDEX trip_by_driver ON trip (driver_id, create_time DESC, id DESC) WHERE published AND driver_id <> '';
CREATE INDEX trip_unpublished ON trip (create_time) WHERE NOT published;

-- The route driven, one row per recorded point; a time is recorded once per trip.
CREATE TABLE route_point (
    trip_id uuid NOT NULL REFERENCES trip (id) ON DELETE CASCADE,
    time    timestamptz NOT NULL,
    lat     double precision NOT NULL,
    lng     double precision NOT NULL,
    PRIMARY KEY (trip_id, time)
);

-- Calls to matching owed by committed changes (ReleaseDriver, CancelMatch, and a rematch:
-- CancelMatch then CreateMatch), made and retried by the task runner until matching answered.
CREATE TABLE matching_task (
    id              bigserial PRIMARY KEY,
    trip_id         uuid NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('release_driver', 'cancel_match', 'rematch')),
    match_id        text NOT NULL DEFAULT '',
    driver_id       text NOT NULL DEFAULT '',
    reason          text NOT NULL DEFAULT '',
    -- The request id of the match a rematch starts.
    request_id      text NOT NULL DEFAULT '',
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (trip_id, kind, match_id)
);

CREATE INDEX matching_task_due ON matching_task (next_attempt_at);
