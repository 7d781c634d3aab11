"""The overview page's figures: each capability contributes cards computed for the viewer.

    add_overview_cards(app, "Builds", builds_cards)   # fn(principal) -> list[Card]
    add_setup_step(app, "Create a runner pool", pool_step)   # fn() -> SetupStep (admins' checklist)

Cards are computed on each request of the home page (and its 10-second live refresh), so a
contributor must answer from indexed queries or a cache. The page lists first the cards in a failed
or warning state ("what needs me now"), then each capability's figures with its 7-day trend.
"""

from __future__ import annotations

import logging
import threading
import time as clock
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, TypeVar

from flask import Flask, current_app
from sqlalchemy import func, select

from webapp.core.models import utcnow
from webapp.core.nav import Viewer
from webapp.extensions import db

log = logging.getLogger(__name__)
EXTENSION_KEY = "gantry.overview"
SETUP_KEY = "gantry.setup"
TREND_DAYS = 7
T = TypeVar("T")


@dataclass(frozen=True)
class Card:
    title: str
    value: str
    link: str | None = None
    detail: str = ""
    state: str = "neutral"  # "ok", "warn", "failed" or "neutral"
    trend: tuple[int, ...] = ()  # one figure per day, oldest first (TREND_DAYS of them)
    trend_label: str = ""  # what the trend counts, e.g. "failed builds per day"

    @property
    def needs_attention(self) -> bool:
        return self.state in ("failed", "warn") and self.value not in ("0", "n/a")


@dataclass(frozen=True)
class SetupStep:
    title: str
    done: bool
    link: str
    hint: str


CardSource = Callable[[Any], list[Card]]
StepSource = Callable[[], SetupStep]


def add_overview_cards(app: Flask, section: str, source: CardSource, order: int = 50) -> None:
    app.extensions.setdefault(EXTENSION_KEY, []).append((order, section, source))


def add_setup_step(app: Flask, source: StepSource, order: int = 50) -> None:
    app.extensions.setdefault(SETUP_KEY, []).append((order, source))


def overview_sections(principal: Viewer) -> list[tuple[str, list[Card]]]:
    """Each section's cards for this viewer; a failing source shows as one failed card."""
    sections = []
    for _, section, source in sorted(current_app.extensions.get(EXTENSION_KEY, []), key=lambda s: (s[0], s[1])):
        try:
            cards = source(principal)
        except Exception as exc:
            log.warning("overview source %s failed", section, exc_info=True)
            cards = [Card(section, "unavailable", detail=f"these figures could not be read ({type(exc).__name__})",
                          state="failed")]
        if cards:
            sections.append((section, cards))
    return sections


def setup_steps() -> list[SetupStep]:
    """The admins' first-run checklist, in order; a step that cannot be checked counts as not done."""
    steps = []
    for _, source in sorted(current_app.extensions.get(SETUP_KEY, []), key=lambda s: s[0]):
        try:
            steps.append(source())
        except Exception:
            log.warning("setup step %s could not be checked", getattr(source, "__name__", source), exc_info=True)
    return steps


def day_counts(column: Any, now: datetime | None = None, days: int = TREND_DAYS) -> tuple[list[Any], datetime]:
    """One count per UTC day (oldest first) over `column`, and the first day's start for the WHERE clause.

    Counts with FILTER read one index range once, on PostgreSQL and SQLite alike.
    """
    moment = now or utcnow()
    today = datetime.combine(moment.date(), time.min, tzinfo=moment.tzinfo)
    starts = [today - timedelta(days=days - 1 - i) for i in range(days)]
    counts = [func.count().filter(column >= start, column < start + timedelta(days=1)) for start in starts]
    return counts, starts[0]


_remembered: dict[Any, tuple[float, Any]] = {}
_remembered_lock = threading.Lock()
REMEMBER_LIMIT = 2048


def remember(key: Any, seconds: float, compute: Callable[[], T]) -> T:
    """compute() once per `seconds` for this key in this process (a trend moves slower than the page refreshes)."""
    now = clock.monotonic()
    with _remembered_lock:
        hit = _remembered.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    value = compute()
    with _remembered_lock:
        if len(_remembered) >= REMEMBER_LIMIT:
            _remembered.clear()
        _remembered[key] = (now + seconds, value)
    return value


def forget_remembered() -> None:
    with _remembered_lock:
        _remembered.clear()



def daily_trend(name: str, principal: Viewer, column: Any, restrict: Callable[[Any], Any],
                seconds: float = 60) -> tuple[int, ...]:
    """A 7-day trend for this viewer: failures or events per UTC day over `column`, oldest first.

    `restrict(select)` adds the capability's conditions and the viewer's visibility. Remembered for a
    minute per viewer and day, so the page's 10-second refresh does not count it again.
    """
    counts, since = day_counts(column)
    person = getattr(principal, "user", principal)  # a Principal or, from some callers, the User itself
    key = (name, getattr(person, "id", None), getattr(person, "role", None), since)

    def compute() -> tuple[int, ...]:
        row = db.session.execute(restrict(select(*counts).where(column >= since))).one()
        return tuple(int(n or 0) for n in row)

    return remember(key, seconds, compute)
