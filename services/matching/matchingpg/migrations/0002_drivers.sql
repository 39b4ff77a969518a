-- Drivers: who drives, their vehicle, and their owner-enforced availability.
CREATE TABLE driver (
    id               uuid PRIMARY KEY,
    name             text NOT NULL,
    city             text NOT NULL,
    vehicle_plate    text NOT NULL,
    vehicle_model    text NOT NULL,
    products         text[] NOT NULL,
    -- waybill.matching.v1.DriverStatus: 1 OFFLINE, 2 AVAILABLE, 3 OFFERED, 4 ON_TRIP.
    status           smallint NOT NULL CHECK (status BETWEEN 1 AND 4),
    sub_status       text NOT NULL DEFAULT '',
    current_match_id uuid,
    current_trip_id  text,
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    version          bigint NOT NULL CHECK (version >= 1)
);

COMMENT ON TABLE driver IS 'Drivers; location fixes live in driver_location (they do not change the driver''s version)';

-- A plate is unique per city among drivers, whatever its letters' case.
CREATE UNIQUE INDEX driver_city_plate_key ON driver (city, upper(vehicle_plate));
-- ListDrivers: by creation time, then id; per city.
CREATE INDEX driver_list ON driver (create_time, id);
CREATE INDEX driver_city_list ON driver (city, create_time, id);
-- The index's rebuild reads the drivers who are not OFFLINE.
CREATE INDEX driver_tracked ON driver (id) WHERE status <> 1;

-- Each driver's last stored location fix, written in batches by the location flusher.
-- fillfactor leaves room for HOT updates: the table is rewritten every few seconds.
CREATE TABLE driver_location (
    driver_id       uuid PRIMARY KEY REFERENCES driver (id),
    latitude        double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude       double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    fix_time        timestamptz NOT NULL,
    accuracy_meters double precision NOT NULL,
    heading_degrees double precision NOT NULL,
    speed_mps       double precision NOT NULL,
    save_time       timestamptz NOT NULL
) WITH (fillfactor = 70);

COMMENT ON TABLE driver_location IS 'Each driver''s last location fix, persisted in batches so a restarted or second replica rebuilds its in-memory index';
