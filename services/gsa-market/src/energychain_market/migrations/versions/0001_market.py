"""The market's schema: clock, offers, clearings, bids, settlements, prices, the readings read model, the outbox.

Revision ID: 0001
Revises:
"""

from alembic import op

from energychain_shared.migrations import applied_by_the_sql_runner
from energychain_shared.outbox import create_outbox

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

STATEMENTS = (
    """
    CREATE TABLE clock (
        id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
        sim_time timestamptz NOT NULL,
        first_sim_time timestamptz NOT NULL
    )
    """,
    """
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
    )
    """,
    """
    CREATE INDEX offers_by_day_status ON offers (delivery_day, status)
    """,
    """
    CREATE INDEX offers_by_house ON offers (house_id, delivery_day)
    """,
    """
    CREATE INDEX offers_to_settle ON offers (delivery_hour) WHERE status = 'cleared'
    """,
    """
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
    )
    """,
    """
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
    )
    """,
    """
    CREATE INDEX bids_by_hour ON bids (delivery_hour)
    """,
    """
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
    )
    """,
    """
    CREATE INDEX settlements_by_hour ON settlements (delivery_hour)
    """,
    """
    CREATE TABLE price_days (
        market text NOT NULL,
        local_day date NOT NULL,
        published_at timestamptz NOT NULL,
        hours integer NOT NULL,
        PRIMARY KEY (market, local_day)
    )
    """,
    """
    CREATE TABLE prices (
        market text NOT NULL,
        hour_start timestamptz NOT NULL,
        price_usd_per_mwh numeric(14, 4) NOT NULL,
        PRIMARY KEY (market, hour_start)
    )
    """,
    """
    CREATE TABLE readings (
        hour timestamptz NOT NULL,
        house_id text NOT NULL,
        home_wh integer NOT NULL,
        export_wh integer NOT NULL,
        import_wh integer NOT NULL,
        discharged_wh integer NOT NULL,
        PRIMARY KEY (hour, house_id)
    )
    """,
    """
    CREATE TABLE reading_watermarks (
        partition integer PRIMARY KEY,
        sim_time timestamptz NOT NULL
    )
    """,
)


def upgrade() -> None:
    if applied_by_the_sql_runner("0002_outbox_partition"):
        return
    if applied_by_the_sql_runner("0001_market"):  # migrated before the outbox had a partition column
        op.execute("ALTER TABLE outbox ADD COLUMN IF NOT EXISTS partition integer")
        return
    for statement in STATEMENTS:
        op.execute(statement)
    create_outbox(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("the market's first revision is not reversible: drop the schema instead")
