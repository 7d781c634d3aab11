"""State badges: one colour per family, so the same outcome looks the same on every page."""

from __future__ import annotations

import pytest

from webapp.core.presentation import state_family


@pytest.mark.parametrize(("state", "family"), [
    ("finished", "ok"),  # a runner that ran its job and stopped, as it should
    ("completed", "ok"),
    ("failed", "failed"),
    ("queued", "waiting"),
    ("busy", "running"),
    ("something new", "neutral"),
])
def test_each_state_has_the_colour_of_its_family(state, family):
    assert state_family(state) == family
