-- A test provider's reservations, in the provider's own schema.
CREATE TABLE reservations (
    id            text        PRIMARY KEY,
    kind          integer     NOT NULL,
    customer_id   text        NOT NULL,
    main_status   integer     NOT NULL,
    sub_status    text        NOT NULL DEFAULT '',
    amount_minor  bigint      NOT NULL,
    currency_code text        NOT NULL,
    title         text        NOT NULL,
    subtitle      text        NOT NULL DEFAULT '',
    update_time   timestamptz NOT NULL,
    version       bigint      NOT NULL
);
