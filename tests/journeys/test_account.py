"""Journeys every user takes first: signing in, making an API key (shown once), keyboard use, a11y."""

from __future__ import annotations

from typing import Any

from tests.conftest import PASSWORD


def test_sign_in_and_create_an_api_key_shown_only_once(journey: Any, make_user: Any) -> None:
    user = make_user("maintainer")
    journey.sign_in(user.username, PASSWORD)
    page = journey.page
    assert page.get_by_role("heading", name="Overview").is_visible()

    journey.goto("/account/api-keys")
    page.get_by_label("Name").fill("concourse")
    page.get_by_label("builds:write").check()
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("gty_")
    assert page.locator("#keys-panel").get_by_text("concourse").is_visible()

    page.reload()
    assert page.locator("#new-key").count() == 0
    assert key not in page.content()
    assert key[:12] in page.content()  # the visible prefix stays


def test_wrong_password_says_so_without_saying_which(journey: Any, make_user: Any) -> None:
    user = make_user("viewer")
    journey.goto("/login")
    page = journey.page
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill("not-the-password")
    with page.expect_response(lambda r: r.url.endswith("/login")):
        page.get_by_role("button", name="Sign in", exact=True).click()
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    # the 401 of the failed sign-in is the answer itself, not an error of the page
    journey.problems = [p for p in journey.problems if "401" not in p]


def test_the_sign_in_and_key_forms_work_by_keyboard_alone(journey: Any, make_user: Any) -> None:
    user = make_user("viewer")
    journey.goto("/login")
    page = journey.page
    page.keyboard.press("Tab")  # skip link
    page.keyboard.press("Tab")  # brand link
    page.keyboard.press("Tab")  # header "Sign in"
    page.get_by_label("Username").focus()
    page.keyboard.type(user.username)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/login" not in url)

    journey.goto("/account/api-keys")
    page.get_by_label("Name").focus()
    page.keyboard.type("keyboard-only")
    page.keyboard.press("Enter")
    page.locator("#new-key").wait_for()
    assert page.locator("#new-key").inner_text().startswith("gty_")


def test_pages_pass_the_accessibility_audit(audit_page: Any, make_user: Any) -> None:
    admin = make_user("admin")
    audit_page.goto("/login")
    violations = {"/login": audit_page.accessibility_violations()}
    audit_page.sign_in(admin.username, PASSWORD)
    for path in ("/", "/account/api-keys", "/admin/users", "/admin/audit", "/status"):
        audit_page.goto(path)
        found = audit_page.accessibility_violations()
        if found:
            violations[path] = found
    violations = {k: v for k, v in violations.items() if v}
    assert violations == {}
