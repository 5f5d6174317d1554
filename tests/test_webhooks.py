"""Webhooks from outside: every event arrives signed (checked with the `standardwebhooks` package),
failures are retried under the same `webhook-id`, nothing is sent for a rolled-back change, private
targets are refused, and a webhook hears only the lists its owner can see.

The app of this module has its own database, private targets allowed (the receiver is on 127.0.0.1),
retries without delay and a deliverer that looks for work every 50 ms.
"""

import asyncio
import signal
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import empty_database, make_settings
from tests.factories import PASSWORD, SignedInUser, UserFactory, create_task
from tests.list_factories import add_member, assert_error, create_list
from tests.live import live_process, run_command
from tests.task_factories import fake_clock
from tests.webhook_receiver import WAIT_SECONDS, Receiver, running_receiver
from todo_api.core.changes import Event, note_event
from todo_api.deps import _unit_of_work
from todo_api.main import create_app
from todo_api.webhooks.deliverer import Deliverer

EVERY_EVENT = [
    "task.created",
    "task.updated",
    "task.completed",
    "task.moved",
    "task.deleted",
    "task.restored",
    "list.updated",
    "list.deleted",
    "member.added",
    "member.updated",
    "member.removed",
]


@pytest.fixture(scope="module")
async def app(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    async with empty_database(backend, tmp_path_factory.mktemp("webhooks")) as url:
        settings = make_settings(
            url,
            webhook_delivery=True,
            webhook_allow_private_targets=True,
            webhook_retry_schedule="0,0,0",
            webhook_poll_seconds=0.05,
            webhook_timeout_seconds=5,
        )
        application = create_app(settings)
        async with application.router.lifespan_context(application):
            yield application


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as running:
        yield running


async def subscribe(
    client: httpx.AsyncClient, user: SignedInUser, url: str, events: list[str] | None = None, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/webhooks", json={"url": url, "events": events or ["*"], **fields}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    hook: dict[str, Any] = response.json()
    return hook


async def deliveries(client: httpx.AsyncClient, user: SignedInUser, hook_id: int) -> list[dict[str, Any]]:
    response = await client.get(f"/webhooks/{hook_id}/deliveries?limit=100", headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_webhook_crud_shows_the_secret_once(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    hook = await subscribe(client, alice, "http://127.0.0.1:9/hook", ["task.created", "task.created"])
    assert hook["secret"].startswith("whsec_")
    assert hook["events"] == ["task.created"]
    assert hook["active"] is True
    assert hook["disabled_reason"] is None
    assert hook["list_id"] is None
    listed = (await client.get("/webhooks", headers=alice.headers)).json()["items"]
    assert [item["id"] for item in listed] == [hook["id"]]
    assert "secret" not in listed[0]
    shown = await client.get(f"/webhooks/{hook['id']}", headers=alice.headers)
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    patched = await client.patch(
        f"/webhooks/{hook['id']}", json={"events": ["task.updated"], "active": False}, headers=alice.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["events"] == ["task.updated"]
    assert patched.json()["active"] is False
    assert (await client.delete(f"/webhooks/{hook['id']}", headers=alice.headers)).status_code == 204
    assert_error(await client.get(f"/webhooks/{hook['id']}", headers=alice.headers), 404, "not_found")
    assert_error(await client.delete(f"/webhooks/{hook['id']}", headers=alice.headers), 404, "not_found")


async def test_webhooks_of_others_and_unseen_lists_do_not_exist(
    client: httpx.AsyncClient, users: UserFactory
) -> None:
    alice, mallory = await users.create(), await users.create()
    hook = await subscribe(client, alice, "http://127.0.0.1:9/hook")
    for method, path in [
        ("GET", f"/webhooks/{hook['id']}"),
        ("PATCH", f"/webhooks/{hook['id']}"),
        ("DELETE", f"/webhooks/{hook['id']}"),
        ("POST", f"/webhooks/{hook['id']}/ping"),
        ("GET", f"/webhooks/{hook['id']}/deliveries"),
        ("POST", f"/webhooks/{hook['id']}/deliveries/1/redeliver"),
    ]:
        body = {"active": True} if method == "PATCH" else None
        response = await client.request(method, path, json=body, headers=mallory.headers)
        assert_error(response, 404, "not_found")
    private = await create_list(client, alice, name="Private")
    response = await client.post(
        "/webhooks",
        json={"url": "http://127.0.0.1:9/hook", "events": ["*"], "list_id": private["id"]},
        headers=mallory.headers,
    )
    assert_error(response, 404, "not_found")


async def test_at_most_20_webhooks(client: httpx.AsyncClient, users: UserFactory) -> None:
    alice = await users.create()
    for _ in range(20):
        await subscribe(client, alice, "http://127.0.0.1:9/hook")
    response = await client.post(
        "/webhooks", json={"url": "http://127.0.0.1:9/hook", "events": ["*"]}, headers=alice.headers
    )
    assert_error(response, 409, "limit_reached")
    assert len((await client.get("/webhooks", headers=alice.headers)).json()["items"]) == 20


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://example.com/hook", "events": ["*"]}, "url"),
        ({"url": "https://", "events": ["*"]}, "url"),
        ({"url": "https://example.com/" + "a" * 2000, "events": ["*"]}, "url"),
        ({"url": "https://example.com/hook", "events": []}, "events"),
        ({"url": "https://example.com/hook", "events": ["task.exploded"]}, "events"),
        ({"url": "https://example.com/hook", "events": ["*"], "secret": "mine"}, "secret"),
    ],
)
async def test_bad_webhooks_are_422(
    client: httpx.AsyncClient, users: UserFactory, body: dict[str, Any], field: str
) -> None:
    alice = await users.create()
    response = await client.post("/webhooks", json=body, headers=alice.headers)
    assert_error(response, 422, "validation_error")
    assert any(error["loc"][:2] == ["body", field] for error in response.json()["detail"]), response.text
    assert (await client.get("/webhooks", headers=alice.headers)).json()["items"] == []


async def test_every_event_arrives_signed(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    alice, bob = await users.create(), await users.create()
    hook = await subscribe(client, alice, receiver.url)
    work = await create_list(client, alice, name="Work")
    home = await create_list(client, alice, name="Home")
    task = await create_task(client, alice, title="Write", list_id=work["id"])
    tid = task["id"]
    assert (
        await client.patch(f"/tasks/{tid}", json={"title": "Write more"}, headers=alice.headers)
    ).status_code == 200
    assert (await client.post(f"/tasks/{tid}/complete", headers=alice.headers)).status_code == 200
    moved = await client.patch(f"/tasks/{tid}", json={"list_id": home["id"]}, headers=alice.headers)
    assert moved.status_code == 200, moved.text
    assert (await client.delete(f"/tasks/{tid}", headers=alice.headers)).status_code == 204
    assert (await client.post(f"/trash/{tid}/restore", headers=alice.headers)).status_code == 200
    assert (
        await client.patch(f"/lists/{work['id']}", json={"name": "Job"}, headers=alice.headers)
    ).status_code == 200
    await add_member(client, alice, work["id"], bob, "viewer")
    changed = await client.patch(
        f"/lists/{work['id']}/members/{bob.id}", json={"role": "editor"}, headers=alice.headers
    )
    assert changed.status_code == 200, changed.text
    assert (
        await client.delete(f"/lists/{work['id']}/members/{bob.id}", headers=alice.headers)
    ).status_code == 204
    assert (await client.delete(f"/lists/{work['id']}", headers=alice.headers)).status_code == 204

    arrived = await receiver.wait_for(11)
    assert sorted(receiver.types()) == sorted(EVERY_EVENT)
    for request in arrived:
        event = request.verify(hook["secret"])  # raises unless the signature holds
        assert set(event) == {"id", "type", "created_at", "data"}
        assert request.headers["webhook-id"] == event["id"]
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"].startswith("todo-api-webhooks/")
    by_type = {request.event["type"]: request.event["data"] for request in arrived}
    assert by_type["task.created"]["task"]["title"] == "Write"
    assert by_type["task.completed"]["task"]["id"] == tid
    assert by_type["task.moved"]["task"]["list_id"] == home["id"]
    assert by_type["task.deleted"]["task"]["id"] == tid
    assert by_type["task.restored"]["task"]["id"] == tid
    assert by_type["list.updated"]["list"]["name"] == "Job"
    assert by_type["list.updated"]["list"]["role"] == "owner"
    assert by_type["member.added"]["member"] == {**by_type["member.added"]["member"], "user_id": bob.id}
    assert by_type["member.added"]["member"]["role"] == "viewer"
    assert by_type["member.updated"]["member"]["role"] == "editor"
    assert by_type["member.removed"]["member"]["user_id"] == bob.id
    assert by_type["list.deleted"]["list"]["id"] == work["id"]
    logged = await settled(client, alice, hook["id"])
    assert len(logged) == 11
    assert {(item["status"], item["attempts"], item["response_status"]) for item in logged} == {
        ("succeeded", 1, 200)
    }


async def test_a_failing_receiver_gets_the_same_event_again(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    alice = await users.create()
    hook = await subscribe(client, alice, receiver.url, ["task.created"])
    receiver.answers = [500, 503]
    await create_task(client, alice)
    attempts = await receiver.wait_for(3)
    assert len({request.headers["webhook-id"] for request in attempts}) == 1
    assert len({request.body for request in attempts}) == 1
    for request in attempts:
        request.verify(hook["secret"])
    [delivery] = await settled(client, alice, hook["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["attempts"] == 3
    assert delivery["response_status"] == 200
    assert delivery["last_error"] is None


async def test_a_delivery_fails_once_the_schedule_is_spent_and_can_be_redelivered(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    alice = await users.create()
    hook = await subscribe(client, alice, receiver.url, ["task.created"])
    receiver.answers = [500] * 4
    await create_task(client, alice)
    await receiver.wait_for(4)  # the first attempt and the schedule's three retries
    [delivery] = await settled(client, alice, hook["id"])
    assert delivery["status"] == "failed"
    assert delivery["attempts"] == 4
    assert delivery["response_status"] == 500
    assert delivery["last_error"] == "HTTP 500"
    assert delivery["next_attempt_at"] is None
    again = await client.post(
        f"/webhooks/{hook['id']}/deliveries/{delivery['id']}/redeliver", headers=alice.headers
    )
    assert again.status_code == 202, again.text
    assert again.json()["event_id"] == delivery["event_id"]
    assert again.json()["status"] == "pending"
    fifth = (await receiver.wait_for(5))[4]
    assert fifth.headers["webhook-id"] == delivery["event_id"]
    assert fifth.body == receiver.requests()[0].body
    missing = await client.post(f"/webhooks/{hook['id']}/deliveries/999999/redeliver", headers=alice.headers)
    assert_error(missing, 404, "not_found")


async def settled(client: httpx.AsyncClient, user: SignedInUser, hook_id: int) -> list[dict[str, Any]]:
    """The webhook's deliveries once none is pending any more (a receiver has its request a moment
    before the deliverer records the answer)."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        logged = await deliveries(client, user, hook_id)
        if all(item["status"] != "pending" for item in logged):
            return logged
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries stay pending: {logged}")
        await asyncio.sleep(0.02)


async def receiver_pause() -> None:
    """Let the deliverer record what the receiver already answered."""
    await asyncio.sleep(0.02)


async def test_ping(client: httpx.AsyncClient, users: UserFactory, receiver: Receiver) -> None:
    alice = await users.create()
    hook = await subscribe(client, alice, receiver.url, ["task.created"])
    response = await client.post(f"/webhooks/{hook['id']}/ping", headers=alice.headers)
    assert response.status_code == 202, response.text
    [ping] = await receiver.wait_for(1, "ping")
    assert ping.verify(hook["secret"])["data"]["webhook"]["id"] == hook["id"]
    assert ping.headers["webhook-id"] == response.json()["event_id"]


async def test_a_rolled_back_change_sends_nothing(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    alice = await users.create()
    hook = await subscribe(client, alice, receiver.url)
    task = await create_task(client, alice)
    await receiver.wait_for(1)

    class Refused(Exception):
        pass

    async def change_then_fail() -> None:
        """A transaction that records an event, then fails: the unit of work every request runs in."""
        state = app.state
        async with _unit_of_work(state.database.write_session, state.notifier, state.deliverer) as session:
            note_event(session, Event("task.updated", task["list_id"], task["id"]))
            raise Refused

    with pytest.raises(Refused):
        await change_then_fail()
    # The same through the API: a PATCH refused by If-Match changes and sends nothing.
    stale = await client.patch(
        f"/tasks/{task['id']}", json={"title": "x"}, headers={**alice.headers, "If-Match": '"0-0"'}
    )
    assert_error(stale, 412, "precondition_failed")
    await client.post(f"/webhooks/{hook['id']}/ping", headers=alice.headers)
    await receiver.wait_for(1, "ping")
    assert receiver.types() == ["task.created", "ping"]
    assert [item["type"] for item in await deliveries(client, alice, hook["id"])] == ["ping", "task.created"]


async def test_only_events_of_lists_the_owner_sees(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    alice, bob = await users.create(), await users.create()
    shared = await create_list(client, alice, name="Shared")
    await add_member(client, alice, shared["id"], bob, "editor")
    bobs = await subscribe(client, bob, receiver.url, ["task.created"])
    scoped = await subscribe(client, bob, receiver.url + "?scoped", ["task.created"], list_id=shared["id"])
    await create_task(client, alice, title="seen", list_id=shared["id"])
    await create_task(client, alice, title="alice's own")  # in alice's inbox: bob cannot see it
    await receiver.wait_for(2)
    assert sorted(request.path for request in receiver.requests()) == ["/hook", "/hook?scoped"]
    assert {request.event["data"]["task"]["title"] for request in receiver.requests()} == {"seen"}

    removed = await client.delete(f"/lists/{shared['id']}/members/{bob.id}", headers=alice.headers)
    assert removed.status_code == 204
    await create_task(client, alice, title="after", list_id=shared["id"])
    for hook in (bobs, scoped):
        await client.post(f"/webhooks/{hook['id']}/ping", headers=bob.headers)
    await receiver.wait_for(2, "ping")
    assert [request.event["data"]["task"]["title"] for request in receiver.requests("task.created")] == [
        "seen",
        "seen",
    ]
    # A list-scoped webhook cannot be turned back on for a list its owner no longer sees.
    await client.patch(f"/webhooks/{scoped['id']}", json={"active": False}, headers=bob.headers)
    back = await client.patch(f"/webhooks/{scoped['id']}", json={"active": True}, headers=bob.headers)
    assert_error(back, 422, "validation_error")


async def test_a_task_moved_out_of_sight_is_deleted_for_those_left_behind(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    alice, bob = await users.create(), await users.create()
    shared = await create_list(client, alice, name="Shared")
    await add_member(client, alice, shared["id"], bob, "viewer")
    bobs = await subscribe(client, bob, receiver.url + "?bob", ["task.moved", "task.deleted"])
    # A webhook scoped to the list the task leaves hears of the move when its owner sees both lists.
    alices = await subscribe(client, alice, receiver.url + "?alice", ["task.moved"], list_id=shared["id"])
    task = await create_task(client, alice, list_id=shared["id"])
    private = await create_list(client, alice, name="Private")
    moved = await client.patch(f"/tasks/{task['id']}", json={"list_id": private["id"]}, headers=alice.headers)
    assert moved.status_code == 200, moved.text
    arrived = {request.path: request for request in await receiver.wait_for(2)}
    assert arrived["/hook?bob"].verify(bobs["secret"])["type"] == "task.deleted"
    assert arrived["/hook?bob"].event["data"] == {"task": {"id": task["id"], "list_id": shared["id"]}}
    assert arrived["/hook?alice"].verify(alices["secret"])["type"] == "task.moved"
    assert arrived["/hook?alice"].event["data"]["task"]["list_id"] == private["id"]


async def test_a_deleted_account_leaves_the_lists_it_shared(
    client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    alice, bob = await users.create(), await users.create()
    shared = await create_list(client, alice, name="Shared")
    await add_member(client, alice, shared["id"], bob, "editor")
    bobs_list = await create_list(client, bob, name="Bob's")
    await add_member(client, bob, bobs_list["id"], alice, "viewer")
    assigned = await create_task(client, alice, list_id=shared["id"], assignee_id=bob.id)
    trashed = await create_task(client, alice, list_id=shared["id"], assignee_id=bob.id)
    assert (await client.delete(f"/tasks/{trashed['id']}", headers=alice.headers)).status_code == 204
    hook = await subscribe(client, alice, receiver.url, ["member.removed", "list.deleted", "task.updated"])
    assert (await client.delete("/auth/me", headers=bob.headers)).status_code == 204
    arrived = await receiver.wait_for(3)
    events = {request.verify(hook["secret"])["type"]: request.event["data"] for request in arrived}
    assert events["member.removed"]["member"]["user_id"] == bob.id
    assert events["member.removed"]["list"]["id"] == shared["id"]
    assert events["list.deleted"]["list"]["id"] == bobs_list["id"]
    assert events["list.deleted"]["list"]["role"] == "viewer"
    assert events["task.updated"]["task"]["id"] == assigned["id"]  # the trashed one gets nothing
    assert events["task.updated"]["task"]["assignee_id"] is None
    await client.post(f"/webhooks/{hook['id']}/ping", headers=alice.headers)
    await receiver.wait_for(1, "ping")
    assert len(receiver.requests()) == 4


async def test_a_webhook_failing_for_three_days_is_disabled(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    alice = await users.create()
    with fake_clock(app, datetime(2026, 12, 1, tzinfo=UTC)) as clock:
        hook = await subscribe(client, alice, receiver.url, ["task.created"])
        receiver.answers = [500] * 8
        await create_task(client, alice)
        await receiver.wait_for(4)
        await settled(client, alice, hook["id"])
        clock.advance(days=3, seconds=1)
        await create_task(client, alice)
        await receiver.wait_for(5)
        for _ in range(500):
            shown = (await client.get(f"/webhooks/{hook['id']}", headers=alice.headers)).json()
            if not shown["active"]:
                break
            await receiver_pause()
        assert shown["active"] is False
        assert "failed" in shown["disabled_reason"]
        assert all(item["status"] == "failed" for item in await deliveries(client, alice, hook["id"]))
        # While inactive nothing is sent, then or later; `active: true` resumes with new events.
        await create_task(client, alice, title="while inactive")
        resumed = await client.patch(f"/webhooks/{hook['id']}", json={"active": True}, headers=alice.headers)
        assert resumed.json()["active"] is True
        assert resumed.json()["disabled_reason"] is None
        receiver.answers = []
        await create_task(client, alice, title="after")
        [*_, last] = await receiver.wait_for(6)
        assert last.event["data"]["task"]["title"] == "after"
        assert "while inactive" not in {r.event["data"]["task"]["title"] for r in receiver.requests()}


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "https://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://192.168.0.10/hook",
        "http://0.0.0.0/hook",
    ],
)
async def test_private_targets_are_refused_without_the_setting(
    users_of_strict_app: tuple[httpx.AsyncClient, SignedInUser], url: str
) -> None:
    client, alice = users_of_strict_app
    response = await client.post("/webhooks", json={"url": url, "events": ["*"]}, headers=alice.headers)
    assert_error(response, 422, "validation_error")
    assert response.json()["detail"][0]["loc"] == ["body", "url"]
    assert "non-public" in response.json()["detail"][0]["msg"]


@pytest.fixture(scope="module")
async def strict_app(backend: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FastAPI]:
    """The app as deployed: private targets refused."""
    async with empty_database(backend, tmp_path_factory.mktemp("strict")) as url:
        application = create_app(make_settings(url, webhook_delivery=True, webhook_poll_seconds=0.05))
        async with application.router.lifespan_context(application):
            yield application


@pytest.fixture(scope="module")
async def users_of_strict_app(strict_app: FastAPI) -> AsyncIterator[tuple[httpx.AsyncClient, SignedInUser]]:
    transport = httpx.ASGITransport(app=strict_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http, await UserFactory(http).create()


async def test_the_target_is_checked_again_at_every_attempt(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    """A URL that was allowed when saved but points at a private address now fails at the attempt."""
    alice = await users.create()
    hook = await subscribe(client, alice, receiver.url, ["task.created"])
    settings = app.state.settings.model_copy(update={"webhook_allow_private_targets": False})
    strict = Deliverer(app.state.database, settings, app.state.clock)
    await strict.start()
    live = app.state.deliverer
    app.state.deliverer = None  # this test's deliverer alone sends
    await live.stop()
    try:
        await create_task(client, alice)
        for _ in range(500):
            logged = await deliveries(client, alice, hook["id"])
            if logged and logged[0]["attempts"] >= 1 and logged[0]["last_error"]:
                break
            await strict.run_once()
            await strict.drain()
        assert logged[0]["last_error"].startswith("refused:")
        assert "127.0.0.1" in logged[0]["last_error"]
        assert receiver.requests() == []
    finally:
        await strict.stop()
        await live.start()
        app.state.deliverer = live


# Real `todo-api` processes: a crash after the commit, and two replicas on one PostgreSQL.

PROCESS_ENV = {"WEBHOOK_ALLOW_PRIVATE_TARGETS": "true", "WEBHOOK_POLL_SECONDS": "0.05"}


async def _signed_in(http: httpx.AsyncClient) -> dict[str, str]:
    body = {"username": "carol", "email": "carol@example.com", "password": PASSWORD}
    assert (await http.post("/auth/register", json=body)).status_code == 201
    login = await http.post("/auth/login", data={"username": "carol", "password": PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_a_change_committed_by_a_process_killed_before_sending_is_delivered_after_restart(
    backend: str, tmp_path: Path, receiver: Receiver
) -> None:
    async with empty_database(backend, tmp_path) as url:
        # The first process never sends (its deliverer is off), so its kill -9 surely comes after
        # the commit and before any attempt.
        env = {**PROCESS_ENV, "DATABASE_URL": url}
        with live_process(tmp_path, "first", **env, WEBHOOK_DELIVERY="false") as first:
            async with httpx.AsyncClient(base_url=first.base_url, trust_env=False) as http:
                headers = await _signed_in(http)
                hook = await http.post(
                    "/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=headers
                )
                created = await http.post("/tasks", json={"title": "survives"}, headers=headers)
                assert created.status_code == 201
            first.process.send_signal(signal.SIGKILL)
            first.process.wait()
        assert receiver.requests() == []
        with live_process(tmp_path, "second", **env):
            [request] = await receiver.wait_for(1)
        event = request.verify(hook.json()["secret"])
        assert event["type"] == "task.created"
        assert event["data"]["task"]["title"] == "survives"


async def test_sigterm_lets_the_attempt_in_flight_finish_and_record(
    backend: str, tmp_path: Path, receiver: Receiver
) -> None:
    receiver.delay = 1.0  # the attempt is still waiting for its answer when SIGTERM comes
    async with empty_database(backend, tmp_path) as url:
        env = {**PROCESS_ENV, "DATABASE_URL": url}
        with live_process(tmp_path, "first", **env) as first:
            async with httpx.AsyncClient(base_url=first.base_url, trust_env=False) as http:
                headers = await _signed_in(http)
                hook = await http.post(
                    "/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=headers
                )
                assert (await http.post("/tasks", json={"title": "t"}, headers=headers)).status_code == 201
            await receiver.wait_for(1)
            first.process.send_signal(signal.SIGTERM)
            assert first.process.wait(timeout=30) == 0
        receiver.delay = 0.0
        with live_process(tmp_path, "second", **env) as second:
            async with httpx.AsyncClient(base_url=second.base_url, trust_env=False) as http:
                login = await http.post("/auth/login", data={"username": "carol", "password": PASSWORD})
                headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
                path = f"/webhooks/{hook.json()['id']}/deliveries"
                [delivery] = (await http.get(path, headers=headers)).json()["items"]
    # Finished and recorded before the process exited: never attempted again.
    assert (delivery["status"], delivery["attempts"], delivery["response_status"]) == ("succeeded", 1, 200)
    assert len(receiver.requests()) == 1


async def test_two_processes_on_one_postgresql_send_each_event_once(
    backend: str, tmp_path: Path, receiver: Receiver
) -> None:
    if backend != "postgresql":
        pytest.skip("replicas share a PostgreSQL database; SQLite is served by one process")
    async with empty_database(backend, tmp_path) as url:
        env = {**PROCESS_ENV, "DATABASE_URL": url}
        with live_process(tmp_path, "one", **env) as one, live_process(tmp_path, "two", **env) as two:
            async with (
                httpx.AsyncClient(base_url=one.base_url, trust_env=False) as first,
                httpx.AsyncClient(base_url=two.base_url, trust_env=False) as second,
            ):
                headers = await _signed_in(first)
                hook = await first.post(
                    "/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=headers
                )
                writes = [
                    (first, second)[n % 2].post("/tasks", json={"title": f"task {n}"}, headers=headers)
                    for n in range(40)
                ]
                assert {response.status_code for response in await asyncio.gather(*writes)} == {201}
                await receiver.wait_for(40)
                path = f"/webhooks/{hook.json()['id']}/deliveries?limit=100"
                deadline = time.monotonic() + WAIT_SECONDS
                while any(
                    item["status"] != "succeeded"
                    for item in (await first.get(path, headers=headers)).json()["items"]
                ):
                    assert time.monotonic() < deadline, "deliveries stay pending"
                    await asyncio.sleep(0.05)
    ids = [request.headers["webhook-id"] for request in receiver.requests()]
    assert len(ids) == 40
    assert len(set(ids)) == 40


async def test_deliveries_older_than_the_retention_are_purged(
    app: FastAPI, client: httpx.AsyncClient, users: UserFactory, receiver: Receiver
) -> None:
    alice = await users.create()
    hook = await subscribe(client, alice, receiver.url, ["task.created"])
    days = app.state.settings.webhook_retention_days
    with fake_clock(app, datetime.now(UTC) - timedelta(days=days, hours=1)):
        await create_task(client, alice, title="old")
        await receiver.wait_for(1)
        await settled(client, alice, hook["id"])
    await create_task(client, alice, title="recent")
    await receiver.wait_for(2)
    result = run_command("purge-webhook-deliveries", database_url=app.state.settings.database_url)
    assert result.returncode == 0, result.stderr
    assert '"purged": 1' in result.stdout
    [kept] = await settled(client, alice, hook["id"])
    assert kept["event_id"] == receiver.requests()[1].headers["webhook-id"]
