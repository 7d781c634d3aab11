"""Freeze windows: cron start + duration on the zone's wall clock, across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webapp.core.errors import ValidationFailed
from webapp.releases.freeze import FreezeWindow, active_freeze, parse_window


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC)


# London leaves summer time on Sunday 2026-10-25 (BST, UTC+1 -> GMT, UTC+0).
WEEKEND = FreezeWindow("0 18 * * 5", 60 * 60, "Europe/London")  # Friday 18:00 local for 60 h


@pytest.mark.parametrize(("moment", "frozen"), [
    ("2026-10-23T16:59:00", False),  # Friday 17:59 BST
    ("2026-10-23T17:00:00", True),   # Friday 18:00 BST
    ("2026-10-25T12:00:00", True),   # Sunday, after the change
    ("2026-10-26T05:59:00", True),   # Monday 05:59 GMT
    ("2026-10-26T06:00:00", False),  # Monday 06:00 GMT: over (61 real hours after it began)
])
def test_weekend_freeze_across_the_autumn_change(moment: str, frozen: bool) -> None:
    assert (WEEKEND.active_period(at(moment)) is not None) is frozen


def test_start_follows_the_wall_clock_in_spring() -> None:
    # Europe/Berlin enters summer time on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 UTC after.
    daily = FreezeWindow("0 9 * * *", 60, "Europe/Berlin")
    assert daily.active_period(at("2026-03-28T08:30:00")) is not None
    assert daily.active_period(at("2026-03-28T07:30:00")) is None
    assert daily.active_period(at("2026-03-30T07:30:00")) is not None
    assert daily.active_period(at("2026-03-30T08:30:00")) is None


def test_the_latest_ending_window_is_reported() -> None:
    windows = [WEEKEND.to_dict(), {"cron": "0 0 * * *", "duration_minutes": 24 * 60 * 4, "timezone": "UTC"}]
    found = active_freeze(windows, at("2026-10-24T12:00:00"))
    assert found is not None and found[1] == at("2026-10-28T00:00:00")


@pytest.mark.parametrize(("raw", "field"), [
    ({"cron": "every friday", "duration_minutes": 60, "timezone": "UTC"}, "cron"),
    ({"cron": "0 18 * * 5", "duration_minutes": 0, "timezone": "UTC"}, "duration_minutes"),
    ({"cron": "0 18 * * 5", "duration_minutes": 60, "timezone": "Mars/Olympus"}, "timezone"),
])
def test_bad_windows_are_refused_by_field(raw: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_window(raw, 1)
    assert list(info.value.errors) == [f"freeze_windows.1.{field}"]
