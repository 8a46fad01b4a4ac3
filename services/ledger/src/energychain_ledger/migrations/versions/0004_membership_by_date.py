"""Membership by date: the municipalities a resident channel belonged to, each from one instant to the next
(a house that moves belongs to its new municipality from the local midnight of the move's date).

Every resident channel with a municipality gets its enrolment's span, open at both ends; the moves come
from the registry when the ledger follows it.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE ledger.channel_memberships (
        channel          text NOT NULL REFERENCES ledger.channels (channel),
        span             integer NOT NULL CHECK (span >= 0),
        municipality_id  text NOT NULL,
        member_from      timestamptz,
        member_until     timestamptz,
        PRIMARY KEY (channel, span),
        CHECK (member_from IS NULL OR member_until IS NULL OR member_from < member_until)
    )""")
    op.execute("CREATE INDEX channel_memberships_municipality ON ledger.channel_memberships (municipality_id, channel)")
    op.execute("""
    INSERT INTO ledger.channel_memberships (channel, span, municipality_id)
    SELECT channel, 0, municipality_id FROM ledger.channels
    WHERE kind = 'resident' AND municipality_id IS NOT NULL""")


def downgrade() -> None:
    op.execute("DROP TABLE ledger.channel_memberships")
