"""Lists and their members: every user gets an inbox, and their tasks move into it.

Tasks no longer have an owner: they are in a list (`list_id`), were made by someone (`created_by`,
null once that account is deleted) and may be assigned to a member (`assignee_id`). Every existing
user gets an inbox named "Inbox" (created when the account was), owned by them, with them as its
only member; each task moves into its owner's inbox, made by that owner.

Idempotency keys are kept per route now ("tasks", "lists"); the stored answers of existing keys are
rewritten into the new shape, so a retry across the upgrade still replays.

Downgrade works while every list is an inbox with one member: tasks go back to their list's owner.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 04:00:00+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate may render sqlmodel types
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_TASK_INDEXES = ["created", "updated", "due", "priority", "status_created"]
_NEW_TASK_INDEXES = {
    "ix_tasks_list_created": ["list_id", "created_at", "id"],
    "ix_tasks_list_updated": ["list_id", "updated_at", "id"],
    "ix_tasks_list_due": ["list_id", "due_date", "id"],
    "ix_tasks_list_priority": ["list_id", "priority", "id"],
    "ix_tasks_list_status_created": ["list_id", "status", "created_at", "id"],
}
_OLD_TASK_INDEX_COLUMNS = {
    "created": ["owner_id", "created_at", "id"],
    "updated": ["owner_id", "updated_at", "id"],
    "due": ["owner_id", "due_date", "id"],
    "priority": ["owner_id", "priority", "id"],
    "status_created": ["owner_id", "status", "created_at", "id"],
}

users = sa.table("users", sa.column("id", sa.Integer()), sa.column("created_at", sa.DateTime(timezone=True)))
lists = sa.table(
    "lists",
    sa.column("id", sa.Integer()),
    sa.column("name", sa.String()),
    sa.column("is_inbox", sa.Boolean()),
    sa.column("owner_id", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
    sa.column("version", sa.Integer()),
)
list_members = sa.table(
    "list_members",
    sa.column("list_id", sa.Integer()),
    sa.column("user_id", sa.Integer()),
    sa.column("role", sa.String()),
    sa.column("added_at", sa.DateTime(timezone=True)),
)
tasks = sa.table(
    "tasks",
    sa.column("id", sa.Integer()),
    sa.column("owner_id", sa.Integer()),
    sa.column("list_id", sa.Integer()),
    sa.column("created_by", sa.Integer()),
)
idempotency_keys = sa.table(
    "idempotency_keys",
    sa.column("id", sa.Integer()),
    sa.column("route", sa.String()),
    sa.column("user_id", sa.Integer()),
    sa.column("response", sa.JSON()),
)


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("is_inbox", sa.Boolean(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_lists_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_lists_owner_id"), "lists", ["owner_id"])
    op.create_index("ix_lists_name", "lists", [sa.text("lower(name)"), "id"])
    op.create_index(
        "uq_lists_inbox_owner",
        "lists",
        ["owner_id"],
        unique=True,
        sqlite_where=sa.text("is_inbox"),
        postgresql_where=sa.text("is_inbox"),
    )
    op.create_table(
        "list_members",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_list_members_list_id_lists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_list_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("list_id", "user_id", name=op.f("pk_list_members")),
    )
    op.create_index(op.f("ix_list_members_user_id"), "list_members", ["user_id"])

    # Every user's inbox, made when the account was, with its owner as the only member.
    bind.execute(
        lists.insert().from_select(
            ["name", "is_inbox", "owner_id", "created_at", "updated_at", "version"],
            sa.select(
                sa.literal("Inbox"),
                sa.true(),
                users.c.id,
                users.c.created_at,
                users.c.created_at,
                sa.literal(1),
            ),
        )
    )
    bind.execute(
        list_members.insert().from_select(
            ["list_id", "user_id", "role", "added_at"],
            sa.select(lists.c.id, lists.c.owner_id, sa.literal("owner"), lists.c.created_at),
        )
    )

    # Each task moves into its owner's inbox, made by that owner.
    op.add_column("tasks", sa.Column("list_id", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("created_by", sa.Integer(), nullable=True))
    op.add_column("tasks", sa.Column("assignee_id", sa.Integer(), nullable=True))
    inbox = (
        sa.select(lists.c.id).where(lists.c.owner_id == tasks.c.owner_id, lists.c.is_inbox).scalar_subquery()
    )
    bind.execute(tasks.update().values(list_id=inbox, created_by=tasks.c.owner_id))

    # Dropped before the table is rebuilt: SQLite could not carry the expression index over anyway.
    op.drop_index("ix_tasks_owner_title", table_name="tasks")
    for name in _OLD_TASK_INDEXES:
        op.drop_index(f"ix_tasks_owner_{name}", table_name="tasks")
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("list_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_constraint("fk_tasks_owner_id_users", type_="foreignkey")
        batch.drop_column("owner_id")
        batch.create_foreign_key("fk_tasks_list_id_lists", "lists", ["list_id"], ["id"], ondelete="CASCADE")
        batch.create_foreign_key(
            "fk_tasks_created_by_users", "users", ["created_by"], ["id"], ondelete="SET NULL"
        )
        batch.create_foreign_key(
            "fk_tasks_assignee_id_users", "users", ["assignee_id"], ["id"], ondelete="SET NULL"
        )
    for name, columns in _NEW_TASK_INDEXES.items():
        op.create_index(name, "tasks", columns)
    op.create_index("ix_tasks_list_title", "tasks", ["list_id", sa.text("lower(title)"), "id"])
    op.create_index(op.f("ix_tasks_assignee_id"), "tasks", ["assignee_id"])

    # Idempotency keys: one space per route; existing ones were all for POST /tasks.
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(sa.Column("route", sa.String(length=16), server_default="tasks", nullable=False))
        batch.drop_constraint("uq_idempotency_keys_user_id", type_="unique")
        batch.create_unique_constraint("uq_idempotency_keys_user_id", ["user_id", "route", "key"])
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column("route", existing_type=sa.String(length=16), server_default=None)
    _rewrite_stored_answers(bind, upgrade=True)


def _rewrite_stored_answers(bind: sa.Connection, *, upgrade: bool) -> None:
    """The stored answers of POST /tasks: {"task": {..., "owner_id"}} <-> {"body": {..., "list_id", ...}}."""
    inboxes = dict(bind.execute(sa.select(lists.c.owner_id, lists.c.id).where(lists.c.is_inbox)).all())
    for key_id, user_id, response in bind.execute(
        sa.select(idempotency_keys.c.id, idempotency_keys.c.user_id, idempotency_keys.c.response)
    ).all():
        if not response:
            continue
        if upgrade and "task" in response:
            task = dict(response["task"])
            owner = task.pop("owner_id", user_id)
            task.update(list_id=inboxes.get(owner), created_by=owner, assignee_id=None)
            rewritten = {"body": task, "etag": response["etag"]}
        elif not upgrade and "body" in response:
            task = dict(response["body"])
            task["owner_id"] = task.get("created_by") or user_id
            for name in ("list_id", "created_by", "assignee_id"):
                task.pop(name, None)
            rewritten = {"task": task, "etag": response["etag"]}
        else:
            continue
        bind.execute(
            idempotency_keys.update().where(idempotency_keys.c.id == key_id).values(response=rewritten)
        )


def downgrade() -> None:
    bind = op.get_bind()
    shared = (
        bind.execute(sa.select(sa.func.count()).select_from(lists).where(~lists.c.is_inbox)).scalar_one()
        + bind.execute(
            sa.select(sa.func.count()).select_from(list_members).where(list_members.c.role != "owner")
        ).scalar_one()
    )
    if shared:
        raise RuntimeError(
            "cannot downgrade below 0005: there are lists other than inboxes, or members other than "
            "owners; the schema before 0005 has no place for them"
        )
    # Keys sent to POST /lists have no place below 0005 (nor could they share one space with the
    # keys of POST /tasks): they go; a retry after the downgrade creates a list anew.
    bind.execute(idempotency_keys.delete().where(idempotency_keys.c.route != "tasks"))
    _rewrite_stored_answers(bind, upgrade=False)
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.drop_constraint("uq_idempotency_keys_user_id", type_="unique")
        batch.drop_column("route")
        batch.create_unique_constraint("uq_idempotency_keys_user_id", ["user_id", "key"])

    op.add_column("tasks", sa.Column("owner_id", sa.Integer(), nullable=True))
    owner = sa.select(lists.c.owner_id).where(lists.c.id == tasks.c.list_id).scalar_subquery()
    bind.execute(tasks.update().values(owner_id=owner))
    op.drop_index(op.f("ix_tasks_assignee_id"), table_name="tasks")
    op.drop_index("ix_tasks_list_title", table_name="tasks")
    for name in _NEW_TASK_INDEXES:
        op.drop_index(name, table_name="tasks")
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_constraint("fk_tasks_assignee_id_users", type_="foreignkey")
        batch.drop_constraint("fk_tasks_created_by_users", type_="foreignkey")
        batch.drop_constraint("fk_tasks_list_id_lists", type_="foreignkey")
        batch.drop_column("assignee_id")
        batch.drop_column("created_by")
        batch.drop_column("list_id")
        batch.alter_column("owner_id", existing_type=sa.Integer(), nullable=False)
        batch.create_foreign_key("fk_tasks_owner_id_users", "users", ["owner_id"], ["id"], ondelete="CASCADE")
    for name, columns in _OLD_TASK_INDEX_COLUMNS.items():
        op.create_index(f"ix_tasks_owner_{name}", "tasks", columns)
    op.create_index("ix_tasks_owner_title", "tasks", ["owner_id", sa.text("lower(title)"), "id"])

    op.drop_table("list_members")
    op.drop_table("lists")
