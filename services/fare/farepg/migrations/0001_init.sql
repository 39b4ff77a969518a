-- The fare schema. Its tables arrive with the features that need them.
COMMENT ON SCHEMA fare IS 'Waybill fare service: rate cards, dynamic pricing, quotes and ride fares';
