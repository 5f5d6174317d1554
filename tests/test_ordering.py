"""Manual order (shared/API.md, "Subtasks, order and recurrence"): positions chosen by the server
that sort in byte order, new tasks last among their siblings, POST /tasks/{id}/move, a move that
writes only the moved task, and concurrent moves into one gap."""

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.factories import SignedInUser, UserFactory, create_task
from tests.task_factories import (
    assert_invalid,
    chain,
    create_list,
    etag,
    get,
    ids,
    move,
    page,
    patch,
    put,
    share,
    subtask,
)

MAX_DEPTH = 4


@pytest.fixture
async def user(users: UserFactory) -> SignedInUser:
    return await users.create()


def assert_byte_order(positions: list[str]) -> None:
    """Strictly ascending byte by byte: sorted as Python sorts the strings, and no two equal."""
    assert positions == sorted(positions), positions
    assert [p.encode() for p in positions] == sorted(p.encode() for p in positions), positions
    assert len(set(positions)) == len(positions), positions


async def in_order(client: httpx.AsyncClient, user: SignedInUser, **params: Any) -> list[int]:
    """The ids of a sibling group as `sort=position` lists them, checking their positions."""
    items = (await page(client, user, sort="position", **params))["items"]
    assert_byte_order([item["position"] for item in items])
    return [item["id"] for item in items]


async def top_level(client: httpx.AsyncClient, user: SignedInUser, list_id: int) -> list[int]:
    return await in_order(client, user, list_id=list_id, top_level="true")


async def children(client: httpx.AsyncClient, user: SignedInUser, parent_id: int) -> list[int]:
    return await in_order(client, user, parent_id=parent_id)


async def moved(client: httpx.AsyncClient, user: SignedInUser, task_id: int, **body: Any) -> dict[str, Any]:
    response = await move(client, user, task_id, **body)
    assert response.status_code == 200, response.text
    task: dict[str, Any] = response.json()
    return task


async def tasks_in(client: httpx.AsyncClient, user: SignedInUser, list_id: int, count: int) -> list[int]:
    return [(await create_task(client, user, title=f"t{n}", list_id=list_id))["id"] for n in range(count)]


# New tasks and byte order.


async def test_a_new_task_goes_after_its_last_sibling(client: httpx.AsyncClient, user: SignedInUser) -> None:
    list_id = await create_list(client, user)
    first = await create_task(client, user, list_id=list_id)
    sub_one = await subtask(client, user, first)
    second = await create_task(client, user, list_id=list_id)
    sub_two = await subtask(client, user, first)
    other_list = await create_task(client, user)
    third = await create_task(client, user, list_id=list_id)
    assert await top_level(client, user, list_id) == [first["id"], second["id"], third["id"]]
    assert await children(client, user, first["id"]) == [sub_one["id"], sub_two["id"]]
    # Still last after the first sibling was moved to the end and another to the front.
    await moved(client, user, first["id"], after_id=third["id"])
    await moved(client, user, third["id"])
    fourth = await create_task(client, user, list_id=list_id)
    assert await top_level(client, user, list_id) == [third["id"], second["id"], first["id"], fourth["id"]]
    # And after the last one was deleted.
    assert (await client.delete(f"/tasks/{fourth['id']}", headers=user.headers)).status_code == 204
    fifth = await create_task(client, user, list_id=list_id)
    assert await top_level(client, user, list_id) == [third["id"], second["id"], first["id"], fifth["id"]]
    assert (await get(client, user, other_list["id"]))["position"] == other_list["position"]


async def test_positions_sort_in_byte_order(client: httpx.AsyncClient, user: SignedInUser) -> None:
    """Moves to the front and into narrow gaps make keys of digits, upper- and lower-case letters;
    the listing follows Python's (byte) order of the strings, never a case-insensitive or a
    language's collation. Moves go on until two positions prove the difference."""
    list_id = await create_list(client, user)
    task_ids = await tasks_in(client, user, list_id, 8)
    positions = {task_id: (await get(client, user, task_id))["position"] for task_id in task_ids}
    rng = random.Random(11)  # noqa: S311 (no secret: a replayable choice of moves)
    expected = list(task_ids)
    for step in range(80):
        values = list(positions.values())
        if step >= 16 and sorted(values, key=str.casefold) != sorted(values):
            break
        task_id = rng.choice(task_ids)
        expected.remove(task_id)
        after = None if rng.random() < 0.4 else rng.choice(expected[:2])
        positions[task_id] = (await moved(client, user, task_id, after_id=after))["position"]
        expected.insert(0 if after is None else expected.index(after) + 1, task_id)
    values = list(positions.values())
    assert sorted(values, key=str.casefold) != sorted(values), values
    items = (await page(client, user, list_id=list_id, sort="position"))["items"]
    assert [item["id"] for item in items] == expected
    assert_byte_order([item["position"] for item in items])


