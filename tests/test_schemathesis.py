"""Schemathesis attacks the running service through its own OpenAPI document and must find nothing.

Setup
-----
* A real `todo-api` process (``python -m todo_api``) listens on 127.0.0.1, on a free port, with a
  fresh SQLite file in ``tmp_path``. Rate limits are off (thousands of requests come from one address
  and most logins fail on purpose), argon2 is cheap, and the working directory is ``tmp_path``, so no
  ``.env`` of the checkout leaks in and nothing is written into the repository.
* Three users register and sign in with httpx: ``alice`` and ``bob`` for the main run, ``carol`` for
  the run that deletes its own account.
* Authentication is a Web Fuzzing Commons auth file (``fixedHeaders``: ``Authorization: Bearer …``)
  named in a generated ``schemathesis.toml``. Every request goes out as ``alice``; ``bob`` is listed
  as her peer, which lets ``object_level_authorization`` replay alice's successful reads as bob and
  fail if he gets her task. (A plain ``--header`` gives Schemathesis one identity, and that check
  would not run.)

The command line: ``schemathesis --config-file <generated toml> run <base>/openapi.json …``
-----------------------------------------------------------------------------------------------
``--checks all``
    Server errors, status-code, content-type, header and response-schema conformance, negative-data
    rejection, positive-data acceptance, missing required header, unsupported methods and ``Allow``,
    use-after-free, resource availability, ignored auth, object-level authorization. None is
    excluded: each applies to this API.
``--phases examples,coverage,fuzzing,stateful`` and ``--mode all``
    Every phase, the stateful one included (sequences along the links Schemathesis infers, e.g.
    ``POST /tasks`` -> ``PATCH /tasks/{task_id}`` -> ``DELETE`` -> ``GET``), with schema-valid and
    schema-violating data both.
``--seed``, ``--max-examples``, ``--generation-database none``, ``[cache] enabled = false``
    The same inputs on every run: a fixed seed, a bounded number of cases per operation, and nothing
    carried over from earlier runs (no Hypothesis example database, no replay of cached crashes).
``--workers 1``
    One request at a time, so the seed alone decides the run (and the 2-core machine is not starved).
``--continue-on-failure``
    Keep testing an operation after its first failure, so one run lists every distinct failure.
``--request-timeout``
    A hung request fails the run instead of hanging it.
``--report junit``
    A JUnit file beside the full text output in ``tmp_path``; a failing test shows the failures
    section of the output and the tail of the server log.
``--exclude-operation-id delete_current_user`` (main run only)
    ``DELETE /auth/me`` deletes alice herself: every later request would be a 401 and the rest of the
    run would test nothing. It gets a run of its own on ``/auth/me`` (GET and DELETE) as ``carol``,
    with the same checks: the deletion succeeds once, and every later request must be a declared 401.
    ``POST /auth/password`` stays in the main run: Schemathesis cannot know alice's password, so it
    exercises the 401, 413 and 422 answers and never revokes her token.

Two expectations of ``positive_data_acceptance`` are widened in the generated configuration, each
for an answer the contract (``shared/API.md``) requires for a schema-valid request; see
``ACCEPTED`` and ``write_config``. No check and no other operation is left out.

Only 127.0.0.1 is contacted (proxies are bypassed for both clients). The test is skipped, with the
reason, only when Schemathesis cannot be imported.
"""

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.live import LOCAL_ONLY, live_server

pytest.importorskip("schemathesis", reason="schemathesis is not installed (it is a dev dependency)")

SEED = 20261125
MAX_EXAMPLES = 100
REQUEST_TIMEOUT_SECONDS = 10
RUN_TIMEOUT_SECONDS = 600
PASSWORD_SUFFIX = "-Correct-Horse-9"
OUTPUT_LIMIT = 20_000
# The answers `positive_data_acceptance` allows a schema-valid request: Schemathesis' default
# (2xx, 3xx, 401, 403, 404, 409, 429, 5xx; 5xx is `not_a_server_error`'s business) plus 412, the
# contract's answer to an `If-Match` that is not the task's current ETag. Schemathesis makes up
# well-formed `If-Match` values that cannot match, and RFC 9110 says they must be refused with 412.
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "412", "429", "5xx"]


@dataclass(frozen=True)
class Service:
    base_url: str
    log_path: Path

    def log_tail(self, limit: int = 4_000) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text[-limit:] or "(empty)"


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """A real `todo-api` process on a fresh SQLite database (tests/live.py); always stopped afterwards."""
    with live_server(tmp_path, WORKERS="1") as base_url:
        yield Service(base_url, tmp_path / "todo-api.stdout.log")


