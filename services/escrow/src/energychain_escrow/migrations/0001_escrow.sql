-- Escrow's own state: billing's progress per partition, the inbox of billing events, each
-- municipality's book, and every movement.

-- Billing's in-band watermark per (topic, partition): escrow acts on events up to the lowest.
CREATE TABLE watermarks (
    topic text NOT NULL,
    partition integer NOT NULL,
    sim_time timestamptz NOT NULL,
    PRIMARY KEY (topic, partition)
);

-- Every billing event once (by event id), until applied to its municipality's book.
CREATE TABLE inbox (
    event_id text PRIMARY KEY,
    municipality_id text NOT NULL,
    kind text NOT NULL,
    occurred_at timestamptz NOT NULL,
    house_id text NOT NULL,
    invoice_id text,
    amount_cents bigint NOT NULL,
    applied boolean NOT NULL DEFAULT false
);
CREATE INDEX inbox_pending ON inbox (municipality_id, occurred_at) WHERE NOT applied;

CREATE TABLE books (
    municipality_id text PRIMARY KEY,
    state jsonb NOT NULL,
    processed_until timestamptz
);

CREATE TABLE movements (
    movement_id text PRIMARY KEY,
    municipality_id text NOT NULL,
    seq bigserial,
    kind text NOT NULL,
    amount_cents bigint NOT NULL,
    balance_after_cents bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    month text NOT NULL,
    house_id text,
    invoice_id text
);
CREATE INDEX movements_by_municipality ON movements (municipality_id, seq);
