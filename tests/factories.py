"""Small helpers that make users and tasks through the public API."""

import itertools
from dataclasses import dataclass, field
from typing import Any

import httpx

_sequence = itertools.count(1)
# The contract's sort keys and priority ranks (shared/API.md), spelled out rather than taken from the
# service's code, so that a key the service forgets still fails a test.
SORT_KEYS = (
    "created_at",
    "-created_at",
    "updated_at",
    "-updated_at",
    "due_date",
    "-due_date",
    "priority",
    "-priority",
    "title",
    "-title",
)
PRIORITY_RANK = {"low": 1, "medium": 2, "high": 3}
PASSWORD = "correct-horse-battery"


@dataclass
class SignedInUser:
    id: int
    username: str
    email: str
    password: str
    token: str
    headers: dict[str, str] = field(default_factory=dict)


class UserFactory:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def register(self, **fields: Any) -> httpx.Response:
        n = next(_sequence)
        body = {"username": f"user{n}", "email": f"user{n}@example.com", "password": PASSWORD, **fields}
        return await self.client.post("/auth/register", json=body)

    async def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        return await self.client.post("/auth/login", data={"username": username, "password": password})

    async def create(self, **fields: Any) -> SignedInUser:
        """A registered, signed-in user."""
        registered = await self.register(**fields)
        assert registered.status_code == 201, registered.text
        user = registered.json()
        password = fields.get("password", PASSWORD)
        token = (await self.login(user["username"], password)).json()["access_token"]
        return SignedInUser(
            id=user["id"],
            username=user["username"],
            email=user["email"],
            password=password,
            token=token,
            headers={"Authorization": f"Bearer {token}"},
        )


async def create_task(client: httpx.AsyncClient, user: SignedInUser, **fields: Any) -> dict[str, Any]:
    body = {"title": "A task", **fields}
    response = await client.post("/tasks", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task
