"""Real-browser fixtures (a pytest plugin loaded by tests/conftest.py): Debian's Chromium, Playwright.

The app runs in a thread of the test process (so the GitHub fake, moto and the database cleanup are
shared with the test), the browser never leaves 127.0.0.1, and every journey fails on a console
error, a failed page request, or a request to any host other than the app's. Each journey saves a
screenshot of its final screen under tests/artifacts/journeys/.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "journeys"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic",
]



@pytest.fixture(scope="session")
def server(app: Flask) -> Iterator[str]:
    """Gantry on 127.0.0.1:<free port>, threaded, for the whole session."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, name="journey-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


@pytest.fixture(scope="session")
def browser_engine() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: `apt-get install chromium` (.ci/run does it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Journey:
    """One browser page with the checks every journey shares."""

    def __init__(self, page: Any, base_url: str, name: str) -> None:
        self.page = page
        self.base_url = base_url
        self.name = name
        self.problems: list[str] = []
        host = urlsplit(base_url).netloc
        page.on("console", self._console)
        page.on("pageerror", lambda err: self.problems.append(f"page error: {err}"))
        page.on("requestfailed", self._request_failed)

        def check_host(request: Any) -> None:
            netloc = urlsplit(request.url).netloc
            if request.url.startswith(("data:", "blob:", "about:")):
                return
            if netloc != host:
                self.problems.append(f"request to another host: {request.url}")

        page.on("request", check_host)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _request_failed(self, request: Any) -> None:
        # A request cut short because the page navigated away (net::ERR_ABORTED) is not a failure.
        if "ERR_ABORTED" not in str(request.failure):
            self.problems.append(f"request failed: {request.url} {request.failure}")

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base_url + path)

    def sign_in(self, username: str, password: str) -> None:
        self.goto("/login")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in", exact=True).click()
        self.page.wait_for_url(lambda url: "/login" not in url)

    def screenshot(self) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def accessibility_violations(self) -> list[str]:
        """axe-core's violations for missing labels and contrast (and other WCAG A/AA rules)."""
        self.page.add_script_tag(path=str(AXE))
        result = self.page.evaluate(
            "async () => (await axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}}))"
            ".violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))"
        )
        return list(result)


@contextmanager
def open_journey(browser_engine: Any, base_url: str, name: str, width: int = 1280,
                 height: int = 900) -> Iterator[Journey]:
    """A journey on a fresh browser context against `base_url`; its screenshot is kept, and it fails on
    any problem the page showed (console errors, failed requests, other hosts)."""
    context = browser_engine.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(10_000)
    journey = Journey(page, base_url, name)
    try:
        yield journey
        journey.screenshot()
    finally:
        context.close()
    assert journey.problems == [], "\n".join(journey.problems)


@pytest.fixture
def journey(browser_engine: Any, server: str, request: pytest.FixtureRequest) -> Iterator[Journey]:
    with open_journey(browser_engine, server, request.node.name) as opened:
        yield opened


@pytest.fixture
def audit_page(browser_engine: Any, server: str) -> Iterator[Any]:
    """A page whose context may inject axe-core (CSP bypassed for the audit script only)."""
    context = browser_engine.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield Journey(page, server, "accessibility")
    context.close()
