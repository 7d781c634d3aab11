"""Freeze windows: a cron start, a duration and an IANA time zone.

The cron expression is read in the window's own zone on the wall clock ("0 18 * * 5" is Friday
18:00 in London whether London is on GMT or BST), and the duration runs on that wall clock too,
so "Friday 18:00 for 60 hours" always ends Monday 06:00 local, across a DST change. The
arithmetic is done on naive local times and only then placed in the zone, which keeps croniter
out of DST edge cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter  # type: ignore[import-untyped]

from webapp.core.errors import ValidationFailed

MAX_DURATION_MINUTES = 60 * 24 * 31


@dataclass(frozen=True)
class FreezeWindow:
    cron: str
    duration_minutes: int
    timezone: str
    reason: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def active_period(self, now: datetime) -> tuple[datetime, datetime] | None:
        """(start, end) in UTC of the window occurrence covering `now`, or None when not frozen."""
        local_now = now.astimezone(self.zone).replace(tzinfo=None)
        duration = timedelta(minutes=self.duration_minutes)
        # Occurrences that started up to `duration` ago may still be running: walk back through them.
        itr = croniter(self.cron, local_now + timedelta(seconds=1))
        for _ in range(1000):
            start = itr.get_prev(datetime)
            # Local times can shift by an hour across DST: keep a margin before giving up.
            if start + duration <= local_now - timedelta(hours=3):
                return None
            end = start + duration
            start_utc = start.replace(tzinfo=self.zone).astimezone(UTC)
            end_utc = end.replace(tzinfo=self.zone).astimezone(UTC)
            if start_utc <= now.astimezone(UTC) < end_utc:
                return start_utc, end_utc
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"cron": self.cron, "duration_minutes": self.duration_minutes, "timezone": self.timezone,
                "reason": self.reason}


def parse_window(raw: dict[str, Any], index: int = 0) -> FreezeWindow:
    """Validate one window from a form or the API."""
    errors: dict[str, list[str]] = {}
    cron = str(raw.get("cron") or "").strip()
    if not cron or not croniter.is_valid(cron) or len(cron.split()) != 5:
        errors["cron"] = ["a five-field cron expression, e.g. '0 18 * * 5'"]
    try:
        duration = int(raw.get("duration_minutes") or 0)
    except (TypeError, ValueError):
        duration = 0
    if not 1 <= duration <= MAX_DURATION_MINUTES:
        errors["duration_minutes"] = [f"whole minutes between 1 and {MAX_DURATION_MINUTES}"]
    zone = str(raw.get("timezone") or "UTC").strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = ["an IANA time zone, e.g. Europe/London"]
    if errors:
        raise ValidationFailed(f"Freeze window {index + 1} is not valid.",
                               errors={f"freeze_windows.{index}.{k}": v for k, v in errors.items()})
    return FreezeWindow(cron, duration, zone, str(raw.get("reason") or "").strip()[:200])


def windows_of(raw: list[Any]) -> list[FreezeWindow]:
    return [parse_window(w, i) for i, w in enumerate(raw or [])]


def active_freeze(raw_windows: list[Any], now: datetime) -> tuple[FreezeWindow, datetime] | None:
    """The window freezing deployments at `now` and when it ends (the latest end if several)."""
    found: tuple[FreezeWindow, datetime] | None = None
    for window in windows_of(raw_windows):
        period = window.active_period(now)
        if period is not None and (found is None or period[1] > found[1]):
            found = (window, period[1])
    return found
