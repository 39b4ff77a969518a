-- The account schema: customers' accounts and their contacts' verification codes.
COMMENT ON SCHEMA account IS 'Waybill account service: customers'' profiles, contacts, preferences and status';
