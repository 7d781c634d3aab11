"""The overview page's figures: each capability contributes cards computed for the viewer.

    add_overview_cards(app, "Builds", builds_cards)   # fn(principal) -> list[Card]

Cards are computed on each request of the home page (and its 10-second live refresh), so a
contributor must answer from indexed queries or a cache.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

log = logging.getLogger(__name__)
EXTENSION_KEY = "gantry.overview"


@dataclass(frozen=True)
class Card:
    title: str
    value: str
    link: str | None = None
    detail: str = ""
    state: str = "neutral"  # "ok", "warn", "failed" or "neutral"


CardSource = Callable[[Any], list[Card]]


def add_overview_cards(app: Flask, section: str, source: CardSource, order: int = 50) -> None:
    app.extensions.setdefault(EXTENSION_KEY, []).append((order, section, source))


def overview_sections(principal: Any) -> list[tuple[str, list[Card]]]:
    """Each section's cards for this viewer; a failing source shows as one failed card."""
    sections = []
    for _, section, source in sorted(current_app.extensions.get(EXTENSION_KEY, []), key=lambda s: (s[0], s[1])):
        try:
            cards = source(principal)
        except Exception as exc:
            log.warning("overview source %s failed", section, exc_info=True)
            cards = [Card(section, "unavailable", detail=type(exc).__name__, state="failed")]
        if cards:
            sections.append((section, cards))
    return sections
