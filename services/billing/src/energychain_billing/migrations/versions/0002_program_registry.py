"""The program registry's changes billing accepted (the administration API's record, published on program.registry).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
    CREATE TABLE registry_changes (
        seq          bigserial PRIMARY KEY,
        event_id     text NOT NULL UNIQUE,
        kind         text NOT NULL CHECK (kind IN ('municipality', 'resident')),
        subject      text NOT NULL,
        body         jsonb NOT NULL,
        recorded_at  timestamptz NOT NULL DEFAULT now(),
        recorded_by  text NOT NULL,
        UNIQUE (kind, subject)
    )""")


def downgrade() -> None:
    op.execute("DROP TABLE registry_changes")
