"""Ended contracts (move-out) are registry changes too.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE registry_changes DROP CONSTRAINT registry_changes_kind_check")
    op.execute("ALTER TABLE registry_changes ADD CONSTRAINT registry_changes_kind_check "
               "CHECK (kind IN ('municipality', 'resident', 'contract_end'))")


def downgrade() -> None:
    op.execute("DELETE FROM registry_changes WHERE kind = 'contract_end'")
    op.execute("ALTER TABLE registry_changes DROP CONSTRAINT registry_changes_kind_check")
    op.execute("ALTER TABLE registry_changes ADD CONSTRAINT registry_changes_kind_check "
               "CHECK (kind IN ('municipality', 'resident'))")
