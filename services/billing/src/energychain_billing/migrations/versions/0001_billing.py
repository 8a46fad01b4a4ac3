"""Billing's schema: progress per partition, houses, hourly usage, invoices, payments, trade credits, the outbox.

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
    CREATE TABLE progress (
        partition integer PRIMARY KEY,
        watermark timestamptz NOT NULL
    )
    """,
    """
    CREATE TABLE houses (
        house_id text PRIMARY KEY,
        partition integer NOT NULL,
        first_interval timestamptz NOT NULL
    )
    """,
    """
    CREATE INDEX houses_by_partition ON houses (partition)
    """,
    """
    CREATE TABLE hourly (
        house_id text NOT NULL,
        interval_start timestamptz NOT NULL,
        home_wh integer NOT NULL,
        solar_wh integer NOT NULL,
        grid_import_wh integer NOT NULL,
        grid_export_wh integer NOT NULL,
        battery_charged_wh integer NOT NULL,
        battery_discharged_wh integer NOT NULL,
        invoice_id text,
        PRIMARY KEY (house_id, interval_start)
    )
    """,
    """
    CREATE INDEX hourly_unbilled ON hourly (house_id, interval_start) WHERE invoice_id IS NULL
    """,
    """
    CREATE TABLE invoices (
        invoice_id text PRIMARY KEY,
        house_id text NOT NULL,
        municipality_id text NOT NULL,
        period text NOT NULL,
        period_start timestamptz NOT NULL,
        period_end timestamptz NOT NULL,
        issued_at timestamptz NOT NULL,
        due_at timestamptz NOT NULL,
        new_charges_cents bigint NOT NULL,
        own_charges_cents bigint NOT NULL,
        total_cents bigint NOT NULL,
        energy_wh bigint NOT NULL,
        lines jsonb NOT NULL,
        past_due_cents bigint,  -- set when the clock passed due_at with something unpaid
        UNIQUE (house_id, period)
    )
    """,
    """
    CREATE INDEX invoices_by_house ON invoices (house_id, issued_at)
    """,
    """
    CREATE INDEX invoices_open_due ON invoices (due_at) WHERE past_due_cents IS NULL
    """,
    """
    CREATE TABLE payments (
        payment_id text PRIMARY KEY,
        house_id text NOT NULL,
        municipality_id text NOT NULL,
        idempotency_key text NOT NULL,
        fingerprint text NOT NULL,
        invoice_id text,
        amount_cents bigint NOT NULL CHECK (amount_cents > 0),
        method text NOT NULL,
        received_at timestamptz NOT NULL,  -- simulated time of the house's partition when accepted
        recorded_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (house_id, idempotency_key)
    )
    """,
    """
    CREATE INDEX payments_by_house ON payments (house_id, received_at)
    """,
    """
    CREATE TABLE trade_credits (
        settlement_id text PRIMARY KEY,
        house_id text NOT NULL,
        delivery_hour timestamptz NOT NULL,
        credit_cents bigint NOT NULL,
        refill_wh bigint NOT NULL,
        invoice_id text
    )
    """,
    """
    CREATE INDEX trade_credits_unbilled ON trade_credits (house_id) WHERE invoice_id IS NULL
    """,
)


def upgrade() -> None:
    if applied_by_the_sql_runner("0001_billing"):
        return  # migrated by the earlier SQL-file runner: the tables and the outbox exist
    for statement in STATEMENTS:
        op.execute(statement)
    create_outbox(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("billing's first revision is not reversible: drop the schema instead")
