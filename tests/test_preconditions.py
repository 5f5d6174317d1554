"""Strong ETags on every single-task response; If-None-Match gives 304, a stale If-Match gives 412."""

import asyncio
from typing import Any

import httpx
import pytest

from tests.factories import SignedInUser, UserFactory, create_task


async def fetch(
    client: httpx.AsyncClient, user: SignedInUser, task_id: int, **headers: str
) -> httpx.Response:
    return await client.get(f"/tasks/{task_id}", headers={**user.headers, **headers})


@pytest.fixture
async def owner(users: UserFactory) -> SignedInUser:
    return await users.create()


@pytest.fixture
async def task(client: httpx.AsyncClient, owner: SignedInUser) -> dict[str, Any]:
    return await create_task(client, owner, title="Original")


async def test_every_single_task_response_has_a_strong_etag(
    client: httpx.AsyncClient, owner: SignedInUser
) -> None:
    created = await client.post("/tasks", json={"title": "x"}, headers=owner.headers)
    task_id = created.json()["id"]
    responses = [
        created,
        await fetch(client, owner, task_id),
        await client.put(f"/tasks/{task_id}", json={"title": "y"}, headers=owner.headers),
        await client.patch(f"/tasks/{task_id}", json={"title": "z"}, headers=owner.headers),
        await client.post(f"/tasks/{task_id}/complete", headers=owner.headers),
    ]
    etags = [response.headers["ETag"] for response in responses]
    for etag in etags:
        assert etag.startswith('"')
        assert etag.endswith('"')
    # Reads agree with the write before them; every change gives a new tag.
    assert etags[0] == etags[1]
    assert len({etags[0], etags[2], etags[3], etags[4]}) == 4


async def test_a_write_that_changes_nothing_keeps_the_etag(
    client: httpx.AsyncClient, owner: SignedInUser, task: dict[str, Any]
) -> None:
    before = (await fetch(client, owner, task["id"])).headers["ETag"]
    same = await client.patch(f"/tasks/{task['id']}", json={"title": "Original"}, headers=owner.headers)
    assert same.headers["ETag"] == before


async def test_two_quick_changes_get_different_etags(
    client: httpx.AsyncClient, owner: SignedInUser, task: dict[str, Any]
) -> None:
    first = await client.patch(f"/tasks/{task['id']}", json={"title": "a"}, headers=owner.headers)
    second = await client.patch(f"/tasks/{task['id']}", json={"title": "b"}, headers=owner.headers)
    third = await client.patch(f"/tasks/{task['id']}", json={"title": "a"}, headers=owner.headers)
    assert len({first.headers["ETag"], second.headers["ETag"], third.headers["ETag"]}) == 3


@pytest.mark.parametrize("form", ["exact", "weak", "list", "star"])
async def test_if_none_match_answers_304_without_a_body(
    client: httpx.AsyncClient, owner: SignedInUser, task: dict[str, Any], form: str
) -> None:
    etag = (await fetch(client, owner, task["id"])).headers["ETag"]
    header = {"exact": etag, "weak": f"W/{etag}", "list": f'"other", {etag}', "star": "*"}[form]
    response = await fetch(client, owner, task["id"], **{"If-None-Match": header})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["ETag"] == etag


async def test_a_stale_if_none_match_answers_200(
    client: httpx.AsyncClient, owner: SignedInUser, task: dict[str, Any]
) -> None:
    old = (await fetch(client, owner, task["id"])).headers["ETag"]
    await client.patch(f"/tasks/{task['id']}", json={"title": "changed"}, headers=owner.headers)
    response = await fetch(client, owner, task["id"], **{"If-None-Match": old})
    assert response.status_code == 200
    assert response.json()["title"] == "changed"


