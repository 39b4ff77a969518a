-- Accounts: a customer's profile, contacts, preferences and owner-enforced status. A
-- deleted account keeps only id, status, suspension and times (its tombstone).
CREATE TABLE account (
    id                text PRIMARY KEY CONSTRAINT account_id_check CHECK (id ~ '^[A-Za-z0-9._:@|+-]{1,128}$'),
    display_name      text NOT NULL DEFAULT '',
    locale            text NOT NULL DEFAULT '',
    time_zone         text NOT NULL DEFAULT '',
    email             text NOT NULL DEFAULT '',
    email_verify_time timestamptz,
    phone             text NOT NULL DEFAULT '',
    phone_verify_time timestamptz,
    -- {"transactional": {"channels": [1, 2], "opted_out": false}, "ride_updates": …, "marketing": …}
    preferences       jsonb NOT NULL,
    -- waybill.account.v1.AccountStatus: 1 ACTIVE, 2 SUSPENDED, 3 DELETED.
    status            smallint NOT NULL CHECK (status BETWEEN 1 AND 3),
    sub_status        text NOT NULL DEFAULT '',
    -- The suspension in force or the last one; NULL when never suspended.
    suspension        jsonb,
    create_time       timestamptz NOT NULL,
    update_time       timestamptz NOT NULL,
    delete_time       timestamptz,
    version           bigint NOT NULL CHECK (version >= 1),
    -- A deleted account holds no personal data.
    CONSTRAINT account_erased CHECK (status <> 3 OR (display_name = '' AND locale = '' AND time_zone = ''
        AND email = '' AND phone = '' AND sub_status = ''))
);

COMMENT ON TABLE account IS 'Customers'' accounts; id is the customer id (their token subject)';

-- ListAccounts: by creation time, then id; per status.
CREATE INDEX account_list ON account (create_time, id);
CREATE INDEX account_status_list ON account (status, create_time, id);

-- Each contact's verification codes: the current code (its HMAC only; code_hash NULL
-- when there is none) and the window that rate-limits issuing new ones.
CREATE TABLE verification_code (
    account_id   text NOT NULL REFERENCES account (id) ON DELETE CASCADE,
    -- waybill.account.v1.ContactKind: 1 EMAIL, 2 PHONE.
    kind         smallint NOT NULL CHECK (kind BETWEEN 1 AND 2),
    code_id      uuid,
    destination  text NOT NULL DEFAULT '',
    code_hash    bytea,
    issue_time   timestamptz,
    expire_time  timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    used_time    timestamptz,
    window_start timestamptz NOT NULL,
    window_count integer NOT NULL,
    PRIMARY KEY (account_id, kind)
);

COMMENT ON TABLE verification_code IS 'One-time codes verifying contacts: HMACs only, never the codes';
