-- Surge zones of ride pricing: the current surge of each zone, and every surge ever set.

-- surge is the current surge of each zone of each city, read by every ride quote.
CREATE TABLE surge (
    city           text NOT NULL,
    zone           text NOT NULL,
    multiplier_bps integer NOT NULL CHECK (multiplier_bps BETWEEN 10000 AND 100000),
    -- The zone's circle; null and 0 for the "default" zone.
    center_lat     double precision,
    center_lng     double precision,
    radius_meters  integer NOT NULL,
    expire_time    timestamptz,
    reason         text NOT NULL,
    actor          text NOT NULL,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    version        bigint NOT NULL,
    PRIMARY KEY (city, zone)
);

-- surge_history holds every SetSurge, so a retry with the same request id returns what
-- the first call set even after later changes.
CREATE TABLE surge_history (
    city           text NOT NULL,
    zone           text NOT NULL,
    version        bigint NOT NULL,
    multiplier_bps integer NOT NULL,
    center_lat     double precision,
    center_lng     double precision,
    radius_meters  integer NOT NULL,
    expire_time    timestamptz,
    reason         text NOT NULL,
    actor          text NOT NULL,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    request_id     text UNIQUE,
    PRIMARY KEY (city, zone, version)
);
