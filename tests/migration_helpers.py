"""Rows for the migration stairway, made from whatever tables a revision has and checked after each step.

Nothing here names a revision: the tables and columns are reflected from the database as it stands,
so a new migration is covered as soon as it exists. Columns this module knows get realistic values
(`REALISTIC`); any other column gets a value of its type, and a type it cannot fill fails loudly.
"""

import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Column, Connection, MetaData, Table, and_, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from todo_api.core.db import find_alembic_ini

ALEMBIC_TABLE = "alembic_version"
ROWS_PER_TABLE = 2
MOMENT = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)


def alembic_config(database_url: str) -> Config:
    """The project's alembic.ini, aimed at `database_url` the way the service's own upgrade does it."""
    config = Config(str(find_alembic_ini()))
    config.attributes["database_url"] = database_url
    config.attributes["skip_logging_config"] = True
    return config


@dataclass(frozen=True)
class Step:
    revision: str
    down_revision: str  # "base" for the first one


def steps_from_base(config: Config) -> list[Step]:
    """Every revision, oldest first; the history must be one line (a merge would need its own walk)."""
    script = ScriptDirectory.from_config(config)
    heads = script.get_heads()
    assert len(heads) == 1, f"the migration history has several heads: {heads}"
    steps = []
    for revision in reversed(list(script.walk_revisions())):
        down = revision.down_revision
        assert down is None or isinstance(down, str), f"{revision.revision} merges {down}"
        steps.append(Step(revision.revision, down or "base"))
    assert steps[-1].revision == heads[0]
    return steps


def _sha256(n: int) -> str:
    return hashlib.sha256(f"stairway-{n}".encode()).hexdigest()


# Values a client of this service would really have put there; keyed by (table, column).
REALISTIC: dict[tuple[str, str], Callable[[int], Any]] = {
    ("users", "username"): lambda n: f"stair.user_{n}",
    ("users", "email"): lambda n: f"stair.user_{n}@example.com",
    ("users", "password_hash"): lambda n: (
        f"$argon2id$v=19$m=19456,t=2,p=1$c3RhaXJ3YXk{n:04d}$" + _sha256(n)[:43]
    ),
    ("tasks", "title"): lambda n: f"Stairway task {n}",
    ("tasks", "description"): lambda n: f"Written at step {n}; every migration must keep it.",
    ("tasks", "status"): lambda n: "completed",
    ("tasks", "priority"): lambda n: 3,  # high
    ("tasks", "due_date"): lambda n: MOMENT + timedelta(days=n),
    ("tasks", "completed_at"): lambda n: MOMENT + timedelta(hours=n),
    ("tasks", "recurrence"): lambda n: "FREQ=WEEKLY;BYDAY=MO,WE",
    # Not in the trash: a downgrade below 0007 deletes what is (nothing else has a place there).
    ("tasks", "deleted_at"): lambda n: None,
    ("tasks", "deleted_by"): lambda n: None,
    ("tasks", "trashed_with_id"): lambda n: None,
    ("refresh_tokens", "family_id"): lambda n: uuid.UUID(int=n).hex,
    # One inbox per owner, with its owner as the only member: what a downgrade below 0005 can keep.
    ("lists", "name"): lambda n: "Inbox",
    ("lists", "is_inbox"): lambda n: True,
    ("list_members", "role"): lambda n: "owner",
    ("refresh_tokens", "token_hash"): _sha256,
    ("refresh_tokens", "rotated_at"): lambda n: None,
    ("refresh_tokens", "revoked_at"): lambda n: None,
    ("idempotency_keys", "key"): lambda n: f"stairway-key-{n}",
    ("idempotency_keys", "route"): lambda n: "tasks",
    ("api_tokens", "scopes"): lambda n: ["tasks:read", "lists:read"],
    ("api_tokens", "token_hash"): _sha256,
    ("idempotency_keys", "request_hash"): _sha256,
    ("idempotency_keys", "response"): lambda n: {"task": {"id": n, "title": "x"}, "etag": f'"{n}"'},
    ("webhooks", "url"): lambda n: f"https://hooks.example.com/todo/{n}",
    ("webhooks", "secret"): lambda n: "whsec_" + _sha256(n)[:43],
    ("webhooks", "events"): lambda n: ["task.created", "task.completed"],
    ("webhook_deliveries", "status"): lambda n: "succeeded",
    ("webhook_deliveries", "type"): lambda n: "task.created",
    ("webhook_deliveries", "payload"): lambda n: f'{{"id": "evt_{n}", "type": "task.created", "data": {{}}}}',
}


# A value of each Python type a column may have, unique per `n` where the type allows.
BY_TYPE: dict[type, Callable[[int], Any]] = {
    bool: lambda n: True,
    int: lambda n: n,
    datetime: lambda n: MOMENT + timedelta(minutes=n),
    date: lambda n: MOMENT.date() + timedelta(days=n),
    float: lambda n: n + 0.5,
    Decimal: lambda n: Decimal(n) + Decimal("0.25"),
    dict: lambda n: {"n": n},
    list: lambda n: [n],
    bytes: lambda n: f"stairway-{n}".encode(),
    uuid.UUID: lambda n: uuid.UUID(int=n),
}


