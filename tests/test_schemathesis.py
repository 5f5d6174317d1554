"""Schemathesis attacks the running service through its own OpenAPI document and must find nothing.

Setup
-----
* A real `todo-api` process (``python -m todo_api``) listens on 127.0.0.1, on a free port, with a
  fresh SQLite file in ``tmp_path``. Rate limits are off (thousands of requests come from one address
  and most logins fail on purpose), argon2 is cheap, and the working directory is ``tmp_path``, so no
  ``.env`` of the checkout leaks in and nothing is written into the repository.
* Five users register with httpx: ``alice`` and ``bob`` for the main run, ``carol`` for the run that
  deletes its own account, ``dave`` and ``erin`` for alice to share her lists with (they never send
  a request).
* Authentication is a Web Fuzzing Commons auth file (``fixedHeaders``: ``Authorization: Bearer …``)
  named in a generated ``schemathesis.toml``. Every request goes out as ``alice``; ``bob`` is listed
  as her peer, which lets ``object_level_authorization`` replay alice's successful reads as bob and
  fail if he gets her list, its members or her task. (A plain ``--header`` gives Schemathesis one
  identity, and that check would not run.) Nothing is ever shared with bob, so every one of those
  replays must be the 404 of an object that does not exist (API.md: what you cannot see does not
  exist). The service logs each request with its user (JSON access log), and after the main run the
  test checks that bob's replays reached every single-object read of lists, members and tasks and
  that each was a 404, so the check cannot quietly stop running.
* Fuzz dictionaries (``[dictionaries]`` and per-operation ``parameters``) give the member routes real
  people about half the time: ``POST /lists/{list_id}/members`` gets dave's and erin's usernames and
  e-mails (and alice's own, an ``already_member``), the ``user_id`` of the member routes and of
  ``POST /lists/{list_id}/transfer`` gets their ids (and alice's). Without them every such request
  names nobody and ends in a 404 before the role checks; the other half stays random.

The command line: ``schemathesis --config-file <generated toml> run <base>/openapi.json …``
-----------------------------------------------------------------------------------------------
``--checks all``
    Server errors, status-code, content-type, header and response-schema conformance, negative-data
    rejection, positive-data acceptance, missing required header, unsupported methods and ``Allow``,
    use-after-free, resource availability, ignored auth, object-level authorization. Each applies
    to this API; only one operation goes without one of them (below).
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
    section of the output and the tail of the server log (without its access lines).
``--exclude-operation-id delete_current_user`` (main run only)
    ``DELETE /auth/me`` deletes alice herself: every later request would be a 401 and the rest of the
    run would test nothing. It gets a run of its own on ``/auth/me`` (GET and DELETE) as ``carol``,
    with the same checks: the deletion succeeds once, and every later request must be a declared 401.
    ``POST /auth/password`` stays in the main run: Schemathesis cannot know alice's password, so it
    exercises the 401, 413 and 422 answers and never revokes her token.

A few expectations are widened in the generated configuration, each for an answer the contract
(``shared/API.md``) requires for a schema-valid request and no schema can foresee, each explained
in the file it writes (see ``ACCEPTED`` and the three texts after it): 412 everywhere; 422 on
``POST /tasks`` and ``POST /lists`` (a reused Idempotency-Key) and on
``POST /lists/{list_id}/transfer`` (a new owner who is no member); and no
``ensure_resource_availability`` on ``POST /lists/{list_id}/members`` (its 404 ``user_not_found``).
No other check and no other operation is left out.

Only 127.0.0.1 is contacted (proxies are bypassed for both clients). The test is skipped, with the
reason, only when Schemathesis cannot be imported.
"""

import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator, Sequence
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
# The single-object reads whose every replay as bob must be a 404: nothing of alice's is shared with him.
# GET /lists/{list_id}/members is replayed too when alice's reads of it succeed, but how often that
# happens depends on the run; these two are replayed in every run.
PEER_PROBED_ROUTES = ("/lists/{list_id}", "/tasks/{task_id}")
# Half of the `user` of POST /lists/{list_id}/members and of the `user_id` of the member routes and
# of transfers name real people; the rest are whatever Schemathesis makes up.
SHARE_PROBABILITY = 0.5


