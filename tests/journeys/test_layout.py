"""Every page in the menu, as admin, maintainer and viewer, on a laptop (1366x900), a small laptop
(1024x768) and a phone (390x844), with `flask seed-demo`'s data: no 5xx, nothing wider than the window,
every menu link and the account menu reachable, no raw Python value (`None`, `True`, `False`, `{}`) in
the text, no axe-core violation. A screenshot of each page at each width is kept under
tests/artifacts/layout/ (docs/screenshots/ holds four of the 1366 px ones for the README)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.journeys.browser import Journey

pytestmark = pytest.mark.journey

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts" / "layout"
WIDTHS = {"laptop": (1366, 900), "small-laptop": (1024, 768), "phone": (390, 844)}
# Third-party pages Gantry links to but does not draw: checked for an answer and a way back, not for layout.
NOT_OURS = ("/admin/rq",)
RAW_VALUE = re.compile(r"\b(None|True|False)\b|\{\}")

# The page's readable text, without code, payloads and form fields (where JSON may rightly show).
VISIBLE_TEXT_JS = """() => {
  const main = document.querySelector('main') || document.body;
  const copy = main.cloneNode(true);
  copy.querySelectorAll('pre, code, textarea, script, template, [hidden]').forEach(n => n.remove());
  return copy.innerText;
}"""


def _detail_pages(db: Any) -> dict[str, str]:
    """One page of each kind the menu leads to: a build, a release, a pool, a runner, a project."""
    from webapp.builds.models import Build
    from webapp.releases.models import Release
    from webapp.runners.models import Runner, RunnerPool
    from webapp.sync.models import Project

    build = db.session.scalars(select(Build).order_by(Build.id.desc())).first()
    release = db.session.scalars(select(Release).order_by(Release.id.desc())).first()
    pool = db.session.scalars(select(RunnerPool).order_by(RunnerPool.id)).first()
    runner = db.session.scalars(select(Runner).order_by(Runner.id)).first()
    project = db.session.scalars(select(Project).order_by(Project.id)).first()
    assert build and release and pool and runner and project, "the demo data has one of each"
    pages = {"build": f"/builds/{build.uuid}", "release": f"/releases/{release.id}",
             "pool": f"/runners/pools/{pool.id}",
             "runner": f"/runners/{runner.id}", "project": f"/projects/{project.id}"}
    db.session.remove()
    return pages


def _slug(path: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "overview"


class Visit:
    """One role at one window size: signs in, then checks pages and keeps what went wrong."""

    def __init__(self, journey: Journey, role: str, size: str) -> None:
        self.journey = journey
        self.page = journey.page
        self.role = role
        self.size = size
        self.problems: list[str] = []

    def problem(self, path: str, text: str) -> None:
        self.problems.append(f"{self.role} @ {self.size} {path}: {text}")

    def menu_links(self) -> list[tuple[str, str]]:
        return [(a["label"], a["href"]) for a in self.page.eval_on_selector_all(
            "#sidenav a[href]", "links => links.map(a => ({label: a.innerText.trim(), href: a.getAttribute('href')}))")]

    def open_menu_if_collapsed(self) -> None:
        toggle = self.page.locator("[data-nav-toggle]")
        if toggle.is_visible():
            toggle.click()
            self.page.locator("#sidenav").wait_for(state="visible")
            self.page.wait_for_timeout(250)  # the drawer slides in

    def check_menu_reachable(self, path: str) -> None:
        """Every menu link and the account menu's Sign out can be seen inside the window."""
        self.open_menu_if_collapsed()
        width = self.page.viewport_size["width"]
        for link in self.page.locator("#sidenav a[href]").all():
            box = link.bounding_box()
            if not link.is_visible() or box is None or box["x"] < 0 or box["x"] + box["width"] > width:
                self.problem(path, f"menu link {link.inner_text().strip()!r} cannot be reached")
        self.page.keyboard.press("Escape")
        self.page.locator("header details.account summary").click()
        sign_out = self.page.get_by_role("button", name="Sign out")
        box = sign_out.bounding_box()
        if not sign_out.is_visible() or box is None or box["x"] < 0 or box["x"] + box["width"] > width:
            self.problem(path, "the account menu's Sign out cannot be reached")
        self.page.keyboard.press("Escape")

    def check_page(self, path: str) -> None:
        response = self.journey.goto(path)
        status = response.status if response else 0
        if status >= 500 or status == 0:
            self.problem(path, f"answered {status}")
            return
        self.page.wait_for_load_state("networkidle")
        shot = ARTIFACTS / self.role / self.size / f"{_slug(path)}.png"
        shot.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(shot), full_page=True)
        if path.startswith(NOT_OURS):
            if self.page.locator("a[href='/']").count() == 0:
                self.problem(path, "no way back to Gantry")
            return
        if status != 200:
            self.problem(path, f"answered {status}")
        overflow = self.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        if overflow > 0:
            self.problem(path, f"page is {overflow}px wider than the window")
        raw = sorted({m.group(0) for m in RAW_VALUE.finditer(self.page.evaluate(VISIBLE_TEXT_JS))})
        if raw:
            self.problem(path, f"raw values in the text: {raw}")
        for violation in self.journey.accessibility_violations():
            self.problem(path, f"axe: {violation}")


@pytest.fixture
def context_at(browser_engine: Any, server: str) -> Iterator[Any]:
    contexts: list[Any] = []

    def make(size: str, role: str) -> Journey:
        width, height = WIDTHS[size]
        context = browser_engine.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        return Journey(page, server, f"layout-{role}-{size}")

    yield make
    for context in contexts:
        context.close()


@pytest.mark.parametrize("size", list(WIDTHS))
@pytest.mark.parametrize("role", ["admin", "maintainer", "viewer"])
def test_every_menu_page_fits_and_reads_well(role: str, size: str, context_at: Any, demo: dict[str, str], db: Any,
                                             fake_aws: Any) -> None:
    details = _detail_pages(db)
    journey = context_at(size, role)
    visit = Visit(journey, role, size)
    journey.sign_in(demo[role], PASSWORD)
    journey.page.wait_for_load_state("networkidle")
    links = visit.menu_links()
    assert ("Admin" in (journey.page.locator("#sidenav").text_content() or "")) == (role == "admin"), links
    visit.check_menu_reachable("/")
    for path in [href for _, href in links] + list(details.values()):
        visit.check_page(path)
    problems = visit.problems + journey.problems
    assert problems == [], "\n".join(problems)
