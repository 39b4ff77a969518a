-- The billing schema. Its tables arrive with the features that need them.
COMMENT ON SCHEMA billing IS 'Waybill billing service: bills across providers, the operator panel''s read model and the pay saga';
