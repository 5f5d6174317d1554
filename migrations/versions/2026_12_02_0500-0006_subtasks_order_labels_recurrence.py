"""Subtasks, manual order, labels, recurrence and a history of completions.

Tasks get a parent (`parent_id`), a position among their siblings, labels, a recurrence with its
time zone and series start. Existing tasks are all top-level; each list's tasks get positions in
their creation order (oldest first). Positions compare byte by byte: PostgreSQL's column uses the
"C" collation. Every task that is completed now gets one completion, at its `completed_at`, for its
due date; who completed it is not known (`completed_by` null).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 05:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate may render sqlmodel types
from alembic import op
from fractional_indexing import generate_n_keys_between

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

POSITION = sa.String(length=1024).with_variant(sa.String(length=1024, collation="C"), "postgresql")

tasks = sa.table(
    "tasks",
    sa.column("id", sa.Integer()),
    sa.column("list_id", sa.Integer()),
    sa.column("position", sa.String()),
    sa.column("status", sa.String()),
    sa.column("due_date", sa.DateTime(timezone=True)),
    sa.column("completed_at", sa.DateTime(timezone=True)),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
idempotency_keys = sa.table(
    "idempotency_keys",
    sa.column("id", sa.Integer()),
    sa.column("route", sa.String()),
    sa.column("response", sa.JSON()),
)
# The fields a task's JSON gained in 0006, with what an existing task has.
NEW_FIELDS = {"parent_id": None, "labels": [], "recurrence": None, "timezone": "UTC"}
task_completions = sa.table(
    "task_completions",
    sa.column("task_id", sa.Integer()),
    sa.column("completed_at", sa.DateTime(timezone=True)),
    sa.column("due_date", sa.DateTime(timezone=True)),
)


def _title_index(create: bool) -> None:
    # SQLite rebuilds the table below and cannot carry an index on an expression over.
    if create:
        op.create_index("ix_tasks_list_title", "tasks", ["list_id", sa.text("lower(title)"), "id"])
    else:
        op.drop_index("ix_tasks_list_title", table_name="tasks")


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("tasks", sa.Column("parent_id", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("position", POSITION, nullable=True))
    op.add_column("tasks", sa.Column("labels", sa.JSON(), server_default="[]", nullable=False))
    op.add_column("tasks", sa.Column("recurrence", sa.String(length=500), nullable=True))
    op.add_column("tasks", sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False))
    op.add_column("tasks", sa.Column("series_start", sa.DateTime(timezone=True), nullable=True))

    # Each list's tasks, oldest first, take ascending positions.
    rows = bind.execute(
        sa.select(tasks.c.id, tasks.c.list_id).order_by(tasks.c.list_id, tasks.c.created_at, tasks.c.id)
    ).all()
    by_list: dict[int, list[int]] = {}
    for task_id, list_id in rows:
        by_list.setdefault(list_id, []).append(task_id)
    for ids in by_list.values():
        for task_id, key in zip(ids, generate_n_keys_between(None, None, len(ids)), strict=True):
            bind.execute(tasks.update().where(tasks.c.id == task_id).values(position=key))

    _title_index(create=False)
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("position", existing_type=POSITION, nullable=False)
        batch.create_foreign_key(
            "fk_tasks_parent_id_tasks", "tasks", ["parent_id"], ["id"], ondelete="CASCADE"
        )
    _title_index(create=True)
    op.create_index(op.f("ix_tasks_parent_id"), "tasks", ["parent_id"])
    op.create_index("ix_tasks_list_position", "tasks", ["list_id", "position", "id"])
    op.create_index(
        "uq_tasks_sibling_position",
        "tasks",
        ["list_id", sa.text("coalesce(parent_id, 0)"), "position"],
        unique=True,
    )

    _rewrite_stored_answers(bind, upgrade=True)

    op.create_table(
        "task_labels",
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_labels_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", "key", name=op.f("pk_task_labels")),
    )
    op.create_index("ix_task_labels_key_task", "task_labels", ["key", "task_id"])

    op.create_table(
        "task_completions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_date", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["completed_by"],
            ["users.id"],
            name=op.f("fk_task_completions_completed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["task_id"], ["tasks.id"], name=op.f("fk_task_completions_task_id_tasks"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_completions")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_task_completions_task_completed", "task_completions", ["task_id", "completed_at", "id"]
    )
    bind.execute(
        task_completions.insert().from_select(
            ["task_id", "completed_at", "due_date"],
            sa.select(tasks.c.id, tasks.c.completed_at, tasks.c.due_date).where(
                tasks.c.status == "completed", tasks.c.completed_at.is_not(None)
            ),
        )
    )


def _rewrite_stored_answers(bind: sa.Connection, *, upgrade: bool) -> None:
    """Answers stored for Idempotency-Key replays of POST /tasks take the task JSON of the schema."""
    positions = dict(bind.execute(sa.select(tasks.c.id, tasks.c.position)).all()) if upgrade else {}
    for key_id, response in bind.execute(
        sa.select(idempotency_keys.c.id, idempotency_keys.c.response).where(
            idempotency_keys.c.route == "tasks"
        )
    ).all():
        if not response or not isinstance(response.get("body"), dict):
            continue
        body = dict(response["body"])
        if upgrade:
            body = {**NEW_FIELDS, "position": positions.get(body.get("id")) or "a0", **body}
        else:
            for name in (*NEW_FIELDS, "position"):
                body.pop(name, None)
        rewritten = {**response, "body": body}
        bind.execute(
            idempotency_keys.update().where(idempotency_keys.c.id == key_id).values(response=rewritten)
        )


def downgrade() -> None:
    # Subtasks, order, labels, recurrences and completion history have no place below 0006: they go.
    _rewrite_stored_answers(op.get_bind(), upgrade=False)
    op.drop_table("task_completions")
    op.drop_table("task_labels")
    op.drop_index("uq_tasks_sibling_position", table_name="tasks")
    op.drop_index("ix_tasks_list_position", table_name="tasks")
    op.drop_index(op.f("ix_tasks_parent_id"), table_name="tasks")
    _title_index(create=False)
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint("fk_tasks_parent_id_tasks", type_="foreignkey")
        batch.drop_column("series_start")
        batch.drop_column("timezone")
        batch.drop_column("recurrence")
        batch.drop_column("labels")
        batch.drop_column("position")
        batch.drop_column("parent_id")
    _title_index(create=True)
