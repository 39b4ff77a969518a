-- The account gate's read model (kit/accountgate): which customers the account service
-- suspended, fed by its account.account.suspended and account.account.reinstated events.
CREATE TABLE customer_suspension (
    customer_id text PRIMARY KEY,
    suspended   boolean NOT NULL,
    reason      text NOT NULL DEFAULT '',
    -- The account's version the row reflects: an older event never overwrites a newer one.
    version     bigint NOT NULL,
    update_time timestamptz NOT NULL
);

COMMENT ON TABLE customer_suspension IS 'Customers suspended by the account service, from its events (kit/accountgate)';