def value_of_type(column: Column[Any], n: int) -> Any:
    """A value for a column nobody told this module about."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        python_type = None
    if python_type is str:
        length = getattr(column.type, "length", None)
        value = f"{n}-{column.name}"
        return value[:length] if length else value
    make = BY_TYPE.get(python_type)  # type: ignore[arg-type]
    if make is None:
        raise AssertionError(
            f"the stairway test cannot make a value for {column.table.name}.{column.name} "
            f"({column.type!r}): add one to REALISTIC in tests/migration_helpers.py"
        )
    return make(n)


def normalise(value: Any) -> Any:
    """SQLite gives datetimes back without their zone (they are stored as UTC): compare instants."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value


@dataclass
class Row:
    table: str
    key: dict[str, Any]
    values: dict[str, Any]
    written_at: str  # the step it was inserted at, for messages


@dataclass
class Rows:
    """Rows written at each step, and what each column of each must still hold."""

    rows: list[Row] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    async def insert(self, engine: AsyncEngine, at: str) -> dict[str, int]:
        """ROWS_PER_TABLE rows in every table there is now (parents first); how many per table."""
        async with engine.begin() as connection:
            return await connection.run_sync(self._insert, at)

    async def check(
        self, engine: AsyncEngine, after: str, rewritten: frozenset[tuple[str, str]] = frozenset()
    ) -> None:
        """Every row written before is still there, unchanged, unless its table is gone.

        `rewritten` names the (table, column) pairs the move changes on purpose (a revision's data
        migration, tested on its own): their new values are taken as what must stay from then on.
        """
        async with engine.begin() as connection:
            problems = await connection.run_sync(self._check, after, rewritten)
        assert not problems, "\n".join(problems)

    def tables_written_at(self, at: str) -> set[str]:
        return {row.table for row in self.rows if row.written_at == at}

    def steps_with_rows_in(self, table: str) -> set[str]:
        return {row.written_at for row in self.rows if row.table == table}

    def _insert(self, connection: Connection, at: str) -> dict[str, int]:
        metadata = reflect(connection)
        written: dict[str, list[dict[str, Any]]] = {}
        for table in metadata.sorted_tables:
            if table.name == ALEMBIC_TABLE:
                continue
            for index in range(ROWS_PER_TABLE):
                values = self._new_values(table, written, index)
                try:
                    result = connection.execute(table.insert().values(values))
                except Exception as error:
                    raise AssertionError(f"at {at}, inserting {values} into {table.name}: {error}") from error
                inserted = result.inserted_primary_key
                assert inserted is not None
                key = dict(zip(table.primary_key.columns.keys(), inserted, strict=True))
                stored = connection.execute(select(table).where(_matches(table, key))).mappings().one()
                self.rows.append(Row(table.name, key, dict(stored), at))
                written.setdefault(table.name, []).append(dict(stored))
        if connection.dialect.name == "sqlite":
            assert not connection.execute(text("PRAGMA foreign_key_check")).all()
        return {name: len(rows) for name, rows in written.items()}

    def _new_values(
        self, table: Table, written: dict[str, list[dict[str, Any]]], index: int
    ) -> dict[str, Any]:
        n = next(self._numbers)
        values: dict[str, Any] = {}
        for column in table.columns:
            if column is table.autoincrement_column or column.server_default is not None:
                continue  # the database fills these: their values are checked like the rest
            if column.computed is not None or column.identity is not None:
                continue
            if column.foreign_keys:
                (foreign_key,) = column.foreign_keys
                parents = written.get(foreign_key.column.table.name)
                if not parents:
                    assert column.nullable, f"{table.name}.{column.name}: no parent row to refer to"
                    values[column.name] = None
                    continue
                values[column.name] = parents[index % len(parents)][foreign_key.column.name]
                continue
            make = REALISTIC.get((table.name, column.name))
            values[column.name] = make(n) if make else value_of_type(column, n)
        return values

    def _check(self, connection: Connection, after: str, rewritten: frozenset[tuple[str, str]]) -> list[str]:
        metadata = reflect(connection)
        problems = []
        kept = []
        for row in self.rows:
            table = metadata.tables.get(row.table)
            if table is None:
                continue  # the table went with a downgrade: so did its rows
            kept.append(row)
            if not set(row.key) <= set(table.columns.keys()):
                problems.append(f"{row.table}: the key columns {sorted(row.key)} are gone after {after}")
                continue
            stored = (
                connection.execute(select(table).where(_matches(table, row.key))).mappings().one_or_none()
            )
            if stored is None:
                problems.append(f"{row.table} row {row.key} (written at {row.written_at}) lost after {after}")
                continue
            for name in list(row.values):
                if name not in stored:
                    del row.values[name]  # the column went: its value cannot come back
                elif (row.table, name) in rewritten:
                    row.values[name] = stored[name]
                elif normalise(stored[name]) != normalise(row.values[name]):
                    problems.append(
                        f"{row.table}.{name} of row {row.key} (written at {row.written_at}) was "
                        f"{row.values[name]!r}, is {stored[name]!r} after {after}"
                    )
            for name, value in stored.items():
                row.values.setdefault(name, value)  # a new column: its value must now stay too
        self.rows = kept
        if connection.dialect.name == "sqlite":
            broken = connection.execute(text("PRAGMA foreign_key_check")).all()
            if broken:
                problems.append(f"foreign keys broken after {after}: {broken}")
        return problems


