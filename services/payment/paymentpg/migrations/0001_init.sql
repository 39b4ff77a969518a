-- The payment schema. Its tables arrive with the features that need them.
COMMENT ON SCHEMA payment IS 'Waybill payment service: payment methods, authorize, capture, void, refund and settlement';
