"""Contract amendments and moves to another municipality are registry changes too.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE registry_changes DROP CONSTRAINT registry_changes_kind_check")
    op.execute("ALTER TABLE registry_changes ADD CONSTRAINT registry_changes_kind_check "
               "CHECK (kind IN ('municipality', 'resident', 'contract_amendment', 'move', 'contract_end'))")
    op.execute("ALTER TABLE registry_changes DROP CONSTRAINT registry_changes_kind_subject_key")
    op.execute("CREATE UNIQUE INDEX registry_changes_once ON registry_changes (kind, subject) "
               "WHERE kind IN ('municipality', 'resident', 'contract_end')")


def downgrade() -> None:
    op.execute("DELETE FROM registry_changes WHERE kind IN ('contract_amendment', 'move')")
    op.execute("DROP INDEX registry_changes_once")
    op.execute("ALTER TABLE registry_changes ADD UNIQUE (kind, subject)")
    op.execute("ALTER TABLE registry_changes DROP CONSTRAINT registry_changes_kind_check")
    op.execute("ALTER TABLE registry_changes ADD CONSTRAINT registry_changes_kind_check "
               "CHECK (kind IN ('municipality', 'resident', 'contract_end'))")
