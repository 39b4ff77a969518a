-- Matches and offers: the search for a driver for a trip, and the proposals made to
-- drivers. The guards against double assignment live here, so that even a bug in Go
-- cannot give a driver two rides (see the unique indexes below).
CREATE TABLE match (
    id                  uuid PRIMARY KEY,
    trip_id             text NOT NULL,
    pickup_latitude     double precision NOT NULL CHECK (pickup_latitude BETWEEN -90 AND 90),
    pickup_longitude    double precision NOT NULL CHECK (pickup_longitude BETWEEN -180 AND 180),
    product             text NOT NULL,
    -- waybill.matching.v1.MatchStatus: 1 SEARCHING, 2 OFFERED, 3 ASSIGNED, 4 FAILED, 5 CANCELLED.
    status              smallint NOT NULL CHECK (status BETWEEN 1 AND 5),
    sub_status          text NOT NULL DEFAULT '',
    driver_id           uuid REFERENCES driver (id),
    attempt_count       integer NOT NULL CHECK (attempt_count BETWEEN 0 AND max_attempts),
    max_attempts        integer NOT NULL CHECK (max_attempts BETWEEN 1 AND 10),
    fan_out             integer NOT NULL CHECK (fan_out BETWEEN 1 AND 5),
    offer_timeout_us    bigint NOT NULL CHECK (offer_timeout_us > 0),
    initial_radius      integer NOT NULL,
    search_radius       integer NOT NULL,
    requested_driver_id uuid,
    -- waybill.matching.v1.MatchFailureReason; 0 unless FAILED.
    failure_reason      smallint NOT NULL DEFAULT 0,
    cancel_reason       text NOT NULL DEFAULT '',
    assign_time         timestamptz,
    -- When the assigned driver was released (ReleaseDriver, or CancelMatch of an
    -- ASSIGNED match); NULL while they are on the ride.
    release_time        timestamptz,
    -- The durable timer: when the dispatcher must next look at the match (the next
    -- attempt, or the expiry of its offers); NULL once it needs no look.
    due_time            timestamptz,
    create_time         timestamptz NOT NULL,
    update_time         timestamptz NOT NULL,
    version             bigint NOT NULL CHECK (version >= 1),
    CHECK ((status = 3) = (driver_id IS NOT NULL AND assign_time IS NOT NULL) OR status = 5)
);

COMMENT ON TABLE match IS 'The search for, and reservation of, one driver for one trip';

-- A trip has at most one SEARCHING, OFFERED or ASSIGNED match.
CREATE UNIQUE INDEX match_trip_active_key ON match (trip_id) WHERE status IN (1, 2, 3);
-- A driver has at most one active assignment: one ASSIGNED match not yet released.
CREATE UNIQUE INDEX match_driver_assigned_key ON match (driver_id) WHERE status = 3 AND release_time IS NULL;
-- The dispatcher's queue.
CREATE INDEX match_due ON match (due_time) WHERE due_time IS NOT NULL;

CREATE TABLE offer (
    id              uuid PRIMARY KEY,
    match_id        uuid NOT NULL REFERENCES match (id),
    trip_id         text NOT NULL,
    driver_id       uuid NOT NULL REFERENCES driver (id),
    pickup_latitude  double precision NOT NULL,
    pickup_longitude double precision NOT NULL,
    product         text NOT NULL,
    -- waybill.matching.v1.OfferStatus: 1 PENDING, 2 ACCEPTED, 3 DECLINED, 4 EXPIRED, 5 WITHDRAWN.
    status          smallint NOT NULL CHECK (status BETWEEN 1 AND 5),
    attempt         integer NOT NULL CHECK (attempt >= 1),
    distance_meters integer NOT NULL,
    eta_seconds     integer NOT NULL,
    expire_time     timestamptz NOT NULL,
    resolve_time    timestamptz,
    decline_reason  text NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL,
    update_time     timestamptz NOT NULL,
    version         bigint NOT NULL CHECK (version >= 1),
    CHECK ((status = 1) = (resolve_time IS NULL))
);

COMMENT ON TABLE offer IS 'Proposals of a match''s ride to drivers; changed only under the match''s row lock';

-- A driver holds at most one PENDING offer.
CREATE UNIQUE INDEX offer_driver_pending_key ON offer (driver_id) WHERE status = 1;
-- A match offers its ride to a driver at most once.
CREATE UNIQUE INDEX offer_match_driver_key ON offer (match_id, driver_id);
-- WatchDriverOffers reads a driver's recent changes.
CREATE INDEX offer_driver_changes ON offer (driver_id, update_time);

-- Replicas sync their driver index with each other's changes by update time.
CREATE INDEX driver_changes ON driver (update_time);