def sign_up(base_url: str, username: str) -> str:
    """Register `username` and return an access token for it."""
    password = username + PASSWORD_SUFFIX
    with httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client:
        registered = client.post(
            "/auth/register",
            json={"username": username, "email": f"{username}@example.com", "password": password},
        )
        assert registered.status_code == 201, registered.text
        login = client.post("/auth/login", data={"username": username, "password": password})
        assert login.status_code == 200, login.text
        token: str = login.json()["access_token"]
        return token


def write_config(directory: Path, name: str, tokens: dict[str, str], *, peers: bool) -> Path:
    """A schemathesis.toml that signs every request as the first user of `tokens`.

    With `peers`, all users of `tokens` are listed as peers for `object_level_authorization`.
    """
    auth_file = directory / f"{name}-wfc-auth.json"
    auth = [
        {"name": user, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {token}"}]}
        for user, token in tokens.items()
    ]
    auth_file.write_text(json.dumps({"auth": auth}))
    lines = [
        "[cache]",
        "enabled = false",
        "",
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {json.dumps(ACCEPTED)}",
        "",
        "[auth.wfc]",
        f"path = {json.dumps(str(auth_file))}",
        f"user = {json.dumps(next(iter(tokens)))}",
        *([f"peers = {json.dumps(list(tokens))}"] if peers else []),
        "",
        # POST /tasks only: the same Idempotency-Key with a different body is a 422
        # `idempotency_key_reused` (API.md, as in the IETF Idempotency-Key draft). Schemathesis draws
        # keys from a small space ("0", "00", ...) and reuses them with other bodies; a schema cannot
        # say "not used before". PUT /tasks/{task_id} takes the same body schema without the header
        # and keeps the default, so a schema-valid body refused with 422 is still caught there.
        "[[operations]]",
        'include-operation-id = "create_task"',
        "[operations.checks.positive_data_acceptance]",
        f"expected-statuses = {json.dumps([*ACCEPTED, '422'])}",
    ]
    config = directory / f"{name}-schemathesis.toml"
    config.write_text("\n".join(lines) + "\n")
    return config


def run_schemathesis(service: Service, directory: Path, name: str, config: Path, *selection: str) -> None:
    """Run the Schemathesis CLI with the options of the module docstring; assert it found nothing."""
    junit = directory / f"{name}-junit.xml"
    output_path = directory / f"{name}-output.txt"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "run",
        f"{service.base_url}/openapi.json",
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--mode",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(MAX_EXAMPLES),
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--continue-on-failure",
        "--request-timeout",
        str(REQUEST_TIMEOUT_SECONDS),
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        "--no-color",
        *selection,
    ]
    result = subprocess.run(  # noqa: S603 - our own argv, no shell
        command,
        cwd=directory,
        env={**os.environ, **LOCAL_ONLY},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )
    output = result.stdout.decode(errors="replace")
    output_path.write_text(output)
    assert result.returncode == 0, failure_report(
        name, result.returncode, output, output_path, junit, service
    )


def failure_report(
    name: str, returncode: int, output: str, output_path: Path, junit: Path, service: Service
) -> str:
    """The failures and summary of the output (the phase overview before them is left out), bounded."""
    start = output.find("= FAILURES =")
    shown = output[output.rfind("\n", 0, start) + 1 :] if start != -1 else output
    if len(shown) > OUTPUT_LIMIT:
        half = OUTPUT_LIMIT // 2
        shown = f"{shown[:half]}\n[... {len(shown) - OUTPUT_LIMIT} characters left out ...]\n{shown[-half:]}"
    return (
        f"schemathesis ({name} run) exited with {returncode}\n"
        f"full output: {output_path}\nJUnit report: {junit}\n\n{shown}\n"
        f"--- tail of the todo-api log ---\n{service.log_tail()}"
    )


def test_schemathesis_finds_no_failure(service: Service, tmp_path: Path) -> None:
    tokens = {user: sign_up(service.base_url, user) for user in ("alice", "bob", "carol")}

    main = write_config(tmp_path, "main", {"alice": tokens["alice"], "bob": tokens["bob"]}, peers=True)
    run_schemathesis(service, tmp_path, "main", main, "--exclude-operation-id", "delete_current_user")

    # Deleting the account ends the identity that sends the requests, so it runs last, as carol.
    deletion = write_config(tmp_path, "deletion", {"carol": tokens["carol"]}, peers=False)
    run_schemathesis(service, tmp_path, "deletion", deletion, "--include-path", "/auth/me")
