"""Task versions (for ETags and conditional writes) and idempotency keys.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 14:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))

    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
        sa.UniqueConstraint("user_id", "key", name=op.f("uq_idempotency_keys_user_id")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    # SQLite drops a column by rebuilding the table, and cannot reflect an index on an expression:
    # the title index is made again by hand, or it would be lost.
    op.drop_index("ix_tasks_owner_title", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("version")
    op.create_index("ix_tasks_owner_title", "tasks", ["owner_id", sa.text("lower(title)"), "id"])