def reflect(connection: Connection) -> MetaData:
    metadata = MetaData()
    metadata.reflect(connection)
    return metadata


def _matches(table: Table, key: dict[str, Any]) -> Any:
    return and_(*(table.c[name] == value for name, value in key.items()))


def schema(connection: Connection) -> dict[str, Any]:
    """What a revision's schema is, in a form two databases at the same revision agree on.

    Columns, keys, constraints and indexes of every table (Alembic's own aside), compared by
    name rather than position. Indexes are read from the catalogue, because SQLAlchemy cannot
    reflect expression indexes (`lower(username)`) on SQLite, and those are what a table rebuilt
    by a batch migration loses. On SQLite, whether a table has AUTOINCREMENT is part of it.
    """
    inspector = inspect(connection)
    tables: dict[str, Any] = {}
    for name in sorted(inspector.get_table_names()):
        if name == ALEMBIC_TABLE:
            continue
        tables[name] = {
            "columns": {
                column["name"]: (
                    column["type"].compile(dialect=connection.dialect),
                    "NULL" if column["nullable"] else "NOT NULL",
                    _default(column.get("default")),
                )
                for column in inspector.get_columns(name)
            },
            "primary key": inspector.get_pk_constraint(name)["constrained_columns"],
            "foreign keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in inspector.get_foreign_keys(name)
            ),
            "unique": sorted(tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(name)),
            "checks": sorted(str(check["sqltext"]) for check in inspector.get_check_constraints(name)),
        }
    if connection.dialect.name == "sqlite":
        catalogue = connection.execute(
            text("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        ).all()
        indexes = {
            (table, name): " ".join(sql.split()) for kind, name, table, sql in catalogue if kind == "index"
        }
        for kind, name, _table, sql in catalogue:
            if kind == "table" and name in tables:
                tables[name]["autoincrement"] = "AUTOINCREMENT" in sql.upper()
    else:
        catalogue = connection.execute(
            text("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()")
        ).all()
        indexes = {(table, name): definition for table, name, definition in catalogue}
    for (table, name), definition in sorted(indexes.items()):
        if table in tables:
            tables[table].setdefault("indexes", {})[name] = definition
    return tables


def schema_differences(expected: dict[str, Any], actual: dict[str, Any], where: str = "") -> list[str]:
    """Where two schemas differ, one line each: `users.indexes.uq_users_username_lower: missing`."""
    lines = []
    for name in sorted(set(expected) | set(actual)):
        path = f"{where}.{name}" if where else name
        if name not in actual:
            lines.append(f"{path}: missing (was {expected[name]!r})")
        elif name not in expected:
            lines.append(f"{path}: unexpected {actual[name]!r}")
        elif isinstance(expected[name], dict) and isinstance(actual[name], dict):
            lines.extend(schema_differences(expected[name], actual[name], path))
        elif expected[name] != actual[name]:
            lines.append(f"{path}: {actual[name]!r}, expected {expected[name]!r}")
    return lines


def assert_same_schema(expected: dict[str, Any], actual: dict[str, Any], after: str) -> None:
    differences = schema_differences(expected, actual)
    assert not differences, f"after {after} the schema is not what it was:\n" + "\n".join(differences)


def _default(default: str | None) -> str:
    """A server default as SQL text, whichever quotes or brackets the database gave it back in."""
    if default is None:
        return ""
    text = default.strip()
    while len(text) >= 2 and (text[0], text[-1]) in {("'", "'"), ('"', '"'), ("(", ")")}:
        text = text[1:-1].strip()
    return f"DEFAULT {text}"


def leftovers(connection: Connection) -> dict[str, list[str]]:
    """Whatever a full downgrade left behind: tables (but Alembic's own), sequences, enum types."""
    inspector = inspect(connection)
    found = {"tables": [name for name in inspector.get_table_names() if name != ALEMBIC_TABLE]}
    if connection.dialect.name == "postgresql":
        found["sequences"] = list(inspector.get_sequence_names())
        found["enums"] = [enum["name"] for enum in inspector.get_enums()]  # type: ignore[attr-defined]
        found["views"] = list(inspector.get_view_names())
    else:
        found["indexes"] = [
            name
            for (name,) in connection.execute(
                text("SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
            )
        ]
    return {kind: names for kind, names in found.items() if names}
