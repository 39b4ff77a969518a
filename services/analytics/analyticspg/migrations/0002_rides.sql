-- Rides: trip's requests, assignments (with the wait for a driver), completions and
-- cancellations per day and city; fares with a surge.
CREATE TABLE ride_days (
    day             date   NOT NULL,
    city            text   NOT NULL,
    requested       bigint NOT NULL DEFAULT 0,
    assigned        bigint NOT NULL DEFAULT 0,
    assign_seconds  bigint NOT NULL DEFAULT 0,
    completed       bigint NOT NULL DEFAULT 0,
    cancelled       bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, city)
);

ALTER TABLE fare_days ADD COLUMN surged bigint NOT NULL DEFAULT 0;
