-- The matching schema. Its tables arrive with the features that need them.
COMMENT ON SCHEMA matching IS 'Waybill matching service: drivers'' availability and location, and finding a driver for a ride';
