-- The booking schema. Its tables arrive with the features that need them.
COMMENT ON SCHEMA booking IS 'Waybill booking service: inventory-based reservations: departures, properties, holds, confirm, cancel, check-in/out';
