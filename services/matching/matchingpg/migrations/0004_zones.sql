-- The supply and demand of each zone (S2 cell of level 12) as last emitted in a
-- matching.zone.supply_demand event, so that only changes are emitted, once, whichever
-- replica counts and across restarts. Zones whose counts dropped to zero are removed.
CREATE TABLE zone_count (
    zone              text PRIMARY KEY,
    available_drivers integer NOT NULL CHECK (available_drivers >= 0),
    open_requests     integer NOT NULL CHECK (open_requests >= 0),
    as_of             timestamptz NOT NULL
);

COMMENT ON TABLE zone_count IS 'Each zone''s counts as last emitted in matching.zone.supply_demand';

-- Open requests are counted from the matches SEARCHING or OFFERED.
CREATE INDEX match_open ON match (status) WHERE status IN (1, 2);
