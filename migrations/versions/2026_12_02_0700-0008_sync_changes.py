"""The sync feed's record of changes: one row per object that changed for one user.

Nothing is recorded for the past: clients start with a full sync (no cursor), which reads the
lists and tasks themselves.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 07:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate may render sqlmodel types
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SEQUENCE = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sync_changes",
        sa.Column("seq", SEQUENCE, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_sync_changes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_sync_changes")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_sync_changes_user_seq", "sync_changes", ["user_id", "seq"])
    op.create_index(op.f("ix_sync_changes_created_at"), "sync_changes", ["created_at"])
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("purged_through", SEQUENCE, server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
    )


def downgrade() -> None:
    op.drop_table("sync_state")
    op.drop_table("sync_changes")