@dataclass(frozen=True)
class Service:
    base_url: str
    log_path: Path

    def log_lines(self) -> list[dict[str, object]]:
        """The service's JSON log lines (stdout), in order; anything else is left out."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        lines = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                lines.append(entry)
        return lines

    def log_tail(self, limit: int = 4_000) -> str:
        """The end of the log without the access lines (one a request, thousands of them)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        kept = [line for line in text.splitlines() if '"logger": "todo_api.access"' not in line]
        return "\n".join(kept)[-limit:] or "(empty)"


@dataclass(frozen=True)
class Account:
    id: int
    username: str
    email: str
    token: str


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    """A real `todo-api` process on a fresh SQLite database (tests/live.py); always stopped afterwards.

    The access log (JSON, one line a request with its user) is what shows who asked for what."""
    with live_server(tmp_path, WORKERS="1", LOG_LEVEL="INFO", LOG_FORMAT="json") as base_url:
        yield Service(base_url, tmp_path / "todo-api.stdout.log")


def sign_up(base_url: str, username: str) -> Account:
    """Register `username` and sign in."""
    password = username + PASSWORD_SUFFIX
    email = f"{username}@example.com"
    with httpx.Client(base_url=base_url, timeout=10, trust_env=False) as client:
        registered = client.post(
            "/auth/register", json={"username": username, "email": email, "password": password}
        )
        assert registered.status_code == 201, registered.text
        login = client.post("/auth/login", data={"username": username, "password": password})
        assert login.status_code == 200, login.text
        return Account(registered.json()["id"], username, email, login.json()["access_token"])


# Each widened expectation, with the contract's reason; written into the generated configuration.
IDEMPOTENCY_KEY_REUSED = """\
The same Idempotency-Key with a different body is a 422 `idempotency_key_reused` (API.md, as in the
IETF Idempotency-Key draft). Schemathesis draws keys from a small space ("0", "00", ...) and reuses
them with other bodies; a schema cannot say "not used before". PUT /tasks/{task_id} and PATCH
/lists/{list_id} take the same fields without the header and keep the default expectations, so a
schema-valid body refused with 422 is still caught there."""
NEW_OWNER_NOT_A_MEMBER = """\
Ownership moves only to a current member; anyone else is a 422 (API.md). A schema can say "a user
id", never "a member of this list". The body has no other field, so no other 422 hides here."""
USER_NOT_FOUND = """\
No user by that username or e-mail is a 404 `user_not_found` (API.md), from a list that exists.
After POST /lists, `ensure_resource_availability` takes any 404 along the link for "the list just
made is gone"; a schema cannot say which of two 404s a response is. Every other check still runs
here, and GET, PATCH and DELETE /lists/{list_id} keep this one."""


TASK_RULES = """A task's parent_id, after_id and assignee_id name other objects, and its recurrence
is an RFC 5545 RRULE: a parent in another list or under the task itself, a chain deeper than 4,
an after_id that is not a sibling, an assignee who is not an editor of the list, a rule that
does not parse, are each a 422 by the contract (API.md, Tasks and Subtasks). A schema can say
"an integer" or "a string", not which ones name such objects or parse (create_task, above,
already accepts 422 for its Idempotency-Key)."""

SYNC_CURSOR = """GET /sync?cursor= takes only cursors of this service: any other string is a 422
(API.md, Sync). A schema can say "a string", not "one this server signed". `wait` stays 0: a
long-poll of up to 60 s would only run into the client's timeout."""

WEBHOOK_TARGETS = """A webhook's URL must name a host that is, and resolves only to, public addresses,
checked when it is saved: anything else (a private address, a name that does not resolve, as no
name does on an offline machine) is a 422 (API.md, Webhooks); so is reactivating a webhook scoped
to a list its owner no longer sees. A schema can say "a URL of at most 2000 characters", not
which hosts resolve to what."""


def operation(operation_ids: str | list[str], why: str, *lines: str) -> list[str]:
    """An `[[operations]]` table for the operations of `operation_ids`, with `why` as its comment."""
    return [
        "",
        *(f"# {line}" for line in why.splitlines()),
        "[[operations]]",
        f"include-operation-id = {json.dumps(operation_ids)}",
        *lines,
    ]


def also_accept(*statuses: str) -> list[str]:
    return [
        "[operations.checks.positive_data_acceptance]",
        f"expected-statuses = {json.dumps([*ACCEPTED, *statuses])}",
    ]


