-- Rate cards and their immutable versions, and stored quotes.

-- rate_card is one row per product key: the card's identity and its latest version.
-- Updates lock this row, so versions of one card are numbered and announced in order.
CREATE TABLE rate_card (
    id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The canonical product key (a JSON array, see fare.ProductKey.Canonical).
    product_key       text NOT NULL UNIQUE,
    kind              smallint NOT NULL CHECK (kind BETWEEN 1 AND 3),
    latest_version    bigint NOT NULL CHECK (latest_version >= 1),
    create_time       timestamptz NOT NULL,
    -- The idempotency key of the CreateRateCard call that made the card.
    create_request_id text UNIQUE
);

CREATE INDEX rate_card_kind_id ON rate_card (kind, id);

-- rate_card_version holds every version of every card, never updated or deleted.
CREATE TABLE rate_card_version (
    rate_card_id       uuid NOT NULL REFERENCES rate_card (id),
    version            bigint NOT NULL CHECK (version >= 1),
    -- Copied from rate_card so that a quote finds its version with one index scan.
    product_key        text NOT NULL,
    currency_code      text NOT NULL,
    -- Inventory pricing (seat and stay cards); null on ride cards.
    unit_price         bigint,
    -- Ride pricing; null on inventory cards.
    base_fare          bigint,
    per_kilometer      bigint,
    per_minute         bigint,
    minimum_fare       bigint,
    -- Dynamic pricing; has_dynamic is false when the card has none (always 1.0x).
    has_dynamic        boolean NOT NULL,
    min_multiplier_bps integer NOT NULL,
    max_multiplier_bps integer NOT NULL,
    load_factor_tiers  jsonb NOT NULL,
    effective_time     timestamptz NOT NULL,
    description        text NOT NULL,
    author             text NOT NULL,
    -- When version 1 was created, copied so that reads need no join.
    create_time        timestamptz NOT NULL,
    update_time        timestamptz NOT NULL,
    -- The idempotency key of the UpdateRateCard call that wrote the version.
    request_id         text,
    PRIMARY KEY (rate_card_id, version),
    UNIQUE (rate_card_id, request_id),
    CHECK ((unit_price IS NULL) = (base_fare IS NOT NULL))
);

-- The quote lookup: the newest version of a product key in effect at a time.
CREATE INDEX rate_card_version_key ON rate_card_version (product_key, version DESC) INCLUDE (effective_time);

-- quote holds every quote given; rows are inserted once and never changed. There is no
-- foreign key to rate_card_version: a quote is an append-only record, and the check would
-- add a lookup and a row lock to the hottest path.
CREATE TABLE quote (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    product_key      text NOT NULL,
    rate_card_id     uuid NOT NULL,
    rate_version     bigint NOT NULL,
    currency_code    text NOT NULL,
    quantity         integer NOT NULL,
    nights           integer NOT NULL,
    check_in_date    date,
    check_out_date   date,
    unit_price       bigint,
    price            bigint NOT NULL,
    multiplier_bps   integer NOT NULL,
    load_factor_bps  integer NOT NULL,
    surge_zone       text NOT NULL,
    distance_meters  bigint NOT NULL,
    duration_seconds bigint NOT NULL,
    lines            jsonb NOT NULL,
    create_time      timestamptz NOT NULL,
    valid_until      timestamptz NOT NULL
);