async def test_sort_position_orders_by_list_then_position(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    lists = [await create_list(client, user, name) for name in ("B", "A")]
    for list_id in reversed(lists):
        await tasks_in(client, user, list_id, 3)
    parent = (await page(client, user, list_id=lists[0], sort="position"))["items"][0]
    await subtask(client, user, parent)
    items = (await page(client, user, sort="position"))["items"]
    keys = [(item["list_id"], item["position"]) for item in items]
    assert keys == sorted(keys)
    assert len(items) == 7


# POST /tasks/{id}/move.


async def test_move_to_first_and_after_a_sibling(client: httpx.AsyncClient, user: SignedInUser) -> None:
    list_id = await create_list(client, user)
    a, b, c, d = await tasks_in(client, user, list_id, 4)
    await moved(client, user, c)  # after_id absent: first
    assert await top_level(client, user, list_id) == [c, a, b, d]
    await moved(client, user, d, after_id=None)
    assert await top_level(client, user, list_id) == [d, c, a, b]
    await moved(client, user, d, after_id=a)
    assert await top_level(client, user, list_id) == [c, a, d, b]
    await moved(client, user, c, after_id=b)
    assert await top_level(client, user, list_id) == [a, d, b, c]
    # Where it already is: still there.
    await moved(client, user, d, after_id=a)
    assert await top_level(client, user, list_id) == [a, d, b, c]
    await moved(client, user, a)
    assert await top_level(client, user, list_id) == [a, d, b, c]


async def test_move_to_another_list(client: httpx.AsyncClient, user: SignedInUser) -> None:
    source, target = await create_list(client, user, "S"), await create_list(client, user, "T")
    a, b = await tasks_in(client, user, source, 2)
    x, y = await tasks_in(client, user, target, 2)
    task = await moved(client, user, a, list_id=target)
    assert (task["list_id"], task["parent_id"]) == (target, None)
    assert await top_level(client, user, target) == [a, x, y]
    await moved(client, user, b, list_id=target, after_id=x)
    assert await top_level(client, user, target) == [a, x, b, y]
    assert await top_level(client, user, source) == []


async def test_move_under_another_parent(client: httpx.AsyncClient, user: SignedInUser) -> None:
    list_id = await create_list(client, user)
    p, q, loose = await tasks_in(client, user, list_id, 3)
    p1 = (await create_task(client, user, parent_id=p))["id"]
    q1, q2 = [(await create_task(client, user, parent_id=q))["id"] for _ in range(2)]
    task = await moved(client, user, p1, parent_id=q, after_id=q1)
    assert (task["list_id"], task["parent_id"]) == (list_id, q)
    assert await children(client, user, q) == [q1, p1, q2]
    assert await children(client, user, p) == []
    await moved(client, user, loose, parent_id=q)  # a top-level task, first under q
    assert await children(client, user, q) == [loose, q1, p1, q2]
    # parent_id absent (same list): the parent stays; null: to the top level.
    await moved(client, user, q2, after_id=loose)
    assert await children(client, user, q) == [loose, q2, q1, p1]
    await moved(client, user, q2, parent_id=None, after_id=p)
    assert await top_level(client, user, list_id) == [p, q2, q]
    # Under a parent in another list, in one move.
    elsewhere = await create_list(client, user)
    r = (await create_task(client, user, list_id=elsewhere))["id"]
    task = await moved(client, user, q1, list_id=elsewhere, parent_id=r)
    assert (task["list_id"], task["parent_id"]) == (elsewhere, r)
    assert await children(client, user, r) == [q1]


async def test_after_id_must_be_a_sibling_at_the_target(
    client: httpx.AsyncClient, user: SignedInUser, users: UserFactory
) -> None:
    list_id = await create_list(client, user)
    elsewhere = await create_list(client, user)
    a, b = await tasks_in(client, user, list_id, 2)
    sub = (await create_task(client, user, parent_id=a))["id"]
    foreign = (await create_task(client, user, list_id=elsewhere))["id"]
    theirs = (await create_task(client, await users.create()))["id"]
    before = await top_level(client, user, list_id)
    for body in (
        {"after_id": sub},  # a subtask, the target is the top level
        {"after_id": foreign},  # in another list
        {"parent_id": a, "after_id": b},  # top-level, the target is under a
        {"list_id": elsewhere, "after_id": a},  # a stays behind in the old list
        {"after_id": theirs},  # someone else's
        {"after_id": 2**31 - 1},  # nobody's
    ):
        assert_invalid(await move(client, user, b, **body), "body", "after_id")
    assert await top_level(client, user, list_id) == before
    assert await children(client, user, a) == [sub]


async def test_move_needs_the_editor_role_on_both_lists(
    client: httpx.AsyncClient, user: SignedInUser, users: UserFactory
) -> None:
    owner = await users.create()
    viewed = await create_list(client, owner, "viewed")
    await share(client, owner, viewed, user, "viewer")
    unseen = await create_list(client, owner, "unseen")
    mine = (await create_task(client, user))["id"]
    response = await move(client, user, mine, list_id=unseen)
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    response = await move(client, user, mine, list_id=viewed)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    theirs = (await create_task(client, owner, list_id=viewed))["id"]
    response = await move(client, user, theirs)
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")


async def test_move_honours_if_match(client: httpx.AsyncClient, user: SignedInUser) -> None:
    list_id = await create_list(client, user)
    a, b = await tasks_in(client, user, list_id, 2)
    stale = await etag(client, user, b)
    await moved(client, user, b)
    headers = {**user.headers, "If-Match": stale}
    response = await client.post(f"/tasks/{b}/move", json={"after_id": a}, headers=headers)
    assert response.status_code == 412, response.text
    assert response.headers["ETag"] == await etag(client, user, b)
    assert await top_level(client, user, list_id) == [b, a]


# A move writes only the moved task.


async def test_a_move_changes_only_the_moved_tasks_etag(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    source, target = await create_list(client, user, "S"), await create_list(client, user, "T")
    a, b, c, d = await tasks_in(client, user, source, 4)
    b1 = (await create_task(client, user, parent_id=b))["id"]
    b2 = (await create_task(client, user, parent_id=b))["id"]
    b11 = (await create_task(client, user, parent_id=b1))["id"]
    x, y = await tasks_in(client, user, target, 2)
    everyone = [a, b, c, d, b1, b2, b11, x, y]

    async def snapshot() -> dict[int, tuple[str, str]]:
        """Each task's ETag and updated_at, from one GET."""
        shot = {}
        for task_id in everyone:
            response = await client.get(f"/tasks/{task_id}", headers=user.headers)
            assert response.status_code == 200, response.text
            shot[task_id] = (response.headers["ETag"], response.json()["updated_at"])
        return shot

    async def changed_by(**body: Any) -> set[int]:
        task_id = body.pop("task")
        before = await snapshot()
        await moved(client, user, task_id, **body)
        after = await snapshot()
        changed = {i for i in everyone if after[i][0] != before[i][0]}
        # updated_at moves with the ETag, and only with it.
        assert changed == {i for i in everyone if after[i][1] != before[i][1]}
        return changed

    assert await changed_by(task=b, after_id=c) == {b}  # between two siblings
    assert await changed_by(task=d) == {d}  # to the front
    assert await changed_by(task=a, after_id=b) == {a}  # to the end
    assert await changed_by(task=b2) == {b2}  # a subtask among its siblings
    assert await changed_by(task=b11, parent_id=b, after_id=b1) == {b11}  # up a level
    assert await changed_by(task=b11, parent_id=b1) == {b11}  # and back
    assert await changed_by(task=b, list_id=target, after_id=x) == {b, b1, b2, b11}  # with its subtasks
    assert await top_level(client, user, target) == [x, b, y]
    assert await top_level(client, user, source) == [d, c, a]


# 200 random moves against a model of every sibling order.


@dataclass
class OrderModel:
    """Where every task is (list, parent) and the order of every sibling group."""

    place: dict[int, tuple[int, int | None]] = field(default_factory=dict)
    groups: dict[tuple[int, int | None], list[int]] = field(default_factory=dict)

    def add(self, task_id: int, list_id: int, parent_id: int | None) -> None:
        self.place[task_id] = (list_id, parent_id)
        self.groups.setdefault((list_id, parent_id), []).append(task_id)

    def children(self, task_id: int) -> list[int]:
        return self.groups.get((self.place[task_id][0], task_id), [])

    def descendants(self, task_id: int) -> list[int]:
        found: list[int] = []
        for child in self.children(task_id):
            found += [child, *self.descendants(child)]
        return found

    def depth(self, task_id: int) -> int:
        parent = self.place[task_id][1]
        return 1 if parent is None else 1 + self.depth(parent)

    def height(self, task_id: int) -> int:
        return 1 + max((self.height(child) for child in self.children(task_id)), default=0)

    def parent_allowed(self, task_id: int, list_id: int, parent_id: int | None) -> bool:
        if parent_id is None:
            return True
        return (
            parent_id != task_id
            and parent_id not in self.descendants(task_id)
            and self.place[parent_id][0] == list_id
            and self.depth(parent_id) + self.height(task_id) <= MAX_DEPTH
        )

    def move(self, task_id: int, list_id: int, parent_id: int | None, after_id: int | None) -> None:
        old_list, old_parent = self.place[task_id]
        subtree = self.descendants(task_id)
        self.groups[(old_list, old_parent)].remove(task_id)
        if list_id != old_list:
            for inner in [task_id, *subtree]:
                if (old_list, inner) in self.groups:
                    self.groups[(list_id, inner)] = self.groups.pop((old_list, inner))
            for inner in subtree:
                self.place[inner] = (list_id, self.place[inner][1])
        siblings = self.groups.setdefault((list_id, parent_id), [])
        siblings.insert(0 if after_id is None else siblings.index(after_id) + 1, task_id)
        self.place[task_id] = (list_id, parent_id)


async def assert_matches(client: httpx.AsyncClient, user: SignedInUser, model: OrderModel, note: str) -> None:
    """Every sibling group in `sort=position` order is the model's (groups of one list interleave:
    positions are unique among siblings only); every task where the model says."""
    items = (await page(client, user, sort="position"))["items"]
    assert len(items) == len(model.place), note
    keys = [(item["list_id"], item["position"]) for item in items]
    assert keys == sorted(keys), note
    seen: dict[tuple[int, int | None], list[int]] = {}
    positions: dict[tuple[int, int | None], list[str]] = {}
    for item in items:
        assert model.place[item["id"]] == (item["list_id"], item["parent_id"]), note
        seen.setdefault((item["list_id"], item["parent_id"]), []).append(item["id"])
        positions.setdefault((item["list_id"], item["parent_id"]), []).append(item["position"])
    assert seen == {key: group for key, group in model.groups.items() if group}, note
    for group in positions.values():
        assert_byte_order(group)  # no two siblings share a position


async def test_random_moves_match_a_model_of_every_sibling_order(
    client: httpx.AsyncClient, user: SignedInUser, backend: str
) -> None:
    seed = 2026 if backend == "sqlite" else 4711
    rng = random.Random(seed)  # noqa: S311 (no secret: a replayable choice of moves)
    lists = [await create_list(client, user, name) for name in ("One", "Two")]
    model = OrderModel()
    for list_id, shape in zip(lists, ([3, 2, 0, 1, 0], [2, 0, 0]), strict=True):
        for width in shape:
            top = await create_task(client, user, list_id=list_id)
            model.add(top["id"], list_id, None)
            for _ in range(width):
                model.add((await create_task(client, user, parent_id=top["id"]))["id"], list_id, top["id"])
    await assert_matches(client, user, model, "after creating")
    everyone = sorted(model.place)
    moves = refused = deepest = 0
    while moves < 200:
        note = f"seed {seed}, move {moves}, refused {refused}"
        task_id = rng.choice(everyone)
        old_list, old_parent = model.place[task_id]
        list_id = (
            old_list if rng.random() < 0.75 else rng.choice([other for other in lists if other != old_list])
        )
        # Now and then a parent the task cannot go under (itself, a descendant, too deep): a 422.
        bad_parent = rng.random() < 0.08
        candidates = [None, *(t for t in everyone if model.place[t][0] == list_id)]
        parents = [p for p in candidates if model.parent_allowed(task_id, list_id, p) != bad_parent]
        if not parents:
            continue
        parent_id = rng.choice(parents)
        siblings = [t for t in model.groups.get((list_id, parent_id), []) if t != task_id]
        after_id = rng.choice(siblings) if siblings and rng.random() < 0.8 else None
        # Now and then an after_id that is no sibling at the target: a 422 too.
        bad_after = rng.random() < 0.05
        if bad_after:
            after_id = rng.choice([t for t in everyone if t != task_id and t not in siblings])
        body: dict[str, Any] = {}
        if list_id != old_list or rng.random() < 0.5:
            body["list_id"] = list_id
        if parent_id != (old_parent if list_id == old_list else None) or rng.random() < 0.5:
            body["parent_id"] = parent_id
        if after_id is not None or rng.random() < 0.5:
            body["after_id"] = after_id
        response = await move(client, user, task_id, **body)
        if bad_parent or bad_after:
            assert response.status_code == 422, (note, body, response.text)
            refused += 1
            continue
        assert response.status_code == 200, (note, body, response.text)
        assert (response.json()["list_id"], response.json()["parent_id"]) == (list_id, parent_id), note
        model.move(task_id, list_id, parent_id, after_id)
        moves += 1
        deepest = max(deepest, model.depth(task_id) + model.height(task_id) - 1)
        await assert_matches(client, user, model, note)
        if parent_id is not None and moves % 4 == 0:
            assert await children(client, user, parent_id) == model.groups[(list_id, parent_id)], note
    assert refused > 5, refused  # refusals were exercised and changed nothing
    for list_id in lists:
        assert await top_level(client, user, list_id) == model.groups.get((list_id, None), [])
    assert deepest == MAX_DEPTH  # the deepest trees were reached


# Concurrent moves into one gap.


async def test_concurrent_moves_into_one_gap_leave_a_strict_order(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    """Ten tasks moved at once to right after the same sibling (real concurrency on PostgreSQL):
    each answer is 200 and the siblings end up in a strict order, no two positions equal. Two
    rounds, since how far requests overlap is up to the scheduler."""
    for _ in range(2):
        list_id = await create_list(client, user)
        for n in range(16):
            await create_task(client, user, title=f"t{n}", list_id=list_id)
        siblings = (await page(client, user, list_id=list_id, sort="position"))["items"]
        # The gap before the sibling with the smallest position among the later ones: the narrowest
        # room for whatever a server adds to keep concurrent keys apart.
        index = min(range(1, 6), key=lambda n: siblings[n]["position"][2:])
        before, after = siblings[index - 1]["id"], siblings[index]["id"]
        movers = [item["id"] for item in siblings[6:]]
        responses = await asyncio.gather(
            *(move(client, user, task_id, after_id=before) for task_id in movers)
        )
        assert [response.status_code for response in responses] == [200] * len(movers), [
            response.text for response in responses if response.status_code != 200
        ]
        order = await top_level(client, user, list_id)  # checks strictly ascending positions
        assert order[index - 1] == before
        assert order[index + len(movers)] == after
        assert sorted(order[index : index + len(movers)]) == sorted(movers)


async def test_concurrent_creates_each_get_their_own_position(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    list_id = await create_list(client, user)
    (existing,) = await tasks_in(client, user, list_id, 1)
    responses = await asyncio.gather(
        *(
            client.post("/tasks", json={"title": f"c{n}", "list_id": list_id}, headers=user.headers)
            for n in range(10)
        )
    )
    assert [response.status_code for response in responses] == [201] * 10
    order = await top_level(client, user, list_id)
    assert order[0] == existing
    assert sorted(order[1:]) == sorted(response.json()["id"] for response in responses)


# A new list by PUT or PATCH: last among its top-level tasks, with the subtasks.


@pytest.mark.parametrize("how", ["patch", "put"])
async def test_a_task_given_a_new_list_goes_last_with_its_subtasks(
    client: httpx.AsyncClient, user: SignedInUser, how: str
) -> None:
    source, target = await create_list(client, user, "S"), await create_list(client, user, "T")
    x, y, z = await tasks_in(client, user, target, 3)
    await moved(client, user, y)  # target order: y, x, z
    # First in its list: a position that would not be last in the other list.
    task, sub, subsub = await chain(client, user, 3, list_id=source)
    sub2 = await subtask(client, user, task)
    if how == "patch":
        response = await patch(client, user, task["id"], list_id=target)
    else:
        response = await put(client, user, task, list_id=target)
    assert response.status_code == 200, response.text
    assert await top_level(client, user, target) == [y, x, z, task["id"]]
    assert await children(client, user, task["id"]) == [sub["id"], sub2["id"]]
    assert await children(client, user, sub["id"]) == [subsub["id"]]
    assert await ids(client, user, list_id=source) == []


async def test_a_task_given_a_new_parent_by_patch_goes_last_among_its_new_siblings(
    client: httpx.AsyncClient, user: SignedInUser
) -> None:
    list_id = await create_list(client, user)
    p, loose = await tasks_in(client, user, list_id, 2)
    p1, p2, p3, p4 = [(await create_task(client, user, parent_id=p))["id"] for _ in range(4)]
    await moved(client, user, p4)  # p4, p1, p2, p3
    # Second among the top-level tasks: a position that would not be last under p.
    response = await patch(client, user, loose, parent_id=p)
    assert response.status_code == 200, response.text
    assert await children(client, user, p) == [p4, p1, p2, p3, loose]
    # A PATCH that changes neither list nor parent leaves the position alone.
    position = (await get(client, user, p1))["position"]
    assert (await patch(client, user, p1, title="renamed", parent_id=p, list_id=list_id)).status_code == 200
    assert (await get(client, user, p1))["position"] == position
