"""Escrow's state: billing's watermarks, the inbox of billing events, each municipality's book, every movement.

Revision ID: 0001_escrow
Revises:
"""

from alembic import op

from energychain_shared.migrations import applied_by_the_sql_runner
from energychain_shared.outbox import create_outbox

revision = "0001_escrow"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    if applied_by_the_sql_runner("0002_inbox_payload"):
        return
    # Billing's in-band watermark per (topic, partition): escrow acts on events up to the lowest.
    op.execute("""
        CREATE TABLE watermarks (
            topic text NOT NULL,
            partition integer NOT NULL,
            sim_time timestamptz NOT NULL,
            PRIMARY KEY (topic, partition)
        )
    """)
    # Every billing event once (by event id), until applied to its municipality's book; the
    # event as received beside the fields escrow applies, so a book can be checked against
    # (or rebuilt from) exactly what billing said.
    op.execute("""
        CREATE TABLE inbox (
            event_id text PRIMARY KEY,
            municipality_id text NOT NULL,
            kind text NOT NULL,
            occurred_at timestamptz NOT NULL,
            house_id text NOT NULL,
            invoice_id text,
            amount_cents bigint NOT NULL,
            applied boolean NOT NULL DEFAULT false,
            payload jsonb
        )
    """)
    op.execute("CREATE INDEX inbox_pending ON inbox (municipality_id, occurred_at) WHERE NOT applied")
    op.execute("""
        CREATE TABLE books (
            municipality_id text PRIMARY KEY,
            state jsonb NOT NULL,
            processed_until timestamptz
        )
    """)
    op.execute("""
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
        )
    """)
    op.execute("CREATE INDEX movements_by_municipality ON movements (municipality_id, seq)")
    create_outbox(op.get_bind())


def downgrade() -> None:
    raise NotImplementedError("escrow's first revision is not undone: drop the schema")
