"""A viewer walks every page reachable from the navigation (with `flask seed-demo`'s data): no form,
button or HTMX action on any of them would be refused for their role, no link leads to a 403, and
the pages for maintainers and admins (users, audit, catalogue, forwarding, pool editor...) answer 403."""

from __future__ import annotations

import re
from collections import deque
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from werkzeug.exceptions import HTTPException

from tests.journeys.conftest import sign_in

pytestmark = pytest.mark.journey

MAX_PAGES = 60  # one page per kind of URL is a few dozen; the bound keeps a surprise from running long

# Every form and HTMX request on the page: method and target.
ACTIONS_JS = """() => {
  const found = [];
  for (const form of document.querySelectorAll('form')) {
    const method = (form.getAttribute('method') || 'get').toLowerCase();
    if (method !== 'get') {
      const button = form.querySelector('button, input[type=submit]');
      found.push([method, form.getAttribute('action') || location.pathname,
                  button ? (button.textContent || button.value).trim() : '']);
    }
  }
  for (const verb of ['post', 'put', 'patch', 'delete']) {
    for (const el of document.querySelectorAll('[hx-' + verb + ']')) {
      const label = (el.textContent || '').trim().slice(0, 40);
      found.push([verb, el.getAttribute('hx-' + verb) || location.pathname, label]);
    }
  }
  return found;
}"""


def _shape(path: str) -> str:
    """/runners/12 and /runners/13 are the same kind of page; so are two build uuids."""
    return re.sub(r"/(\d+|[0-9a-f]{8}-[0-9a-f-]{27})(?=/|$)", "/<id>", path)


def _required_role(app: Flask, method: str, path: str) -> str:
    """The role the app's own access rules demand for this request ("none" when nothing answers it)."""
    adapter = app.url_map.bind("127.0.0.1")
    try:
        endpoint, _ = adapter.match(urlsplit(path).path, method=method.upper())
    except HTTPException:
        return "none"
    access = getattr(app.view_functions[endpoint], "_gantry_access", None) or {}
    return access.get("role") or "viewer"


def test_a_viewer_sees_no_action_that_would_fail(journey: Any, app: Flask, demo: dict[str, str], fake_aws: Any) -> None:
    sign_in(journey, demo["viewer"])
    page = journey.page
    host = urlsplit(journey.base_url).netloc
    answers: dict[str, tuple[int, str]] = {}
    refused_links: list[str] = []
    failing_actions: list[str] = []

    def answer(path: str) -> tuple[int, str]:
        """Status and content type, asked with the viewer's session cookie (nothing shows in the page)."""
        if path not in answers:
            response = page.request.get(journey.base_url + path, max_redirects=0)
            answers[path] = (response.status, response.headers.get("content-type", ""))
        return answers[path]

    def status_of(path: str) -> int:
        return answer(path)[0]

    def same_host_paths(selector: str) -> list[str]:
        urls = page.eval_on_selector_all(selector, "links => links.map(a => a.href)")
        parts = [urlsplit(url) for url in urls]
        return [p.path + (f"?{p.query}" if p.query else "") for p in parts if p.netloc == host]

    journey.goto("/")
    start = same_host_paths("#sidenav a[href]")
    assert "/runners/" in start and "/releases" in start and "/projects" in start and "/builds" in start
    assert "/forwarding" not in start  # forwarding is for maintainers: no menu entry
    queue: deque[str] = deque(start)
    seen_shapes: set[str] = set()
    visited: list[str] = []
    while queue and len(visited) < MAX_PAGES:
        path = queue.popleft()
        shape = _shape(urlsplit(path).path)
        if shape in seen_shapes or shape.startswith(("/api/", "/static/", "/admin/rq")):
            continue
        seen_shapes.add(shape)
        status, content_type = answer(path)
        if status != 200 or not content_type.startswith("text/html"):
            continue
        journey.goto(path)
        visited.append(path)
        for method, target, label in page.evaluate(ACTIONS_JS):
            role = _required_role(app, method, target)
            if role != "viewer":  # a maintainer's or admin's action, or one nothing answers
                failing_actions.append(f"{path}: {label!r} ({method.upper()} {target} needs {role})")
        for link in same_host_paths("main a[href]"):
            if status_of(link) in (401, 403):
                refused_links.append(f"{path} -> {link}")
            queue.append(link)

    assert len(visited) < MAX_PAGES, "the crawl hit its bound"
    assert failing_actions == []
    assert refused_links == []
    visited_shapes = {_shape(urlsplit(p).path) for p in visited}
    for expected in ("/runners/", "/runners/pools/<id>", "/runners/<id>", "/releases", "/repos/<id>/releases",
                     "/releases/<id>", "/repos/<id>/environments", "/projects", "/projects/<id>",
                     "/sync/runs/<id>", "/builds", "/builds/<id>", "/builds/dashboard", "/webhook-deliveries"):
        assert expected in visited_shapes, f"{expected} not reached from the navigation: {sorted(visited_shapes)}"

    # every page meant for maintainers or admins refuses the viewer
    guarded = []
    for rule in app.url_map.iter_rules():
        access = getattr(app.view_functions[rule.endpoint], "_gantry_access", None) or {}
        if access.get("kind") == "page" and "GET" in (rule.methods or ()) and access.get("role") != "viewer":
            guarded.append(re.sub(r"<(?:int:)?\w+>", "1", rule.rule))
    assert {"/admin/users", "/admin/audit", "/admin/catalog", "/forwarding", "/runners/pools/new"} <= set(guarded)
    assert {path: status_of(path) for path in guarded} == {path: 403 for path in guarded}

    # the final screen: a release's pipeline as the viewer sees it, with nothing to press
    journey.goto(next(p for p in visited if _shape(p) == "/releases/<id>"))
    assert journey.page.locator("#pipeline .stage").count() >= 1
    assert journey.page.locator("main button").count() == 0
