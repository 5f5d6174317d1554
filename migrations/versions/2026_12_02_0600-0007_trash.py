"""The trash: a deleted task stays, marked, until it is restored or deleted for good.

`deleted_at`/`deleted_by` mark a task in the trash; `trashed_with_id` names the task whose deletion
took a subtask along (it comes back only with that one). No existing task is in the trash.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate may render sqlmodel types
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

tasks = sa.table("tasks", sa.column("id", sa.Integer()), sa.column("deleted_at", sa.DateTime(timezone=True)))


def _title_index(create: bool) -> None:
    # SQLite rebuilds the table for the foreign keys below and cannot carry an expression index over.
    if create:
        op.create_index("ix_tasks_list_title", "tasks", ["list_id", sa.text("lower(title)"), "id"])
    else:
        op.drop_index("ix_tasks_list_title", table_name="tasks")


def _sibling_index(create: bool) -> None:
    if create:
        op.create_index(
            "uq_tasks_sibling_position",
            "tasks",
            ["list_id", sa.text("coalesce(parent_id, 0)"), "position"],
            unique=True,
        )
    else:
        op.drop_index("uq_tasks_sibling_position", table_name="tasks")


def upgrade() -> None:
    op.add_column("tasks", sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("tasks", sa.Column("deleted_by", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("trashed_with_id", sa.Integer(), nullable=True))
    _title_index(create=False)
    _sibling_index(create=False)
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.create_foreign_key(
            "fk_tasks_deleted_by_users", "users", ["deleted_by"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key(
            "fk_tasks_trashed_with_id_tasks", "tasks", ["trashed_with_id"], ["id"], ondelete="CASCADE"
        )
    _title_index(create=True)
    _sibling_index(create=True)
    op.create_index(op.f("ix_tasks_trashed_with_id"), "tasks", ["trashed_with_id"])
    op.create_index("ix_tasks_list_deleted", "tasks", ["list_id", "deleted_at", "id"])


def downgrade() -> None:
    # Below 0007 there is no trash: what is in it now is deleted for good, as it would have been.
    op.get_bind().execute(tasks.delete().where(tasks.c.deleted_at.is_not(None)))
    op.drop_index("ix_tasks_list_deleted", table_name="tasks")
    op.drop_index(op.f("ix_tasks_trashed_with_id"), table_name="tasks")
    _title_index(create=False)
    _sibling_index(create=False)
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint("fk_tasks_trashed_with_id_tasks", type_="foreignkey")
        batch.drop_constraint("fk_tasks_deleted_by_users", type_="foreignkey")
        batch.drop_column("trashed_with_id")
        batch.drop_column("deleted_by")
        batch.drop_column("deleted_at")
    _title_index(create=True)
    _sibling_index(create=True)
