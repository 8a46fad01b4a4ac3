-- The GSA market's own state: offers, clearing results, settlements, the readings read model, the outbox.
CREATE TABLE clock (
    id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    sim_time timestamptz NOT NULL,
    first_sim_time timestamptz NOT NULL
);

CREATE TABLE offers (
    offer_id text PRIMARY KEY,
    house_id text NOT NULL,
    municipality_id text NOT NULL,
    timezone text NOT NULL,
    delivery_day date NOT NULL,
    reserve_percent smallint NOT NULL,
    energy_wh bigint NOT NULL CHECK (energy_wh > 0),
    min_price_usd_per_kwh numeric(12, 6) NOT NULL,
    rate_usd_per_kwh numeric(20, 12) NOT NULL,
    status text NOT NULL,
    offered_at timestamptz NOT NULL,
    cancelled_at timestamptz,
    bid_id text,
    delivery_hour timestamptz,
    cleared_wh bigint,
    clearing_price_usd_per_mwh numeric(14, 4),
    outcome_reason text,
    outcome_detail text
);
CREATE INDEX offers_by_day_status ON offers (delivery_day, status);
CREATE INDEX offers_by_house ON offers (house_id, delivery_day);
CREATE INDEX offers_to_settle ON offers (delivery_hour) WHERE status = 'cleared';

CREATE TABLE clearings (
    clearing_id text PRIMARY KEY,
    delivery_day date NOT NULL,
    timezone text NOT NULL,
    mechanism text NOT NULL,
    min_aggregate_wh bigint NOT NULL,
    gate_closure timestamptz NOT NULL,
    offers_count integer NOT NULL,
    cleared_offers integer NOT NULL,
    cleared_wh bigint NOT NULL,
    UNIQUE (delivery_day, timezone)
);

CREATE TABLE bids (
    bid_id text PRIMARY KEY,
    clearing_id text NOT NULL REFERENCES clearings (clearing_id),
    delivery_day date NOT NULL,
    delivery_hour timestamptz NOT NULL,
    energy_wh bigint NOT NULL,
    offers_count integer NOT NULL,
    limit_price_usd_per_mwh numeric(14, 4) NOT NULL,
    status text NOT NULL,
    accepted_wh bigint NOT NULL,
    clearing_price_usd_per_mwh numeric(14, 4),
    reason text,
    detail text
);
CREATE INDEX bids_by_hour ON bids (delivery_hour);

CREATE TABLE settlements (
    settlement_id text PRIMARY KEY,
    offer_id text NOT NULL UNIQUE REFERENCES offers (offer_id),
    house_id text NOT NULL,
    municipality_id text NOT NULL,
    delivery_hour timestamptz NOT NULL,
    offered_wh bigint NOT NULL,
    delivered_wh bigint NOT NULL,
    clearing_price_usd_per_mwh numeric(14, 4) NOT NULL,
    proceeds_cents bigint NOT NULL,
    fee_cents bigint NOT NULL,
    credit_cents bigint NOT NULL,
    refill_wh bigint NOT NULL,
    shortfall_reason text,
    settled_at timestamptz NOT NULL
);
CREATE INDEX settlements_by_hour ON settlements (delivery_hour);

CREATE TABLE price_days (
    market text NOT NULL,
    local_day date NOT NULL,
    published_at timestamptz NOT NULL,
    hours integer NOT NULL,
    PRIMARY KEY (market, local_day)
);

CREATE TABLE prices (
    market text NOT NULL,
    hour_start timestamptz NOT NULL,
    price_usd_per_mwh numeric(14, 4) NOT NULL,
    PRIMARY KEY (market, hour_start)
);

-- Readings read model for the GSA dashboard and the delivery check: one compact row per house-hour.
CREATE TABLE readings (
    hour timestamptz NOT NULL,
    house_id text NOT NULL,
    home_wh integer NOT NULL,
    export_wh integer NOT NULL,
    import_wh integer NOT NULL,
    discharged_wh integer NOT NULL,
    PRIMARY KEY (hour, house_id)
);

CREATE TABLE reading_watermarks (
    partition integer PRIMARY KEY,
    sim_time timestamptz NOT NULL
);

-- Events to publish after the transaction that decided them commits (transactional outbox).
CREATE TABLE outbox (
    seq bigserial PRIMARY KEY,
    event_id text NOT NULL,
    topic text NOT NULL,
    payload bytea NOT NULL,
    record_key bytea,
    published boolean NOT NULL DEFAULT false,
    UNIQUE (topic, event_id)
);
CREATE INDEX outbox_pending ON outbox (seq) WHERE NOT published;
