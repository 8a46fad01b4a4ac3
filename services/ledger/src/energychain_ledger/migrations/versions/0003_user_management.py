"""Managed users and login throttling: users can be disabled and re-passworded (with the time before which
their tokens are refused), and failed sign-ins are counted per username and per client address.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE ledger.users ADD COLUMN disabled_at timestamptz")
    op.execute("ALTER TABLE ledger.users ADD COLUMN tokens_valid_after timestamptz")
    op.execute("""
    CREATE TABLE ledger.login_attempts (
        key           text PRIMARY KEY,
        failures      integer NOT NULL CHECK (failures > 0),
        window_start  timestamptz NOT NULL,
        locked_until  timestamptz
    )""")


def downgrade() -> None:
    op.execute("DROP TABLE ledger.login_attempts")
    op.execute("ALTER TABLE ledger.users DROP COLUMN tokens_valid_after")
    op.execute("ALTER TABLE ledger.users DROP COLUMN disabled_at")
