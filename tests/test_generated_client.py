"""A client generated from the service's own /openapi.json works, as generated, against the real service.

openapi-python-client (a dev dependency) writes the package `todo_api_client` into tmp_path during
the run; it is imported from there, used exactly as generated, and forgotten afterwards. Its
warnings about the document are collected: none may touch an operation this test uses, and any
other is reported as a pytest warning.
"""

import importlib
import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from tests.live import live_server

pytest.importorskip(
    "openapi_python_client", reason="openapi-python-client is not installed (a dev dependency)"
)

PACKAGE = "todo_api_client"
GENERATE_TIMEOUT_SECONDS = 120
# No post hooks: the defaults run `ruff` on the output, which this test does not need.
GENERATOR_CONFIG = "post_hooks: []\n"
WARNINGS_BANNER = "Warning(s) encountered while generating"
USED_OPERATIONS = {
    "register_user": "POST /auth/register",
    "login": "POST /auth/login",
    "create_task": "POST /tasks",
    "list_tasks": "GET /tasks",
    "get_task": "GET /tasks/{task_id}",
    "update_task": "PATCH /tasks/{task_id}",
    "delete_task": "DELETE /tasks/{task_id}",
}
PASSWORD = "correct-horse-battery"

Load = Callable[[str], ModuleType]


@pytest.fixture
def live_url(tmp_path: Path) -> Iterator[str]:
    with live_server(tmp_path) as base_url:
        yield base_url


def generate(document: Path, output: Path, config: Path) -> str:
    """Run the openapi-python-client command line; return what it printed (warnings go to stderr)."""
    command = [
        *(sys.executable, "-m", "openapi_python_client", "generate"),
        *("--path", str(document), "--output-path", str(output)),
        *("--meta", "none", "--config", str(config)),
    ]
    result = subprocess.run(  # noqa: S603 - a fixed command line of our own
        command,
        capture_output=True,
        text=True,
        timeout=GENERATE_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "NO_COLOR": "1", "TERM": "dumb"},
    )
    output_text = result.stdout + result.stderr
    assert result.returncode == 0, f"openapi-python-client failed:\n{output_text}"
    return output_text


def warnings_about_used_operations(output: str) -> list[str]:
    """The warning paragraphs that name an operation (id, or method and path) this test uses."""
    if WARNINGS_BANNER not in output:
        return []
    paragraphs = output.split(WARNINGS_BANNER, 1)[1].split("\n\n")
    names = "|".join(re.escape(name) for name in (*USED_OPERATIONS, *USED_OPERATIONS.values()))
    # Whole names only: `POST /tasks` must not match `POST /tasks/{task_id}/complete`.
    used = re.compile(rf"(?<![\w/])(?:{names})(?![\w/{{])")
    return [text.strip() for text in paragraphs if used.search(text)]


@pytest.fixture
def load(live_url: str, tmp_path: Path) -> Iterator[Load]:
    """Generate the client from the live /openapi.json; yield an importer of its modules."""
    document = tmp_path / "openapi.json"
    with httpx.Client(base_url=live_url, timeout=10, trust_env=False) as http:
        response = http.get("/openapi.json")
    assert response.status_code == 200, response.text
    document.write_text(json.dumps(response.json(), indent=2))
    config = tmp_path / "generator.yaml"
    config.write_text(GENERATOR_CONFIG)
    root = tmp_path / "generated"
    output = generate(document, root / PACKAGE, config)

    relevant = warnings_about_used_operations(output)
    assert not relevant, "openapi-python-client warned about operations the client needs:\n" + "\n".join(
        relevant
    )
    if WARNINGS_BANNER in output:
        warnings.warn(f"openapi-python-client: {output}", UserWarning, stacklevel=1)

    sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield lambda name: importlib.import_module(f"{PACKAGE}.{name}" if name else PACKAGE)
    finally:
        sys.path.remove(str(root))
        for module in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[module]


def test_generated_client_registers_logs_in_and_manages_a_task(live_url: str, load: Load) -> None:
    package, models = load(""), load("models")
    register_user, login = load("api.auth.register_user"), load("api.auth.login")
    create_task, list_tasks = load("api.tasks.create_task"), load("api.tasks.list_tasks")
    get_task, update_task, delete_task = (
        load("api.tasks.get_task"),
        load("api.tasks.update_task"),
        load("api.tasks.delete_task"),
    )
    local_only: dict[str, Any] = {"httpx_args": {"trust_env": False}, "raise_on_unexpected_status": True}

    with package.Client(base_url=live_url, **local_only) as anonymous:
        registered = register_user.sync_detailed(
            client=anonymous,
            body=models.UserCreate(username="alice", email="alice@example.com", password=PASSWORD),
        )
        assert registered.status_code == 201, registered.content
        assert registered.parsed.username == "alice"

        signed_in = login.sync_detailed(
            client=anonymous, body=models.BodyLogin(username="alice", password=PASSWORD)
        )
        assert signed_in.status_code == 200, signed_in.content
        token = signed_in.parsed.access_token

    with package.AuthenticatedClient(base_url=live_url, token=token, **local_only) as client:
        created = create_task.sync_detailed(
            client=client, body=models.TaskCreate(title="Write report", priority=models.TaskPriority.HIGH)
        )
        assert created.status_code == 201, created.content
        task = created.parsed
        assert isinstance(task, models.TaskPublic)
        assert (task.title, task.priority, task.status) == (
            "Write report",
            models.TaskPriority.HIGH,
            models.TaskStatus.TODO,
        )
        etag = created.headers["ETag"]

        page = list_tasks.sync_detailed(client=client).parsed
        assert isinstance(page, models.TaskPage)
        assert page.total == 1
        assert [item.id for item in page.items] == [task.id]

        fetched = get_task.sync_detailed(task.id, client=client)
        assert fetched.status_code == 200, fetched.content
        assert fetched.headers["ETag"] == etag
        not_modified = get_task.sync_detailed(task.id, client=client, if_none_match=etag)
        assert not_modified.status_code == 304, not_modified.content

        updated = update_task.sync_detailed(
            task.id, client=client, body=models.TaskUpdate(status=models.TaskStatus.COMPLETED), if_match=etag
        )
        assert updated.status_code == 200, updated.content
        assert updated.parsed.status == models.TaskStatus.COMPLETED
        assert updated.parsed.is_completed is True
        new_etag = updated.headers["ETag"]
        assert new_etag != etag

        stale = update_task.sync_detailed(
            task.id, client=client, body=models.TaskUpdate(title="Lost update"), if_match=etag
        )
        assert stale.status_code == 412, stale.content
        assert isinstance(stale.parsed, models.ErrorResponse)
        assert stale.parsed.code == "precondition_failed"

        deleted = delete_task.sync_detailed(task.id, client=client, if_match=new_etag)
        assert deleted.status_code == 204, deleted.content

        gone = get_task.sync_detailed(task.id, client=client)
        assert gone.status_code == 404, gone.content
        assert isinstance(gone.parsed, models.ErrorResponse)
        assert gone.parsed.code == "not_found"
