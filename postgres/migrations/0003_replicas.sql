-- 0003: several replicas on one database. Each running process of hxchat is
-- a replica, with a random id and the URL where the others reach it; every
-- answer it starts names it (a lease), and one heartbeat write renews all
-- of a replica's leases at once. An answer whose replica has not been seen
-- for the lease's TTL is taken by another replica: stored interrupted.

CREATE TABLE replicas (
    id      text        NOT NULL PRIMARY KEY,
    url     text        NOT NULL,
    -- When the replica last said it is alive, by the database's clock (so
    -- that the clocks of the replicas' machines do not matter).
    seen_at timestamptz NOT NULL
);

-- The replica that generates a streaming answer; NULL for every other
-- message, and for answers a process left streaming before this migration
-- (taken as soon as a replica sweeps).
ALTER TABLE messages ADD COLUMN replica_id text;

-- The key of the replicas' internal requests: one row, made by the first
-- replica that needs it.
CREATE TABLE cluster_secret (
    one    boolean NOT NULL PRIMARY KEY DEFAULT true CHECK (one),
    secret bytea   NOT NULL
);
