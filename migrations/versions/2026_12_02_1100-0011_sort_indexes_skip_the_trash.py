"""The sort indexes of the task listings take `deleted_at` after `list_id`.

Since the trash (0007) every listing reads only tasks with `deleted_at IS NULL`. With the sort key
right after `list_id` the old indexes could not serve that condition, and SQLite read every task of
the caller's lists and sorted them (20,000 tasks: 10 ms for a page of 20). With `(list_id,
deleted_at, <key>, id)` a page walks each list's live tasks in order and stops after the page. Same
names, same number of indexes; rows are untouched. Both index sets answer every query the same, so
the previous release runs on either.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 11:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate may render sqlmodel types
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each sort index and the columns between `list_id` and `id`.
SORT_INDEXES: dict[str, list[str | sa.TextClause]] = {
    "ix_tasks_list_created": ["created_at"],
    "ix_tasks_list_updated": ["updated_at"],
    "ix_tasks_list_due": ["due_date"],
    "ix_tasks_list_priority": ["priority"],
    "ix_tasks_list_status_created": ["status", "created_at"],
    "ix_tasks_list_position": ["position"],
    "ix_tasks_list_title": [sa.text("lower(title)")],
}


def _recreate(*, skip_the_trash: bool) -> None:
    for name, keys in SORT_INDEXES.items():
        op.drop_index(name, table_name="tasks")
        middle: list[str | sa.TextClause] = ["deleted_at", *keys] if skip_the_trash else keys
        op.create_index(name, "tasks", ["list_id", *middle, "id"])


def upgrade() -> None:
    _recreate(skip_the_trash=True)


def downgrade() -> None:
    _recreate(skip_the_trash=False)
