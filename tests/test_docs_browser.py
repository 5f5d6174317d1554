"""/docs in a real browser: headless Chromium signs in through "Authorize" and runs `GET /tasks`.

The service runs as a real process (tests.live); Playwright drives Debian's Chromium. Every request
the browser makes is recorded: all of them must go to 127.0.0.1, which is what proves that /docs
works with no internet. On failure a screenshot is saved in tmp_path and named in the message.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx
import pytest

from tests.live import live_server

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} is not installed (Debian package `chromium`)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (a dev dependency)")

CHROMIUM_ARGS = [
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium keeps calling home, which a closed network answers with nothing.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 20_000  # a slow 2-core CI machine: wait on the page, generously, never sleep
USERNAME = "alice"
PASSWORD = "correct-horse-battery"
TASK_TITLE = "Buy oat milk"


@pytest.fixture
def live_url(tmp_path: Path) -> Iterator[str]:
    with live_server(tmp_path) as base_url:
        yield base_url


@contextmanager
def screenshot_on_failure(page: "Page", path: Path) -> Iterator[None]:
    try:
        yield
    except (AssertionError, sync_api.Error) as error:
        page.screenshot(path=path, full_page=True)
        raise AssertionError(f"screenshot of the page: {path}\n{error}") from error


def test_docs_authorize_and_try_it_out_in_chromium(live_url: str, tmp_path: Path) -> None:
    with httpx.Client(base_url=live_url, timeout=10, trust_env=False) as http:
        registered = http.post(
            "/auth/register",
            json={"username": USERNAME, "email": "alice@example.com", "password": PASSWORD},
        )
        assert registered.status_code == 201, registered.text
        token = http.post("/auth/login", data={"username": USERNAME, "password": PASSWORD}).json()
        created = http.post(
            "/tasks", json={"title": TASK_TITLE}, headers={"Authorization": f"Bearer {token['access_token']}"}
        )
        assert created.status_code == 201, created.text

    requested: list[str] = []
    expect = sync_api.expect
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context()
            context.set_default_timeout(TIMEOUT_MS)
            context.on("request", lambda request: requested.append(request.url))
            page = context.new_page()
            with screenshot_on_failure(page, tmp_path / "docs-failure.png"):
                page.goto(f"{live_url}/docs")

                # The operations render, under their operation ids.
                list_tasks = page.locator("#operations-tasks-list_tasks")
                expect(list_tasks).to_be_visible()
                expect(list_tasks).to_contain_text("/tasks")
                for operation in (
                    "auth-register_user",
                    "auth-login",
                    "tasks-create_task",
                    "tasks-update_task",
                ):
                    expect(page.locator(f"#operations-{operation}")).to_be_visible()

                # "Authorize" with the OAuth2 password flow signs in against /auth/login.
                page.locator(".auth-wrapper").get_by_role("button", name="Authorize").click()
                dialog = page.locator(".dialog-ux")
                dialog.get_by_label("username:").fill(USERNAME)
                dialog.get_by_label("password:").fill(PASSWORD)
                dialog.get_by_role("button", name="Apply given OAuth2 credentials").click()
                expect(dialog.get_by_role("heading", name="Authorized")).to_be_visible()
                expect(dialog.get_by_role("button", name="Remove authorization")).to_have_text("Logout")
                dialog.get_by_role("button", name="Close").click()
                expect(dialog).to_be_hidden()

                # "Try it out" on GET /tasks answers 200 with alice's task.
                list_tasks.locator(".opblock-summary-control").click()
                list_tasks.get_by_role("button", name="Try it out").click()
                list_tasks.get_by_role("button", name="Execute").click()
                live_response = list_tasks.locator(".live-responses-table tbody tr.response")
                expect(live_response.locator(".response-col_status")).to_have_text("200")
                expect(live_response.locator(".response-col_description")).to_contain_text(TASK_TITLE)
        finally:
            browser.close()

    assert any(urlsplit(url).path == "/tasks" for url in requested), requested
    offsite = [url for url in requested if urlsplit(url).hostname != "127.0.0.1"]
    assert not offsite, f"/docs made requests that left 127.0.0.1: {offsite}"
