-- kit/consumer: consumer groups (Config.Group). A group splits a source's stream by key
-- hash into a fixed number of partitions; each partition has its own cursor and is owned
-- by one live member at a time through a lease.

-- One row per (consumer, source, partition): the last event of the partition applied (or
-- parked). Advanced in the same transaction as the handler's writes, by the partition's
-- owner only, so an event's effect happens exactly once across members and rebalances.
CREATE TABLE consumer_partition_cursors (
    consumer   text        NOT NULL,
    source     text        NOT NULL,
    partition  int         NOT NULL,
    -- The group's partition count: keys map to partitions by hash modulo this count, so
    -- it cannot change while the rows exist.
    partitions int         NOT NULL,
    -- The sequence of the last event of this partition applied; the partition's events at
    -- or below it are skipped.
    seq        bigint      NOT NULL DEFAULT 0,
    -- The source's cursor right after the event with sequence seq; empty starts at the
    -- beginning of the retained log.
    cursor     text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source, partition)
);

-- Who owns each partition, until when. A table of its own so that renewing a lease never
-- waits for a batch in flight: a batch locks its cursor rows, and taking a partition over
-- locks the cursor row too (skipping it while locked), so a member whose lease ran out
-- finishes its transaction before anyone else applies the partition.
CREATE TABLE consumer_leases (
    consumer    text        NOT NULL,
    source      text        NOT NULL,
    partition   int         NOT NULL,
    -- The member holding the lease; empty when released.
    owner       text        NOT NULL DEFAULT '',
    -- The fencing token: incremented on every acquisition. A member applies a partition's
    -- events only while the lease still names it with the epoch it acquired.
    epoch       bigint      NOT NULL DEFAULT 0,
    acquired_at timestamptz,
    lease_until timestamptz NOT NULL DEFAULT 'epoch',
    PRIMARY KEY (consumer, source, partition)
);

-- The group's members and when their membership lapses unless renewed. The live members,
-- in name order, split the partitions into contiguous ranges.
CREATE TABLE consumer_members (
    consumer   text        NOT NULL,
    source     text        NOT NULL,
    member     text        NOT NULL,
    joined_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (consumer, source, member)
);
