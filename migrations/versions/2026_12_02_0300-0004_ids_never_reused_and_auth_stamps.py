"""Ids that are never handed out twice, and a random per-account stamp in every access token.

On SQLite a table without AUTOINCREMENT gives the id of its newest deleted row to the next one:
a deleted account's tokens then named the next account. The users and tasks tables are rebuilt
with AUTOINCREMENT (the rows keep their ids, and SQLite continues after the largest). PostgreSQL's
sequences never go back, so there nothing changes but the stamp.

`users.token_version` (a counter in the token) becomes `users.auth_stamp` (a random value in the
token): it still changes with the password, and no other account can ever have it. Every user gets
a stamp of their own, so access tokens issued before this migration stop working; refresh tokens
keep working and get new access tokens.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 03:00:00+00:00
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401 - autogenerate may render sqlmodel types
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite cannot reflect indexes on expressions, so a rebuilt table would lose them: made again here.
_EXPRESSION_INDEXES = {
    "tasks": [("ix_tasks_owner_title", ["owner_id", sa.text("lower(title)"), "id"], False)],
}

_users = sa.table("users", sa.column("id", sa.Integer()), sa.column("auth_stamp", sa.String(32)))


def _rebuild_on_sqlite(table: str, *, autoincrement: bool) -> None:
    """Rebuild `table` (SQLite only) with or without AUTOINCREMENT, its rows and indexes kept."""
    for name, _columns, _unique in _EXPRESSION_INDEXES[table]:
        op.drop_index(name, table_name=table)
    with op.batch_alter_table(table, recreate="always", table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass
    for name, columns, unique in _EXPRESSION_INDEXES[table]:
        op.create_index(name, table, columns, unique=unique)


def upgrade() -> None:
    bind = op.get_bind()
    op.add_column("users", sa.Column("auth_stamp", sa.String(length=32), nullable=True))
    for (user_id,) in bind.execute(sa.select(_users.c.id)).all():
        bind.execute(_users.update().where(_users.c.id == user_id).values(auth_stamp=secrets.token_hex(16)))
    if bind.dialect.name == "sqlite":
        # One rebuild does all of it: NOT NULL, the dropped column, AUTOINCREMENT.
        op.drop_index("uq_users_username_lower", table_name="users")
        with op.batch_alter_table(
            "users", recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ) as batch:
            batch.alter_column("auth_stamp", existing_type=sa.String(length=32), nullable=False)
            batch.drop_column("token_version")
        op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
        _rebuild_on_sqlite("tasks", autoincrement=True)
    else:
        op.alter_column("users", "auth_stamp", existing_type=sa.String(length=32), nullable=False)
        op.drop_column("users", "token_version")


def downgrade() -> None:
    # Every user starts again at token version 0; access tokens issued under 0004 stop working.
    op.add_column("users", sa.Column("token_version", sa.Integer(), server_default="0", nullable=False))
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("uq_users_username_lower", table_name="users")
        with op.batch_alter_table(
            "users", recreate="always", table_kwargs={"sqlite_autoincrement": False}
        ) as batch:
            batch.drop_column("auth_stamp")
        op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
        _rebuild_on_sqlite("tasks", autoincrement=False)
    else:
        op.drop_column("users", "auth_stamp")
