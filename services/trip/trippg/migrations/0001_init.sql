-- The trip schema. Its tables arrive with the features that need them.
COMMENT ON SCHEMA trip IS 'Waybill trip service: the ride lifecycle and the record of what actually happened';