def from_dictionary(parameter: str, dictionary: str) -> list[str]:
    return [
        "[operations.parameters]",
        f"{json.dumps(parameter)} = {{ dictionary = {json.dumps(dictionary)}, "
        f"probability = {SHARE_PROBABILITY} }}",
    ]


def write_config(
    directory: Path,
    name: str,
    tokens: dict[str, str],
    *,
    peers: bool,
    members: Sequence[Account] = (),
) -> Path:
    """A schemathesis.toml that signs every request as the first user of `tokens`.

    With `peers`, all users of `tokens` are listed as peers for `object_level_authorization`.
    `members` (the signed-in user first) feed the dictionaries of the member routes.
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
        *operation(["create_task", "create_list"], IDEMPOTENCY_KEY_REUSED, *also_accept("422")),
        *operation(["replace_task", "update_task", "move_task"], TASK_RULES, *also_accept("422")),
        *operation("sync", SYNC_CURSOR, *also_accept("422"), "[operations.parameters]", '"query.wait" = 0'),
        *operation(["create_webhook", "update_webhook"], WEBHOOK_TARGETS, *also_accept("422")),
    ]
    if members:
        others = members[1:]
        # Usernames and e-mails, in other cases too: both find the user whatever the case (API.md).
        # The signed-in user's own name is an `already_member` on every list of theirs.
        logins = [
            *(account.username for account in members),
            *(account.username.upper() for account in others),
            *(account.email for account in others),
        ]
        lines += [
            "",
            "[dictionaries.logins]",
            f"values = {json.dumps(logins)}",
            "",
            "[dictionaries.user_ids]",
            f"values = {json.dumps([account.id for account in members])}",
            *operation(
                "add_member",
                USER_NOT_FOUND,
                *from_dictionary("body.user", "logins"),
                "[operations.checks.ensure_resource_availability]",
                "enabled = false",
            ),
            *operation(
                ["update_member", "remove_member"],
                "Real members half the time.",
                *from_dictionary("path.user_id", "user_ids"),
            ),
            *operation(
                "transfer_list",
                NEW_OWNER_NOT_A_MEMBER,
                *from_dictionary("body.user_id", "user_ids"),
                *also_accept("422"),
            ),
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
        f"--- tail of the todo-api log (access lines left out) ---\n{service.log_tail()}"
    )


def peer_reads(service: Service, peer: Account) -> dict[str, list[object]]:
    """The statuses of the peer's GET requests, by route template, from the service's access log."""
    statuses: dict[str, list[object]] = defaultdict(list)
    for line in service.log_lines():
        if line.get("event") == "request" and line.get("user_id") == peer.id and line.get("method") == "GET":
            statuses[str(line.get("route"))].append(line.get("status"))
    return statuses


def test_schemathesis_finds_no_failure(service: Service, tmp_path: Path) -> None:
    accounts = {user: sign_up(service.base_url, user) for user in ("alice", "bob", "carol", "dave", "erin")}
    alice, bob = accounts["alice"], accounts["bob"]

    main = write_config(
        tmp_path,
        "main",
        {"alice": alice.token, "bob": bob.token},
        peers=True,
        members=[alice, accounts["dave"], accounts["erin"]],
    )
    # POST /lists/{list_id}/members runs on its own: in the stateful phase, its 404 `user_not_found`
    # (API.md) after the POST /lists that made the list reads as "the list just made is gone" (ST302),
    # and per-operation settings do not reach that phase. Alone, it has no link to follow.
    run_schemathesis(
        service,
        tmp_path,
        "main",
        main,
        "--exclude-operation-id",
        "delete_current_user",
        "--exclude-operation-id",
        "add_member",
    )
    run_schemathesis(service, tmp_path, "members", main, "--include-operation-id", "add_member")

    # bob only ever sent alice's reads again, as `object_level_authorization` replays them: each of
    # the single-object reads must have been tried, and must have found nothing.
    reads = peer_reads(service, bob)
    for route in PEER_PROBED_ROUTES:
        assert reads.get(route), f"bob never replayed a GET {route} of alice's; his reads: {dict(reads)}"
        assert set(reads[route]) == {404}, f"bob's replays of GET {route}: {reads[route]}"

    # Deleting the account ends the identity that sends the requests, so it runs last, as carol.
    deletion = write_config(tmp_path, "deletion", {"carol": accounts["carol"].token}, peers=False)
    run_schemathesis(service, tmp_path, "deletion", deletion, "--include-path", "/auth/me")
