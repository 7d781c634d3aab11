"""Controls at the sizes people use them: the builds filters fold away on a phone so the builds come
first, and the catalogue's buttons stand as tall as the inputs beside them."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.journey

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 900}


def test_builds_filters_fold_away_on_a_phone(journey: Any, demo: dict[str, str]) -> None:
    page = journey.page
    page.set_viewport_size(PHONE)
    journey.sign_in(demo["maintainer"], PASSWORD)
    journey.goto("/builds")
    platform = page.locator("#f-platform")  # a select's name includes its chosen option: found by id
    first_build = page.locator("#build-results tbody tr").first
    assert page.get_by_label("Search").is_visible() and platform.count() == 1 and not platform.is_visible()
    box = first_build.bounding_box()
    assert box is not None and box["y"] + box["height"] <= PHONE["height"], box  # on the first screen

    page.locator("label[for=filters-more]").click()
    assert platform.is_visible() and page.locator("#f-until").is_visible()
    assert page.url.removeprefix(journey.base_url) == "/builds"  # opening the filters is not a search
    platform.select_option("aws-commercial")
    page.wait_for_url("**/builds?platform=aws-commercial")
    toggle = page.locator("label[for=filters-more]")
    expect(toggle).to_have_text("Filters (1)")  # counted as the results change, without a page load
    page.locator("#f-result").select_option("succeeded")
    page.wait_for_url("**/builds?platform=aws-commercial&result=succeeded")
    expect(toggle).to_have_text("Filters (2)")
    assert toggle.count() == 1 and page.locator("#f-platform").is_visible()  # the fold stays open
    page.locator("#f-platform").select_option("")
    expect(toggle).to_have_text("Filters (1)")
    journey.goto("/builds?platform=aws-commercial&result=succeeded")
    assert page.locator("label[for=filters-more]").inner_text().strip() == "Filters (2)"

    page.set_viewport_size(LAPTOP)  # room enough: every filter shows and there is nothing to fold
    assert platform.is_visible() and not page.locator("label[for=filters-more]").is_visible()


@pytest.mark.parametrize("width", [1366, 1024])
def test_catalogue_buttons_are_as_tall_as_their_inputs(width: int, journey: Any, demo: dict[str, str]) -> None:
    page = journey.page
    page.set_viewport_size({"width": width, "height": 900})
    journey.sign_in(demo["admin"], PASSWORD)
    journey.goto("/admin/catalog")
    forms = page.locator("#catalog-panel form:has(button[type=submit]):has(input:not([type=hidden]))")
    assert forms.count() >= 5  # platforms, OS versions, image types, state codes, GitHub mappings
    for form in forms.all():
        button = form.locator("button[type=submit]").last.bounding_box()
        field = form.locator("input:not([type=hidden]):not([type=checkbox]), select").last.bounding_box()
        assert button and field
        name = form.locator("button[type=submit]").last.inner_text()
        assert abs(button["height"] - field["height"]) <= 1, (name, button, field)
        if abs(button["y"] - field["y"]) < field["height"]:  # side by side: one baseline
            assert abs((button["y"] + button["height"]) - (field["y"] + field["height"])) <= 1, (name, button, field)