WRITES = [
    ("PUT", "", {"title": "put"}),
    ("PATCH", "", {"title": "patched"}),
    ("POST", "/complete", None),
    ("DELETE", "", None),
]


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
async def test_a_stale_if_match_is_412_and_changes_nothing(
    client: httpx.AsyncClient,
    owner: SignedInUser,
    task: dict[str, Any],
    method: str,
    suffix: str,
    body: dict[str, str] | None,
) -> None:
    stale = (await fetch(client, owner, task["id"])).headers["ETag"]
    await client.patch(f"/tasks/{task['id']}", json={"description": "moved on"}, headers=owner.headers)
    current = await fetch(client, owner, task["id"])

    response = await client.request(
        method, f"/tasks/{task['id']}{suffix}", json=body, headers={**owner.headers, "If-Match": stale}
    )
    assert response.status_code == 412
    assert response.json()["code"] == "precondition_failed"
    after = await fetch(client, owner, task["id"])
    assert after.status_code == 200
    assert after.json() == current.json()
    assert after.headers["ETag"] == current.headers["ETag"]


@pytest.mark.parametrize(("method", "suffix", "body"), WRITES)
@pytest.mark.parametrize("matching", ["current", "star", "in-list"])
async def test_a_current_if_match_lets_the_write_through(
    client: httpx.AsyncClient,
    owner: SignedInUser,
    task: dict[str, Any],
    method: str,
    suffix: str,
    body: dict[str, str] | None,
    matching: str,
) -> None:
    etag = (await fetch(client, owner, task["id"])).headers["ETag"]
    header = {"current": etag, "star": "*", "in-list": f'"nope", {etag}'}[matching]
    response = await client.request(
        method, f"/tasks/{task['id']}{suffix}", json=body, headers={**owner.headers, "If-Match": header}
    )
    assert response.status_code == (204 if method == "DELETE" else 200)


async def test_a_weak_if_match_never_matches(
    client: httpx.AsyncClient, owner: SignedInUser, task: dict[str, Any]
) -> None:
    etag = (await fetch(client, owner, task["id"])).headers["ETag"]
    response = await client.patch(
        f"/tasks/{task['id']}", json={"title": "x"}, headers={**owner.headers, "If-Match": f"W/{etag}"}
    )
    assert response.status_code == 412


async def test_if_match_on_someone_elses_task_is_404(
    client: httpx.AsyncClient, users: UserFactory, owner: SignedInUser, task: dict[str, Any]
) -> None:
    intruder = await users.create()
    response = await client.patch(
        f"/tasks/{task['id']}", json={"title": "x"}, headers={**intruder.headers, "If-Match": "*"}
    )
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_20_concurrent_patches_with_one_if_match_let_exactly_one_through(
    client: httpx.AsyncClient, owner: SignedInUser, task: dict[str, Any]
) -> None:
    etag = (await fetch(client, owner, task["id"])).headers["ETag"]

    async def patch(n: int) -> httpx.Response:
        return await client.patch(
            f"/tasks/{task['id']}", json={"title": f"writer {n}"}, headers={**owner.headers, "If-Match": etag}
        )

    responses = await asyncio.gather(*(patch(n) for n in range(20)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] + [412] * 19
    winner = next(response for response in responses if response.status_code == 200)
    final = await fetch(client, owner, task["id"])
    assert final.json()["title"] == winner.json()["title"]
    assert final.headers["ETag"] == winner.headers["ETag"]


async def test_concurrent_patches_without_if_match_all_succeed(
    client: httpx.AsyncClient, owner: SignedInUser, task: dict[str, Any]
) -> None:
    """Without If-Match, the last write wins and nobody gets a 412."""
    responses = await asyncio.gather(
        *(
            client.patch(f"/tasks/{task['id']}", json={"title": f"writer {n}"}, headers=owner.headers)
            for n in range(10)
        )
    )
    assert [response.status_code for response in responses] == [200] * 10


async def test_openapi_declares_the_headers_and_the_304_and_412_answers(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    get_task = paths["/tasks/{task_id}"]["get"]
    assert "304" in get_task["responses"]
    assert "ETag" in get_task["responses"]["200"]["headers"]
    assert any(parameter["name"] == "If-None-Match" for parameter in get_task["parameters"])
    for method in ("put", "patch", "delete"):
        operation = paths["/tasks/{task_id}"][method]
        assert "412" in operation["responses"]
        assert any(parameter["name"] == "If-Match" for parameter in operation["parameters"])
    create = paths["/tasks"]["post"]
    assert any(parameter["name"] == "Idempotency-Key" for parameter in create["parameters"])
    assert {"Location", "ETag", "Idempotent-Replayed"} <= set(create["responses"]["201"]["headers"])
