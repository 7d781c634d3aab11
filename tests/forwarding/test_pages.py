"""Forwarding pages: list and create, settings, rotation, pause, the delivery log, re-send."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.forwarding.conftest import Reply, webhook_event
from tests.found import found
from webapp.extensions import db
from webapp.forwarding.models import ForwardDelivery, ForwardTarget

pytestmark = pytest.mark.usefixtures("forwarding_settings")

REPO = 186853002


@pytest.fixture
def signed_in(browser, make_user, make_repo, grant):
    make_repo(REPO, "Codertocat/Hello-World")
    user = make_user("maintainer")
    grant(user, REPO)
    browser.login(user.username)
    return user


def test_anonymous_and_viewer_are_kept_out(client, browser, make_user):
    response = client.get("/forwarding")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    viewer = make_user("viewer")
    browser.login(viewer.username)
    assert browser.get("/forwarding").status_code == 403


def test_create_shows_secret_once_and_lists_target(browser, signed_in, receiver):
    page = browser.get("/forwarding")
    assert page.status_code == 200 and "Codertocat/Hello-World" in page.get_data(as_text=True)
    response = browser.post("/forwarding", data={
        "name": "prod deploy", "url": receiver.url(), "events": "push, release.published",
        "repository_ids": str(REPO), "branch_patterns": "main release/*", "github_signature": "on",
    }, htmx=True)
    assert response.status_code == 201, response.get_data(as_text=True)
    html = response.get_data(as_text=True)
    target = found(db.session.scalar(select(ForwardTarget)))
    assert target.secret in html and "prod deploy" in html
    assert target.events == ["push", "release.published"] and target.branch_patterns == ["main", "release/*"]
    assert target.github_signature is True and target.repository_ids == [REPO]
    assert "<html" not in html  # an HTMX fragment
    again = browser.get("/forwarding").get_data(as_text=True)
    assert target.secret not in again and "prod deploy" in again


def test_invalid_form_shows_inline_errors(browser, signed_in):
    response = browser.post("/forwarding", data={"name": "", "url": "ftp://nope", "events": "bad-event!"},
                            htmx=True)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "only https" in html and "is not an event name" in html and "choose at least one repository" in html
    assert db.session.scalar(select(ForwardTarget.id)) is None


def test_target_page_log_pause_rotate_and_resend(browser, signed_in, make_target, receiver, process, run_jobs):
    target = make_target(receiver.url(), repository_ids=(REPO,), name="staging")
    receiver.replies = [Reply(500, body=b"nope")]
    process(webhook_event("push"))
    run_jobs()
    page = browser.get(f"/forwarding/targets/{target.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "staging" in html and "answered 500" in html
    fragment = browser.get(f"/forwarding/targets/{target.id}?status=succeeded", htmx=True).get_data(as_text=True)
    assert "No deliveries with status succeeded" in fragment and "<html" not in fragment

    delivery_id = db.session.scalar(select(ForwardDelivery.id))
    detail = browser.get(f"/forwarding/deliveries/{delivery_id}").get_data(as_text=True)
    assert "Attempt 1" in detail and "nope" in detail and "webhook-signature" in detail
    resent = browser.post(f"/forwarding/deliveries/{delivery_id}/resend", htmx=True)
    assert resent.status_code == 200 and "Queued to be sent again" in resent.get_data(as_text=True)
    run_jobs()
    db.session.expire_all()
    assert found(db.session.get(ForwardDelivery, delivery_id)).status == "succeeded"

    rotated = browser.post(f"/forwarding/targets/{target.id}/rotate", htmx=True).get_data(as_text=True)
    db.session.expire_all()
    fresh = found(db.session.get(ForwardTarget, target.id))
    assert fresh.secret in rotated and fresh.previous_secret == target.secret

    paused = browser.post(f"/forwarding/targets/{target.id}/active", data={"active": "false"}, htmx=True)
    assert "Paused." in paused.get_data(as_text=True)
    db.session.expire_all()
    assert found(db.session.get(ForwardTarget, target.id)).active is False

    saved = browser.post(f"/forwarding/targets/{target.id}", data={
        "name": "staging-2", "url": receiver.url("/v2"), "repository_ids": str(REPO), "tag_patterns": "v*"}, htmx=True)
    assert saved.status_code == 200 and "Saved." in saved.get_data(as_text=True)
    db.session.expire_all()
    changed = found(db.session.get(ForwardTarget, target.id))
    assert changed.name == "staging-2" and changed.tag_patterns == ["v*"] and changed.url.endswith("/v2")

    bad_recover = browser.post(f"/forwarding/targets/{target.id}/recover", data={"since": "yesterday"}, htmx=True)
    assert bad_recover.status_code == 422

    deleted = browser.post(f"/forwarding/targets/{target.id}/delete")
    assert deleted.status_code == 302
    assert db.session.scalar(select(ForwardTarget.id)) is None


def test_other_repositories_targets_are_404(browser, signed_in, make_repo, make_target, receiver, process):
    make_repo(REPO + 1)
    hidden = make_target(receiver.url(), repository_ids=(REPO + 1,))
    assert browser.get(f"/forwarding/targets/{hidden.id}").status_code == 404
    assert browser.post(f"/forwarding/targets/{hidden.id}/rotate").status_code == 404
    process(webhook_event("push", payload={**webhook_event("push").payload, "repository": {"id": REPO + 1}}))
    delivery_id = db.session.scalar(select(ForwardDelivery.id))
    assert browser.get(f"/forwarding/deliveries/{delivery_id}").status_code == 404
    assert "deploy" not in browser.get("/forwarding").get_data(as_text=True).split("<tbody>")[1].split("</tbody>")[0]
