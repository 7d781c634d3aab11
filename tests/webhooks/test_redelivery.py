"""Asking GitHub to redeliver what it failed to deliver, against the fake's App delivery log."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from sandbox.github.deliveries import add_log_entry
from tasks.webhooks import redeliver_failed_deliveries
from tests.found import found
from tests.webhooks.helpers import post_webhook
from webapp.webhooks.models import RedeliveryRequest


def guid() -> str:
    return str(uuid.uuid4())


def asked(fake_github) -> list[int]:
    return [int(r.path.split("/")[-2]) for r in fake_github.calls("POST", r"^/app/hook/deliveries/\d+/attempts$")]


def request_row(db, value: str) -> RedeliveryRequest:
    db.session.expire_all()
    return found(db.session.get(RedeliveryRequest, value), f"redelivery request {value}")


def test_failed_deliveries_never_stored_are_asked_for_once(app, db, client, fake_github):
    state = fake_github.state
    lost = guid()
    lost_first = add_log_entry(state, guid=lost, status_code=503, event="workflow_job", action="queued")
    lost_again = add_log_entry(state, guid=lost, status_code=0, event="workflow_job", action="queued",
                               redelivery=True)
    recovered = guid()
    add_log_entry(state, guid=recovered, status_code=502)
    add_log_entry(state, guid=recovered, status_code=202, redelivery=True)
    stored = guid()  # GitHub timed out, but Gantry had stored it
    add_log_entry(state, guid=stored, status_code=0)
    assert post_webhook(client, "push", {"ref": "refs/heads/main"}, DEFAULT_WEBHOOK_SECRET, stored).status_code == 202
    add_log_entry(state, guid=guid(), status_code=202)

    stats = redeliver_failed_deliveries()

    assert asked(fake_github) == [lost_again["id"]]  # the newest attempt of the one lost delivery
    assert stats == {"read": 6, "failed": 1, "requested": 1, "errors": 0, "gave_up": 0}
    row = request_row(db, lost)
    assert (row.status, row.attempts, row.log_id, row.event, row.action) == (
        "requested", 1, lost_again["id"], "workflow_job", "queued")
    assert lost_first["id"] < lost_again["id"]
    assert fake_github.calls("GET", r"^/app/hook/deliveries$")[0].auth == "app"

    # Nothing new in the log: nothing read past the checkpoint, nothing asked again.
    stats = redeliver_failed_deliveries()
    assert stats["read"] == 0 and len(asked(fake_github)) == 1


def test_a_redelivery_that_fails_again_is_asked_for_up_to_the_limit(app, db, fake_github, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_REDELIVERY_MAX_ATTEMPTS", 2)
    lost = guid()
    add_log_entry(fake_github.state, guid=lost, status_code=500)
    redeliver_failed_deliveries()
    second = add_log_entry(fake_github.state, guid=lost, status_code=500, redelivery=True)

    redeliver_failed_deliveries()

    assert asked(fake_github)[-1] == second["id"] and len(asked(fake_github)) == 2
    assert request_row(db, lost).attempts == 2
    add_log_entry(fake_github.state, guid=lost, status_code=500, redelivery=True)

    stats = redeliver_failed_deliveries()

    assert len(asked(fake_github)) == 2 and stats["gave_up"] == 1
    assert request_row(db, lost).status == "gave_up"


def test_refused_request_is_remembered_and_asked_again_next_run(app, db, fake_github):
    lost = guid()
    entry = add_log_entry(fake_github.state, guid=lost, status_code=503)
    fake_github.fail("POST", r"/attempts$", 422, times=1)

    stats = redeliver_failed_deliveries()

    assert stats["errors"] == 1
    row = request_row(db, lost)
    assert (row.status, row.attempts) == ("error", 1) and row.last_error

    stats = redeliver_failed_deliveries()  # the log has nothing new; the remembered request is asked again

    assert stats["requested"] == 1
    assert asked(fake_github) == [entry["id"], entry["id"]]
    assert request_row(db, lost).status == "requested"


def test_arrival_marks_the_request_delivered(app, db, client, fake_github):
    lost = guid()
    add_log_entry(fake_github.state, guid=lost, status_code=503)
    redeliver_failed_deliveries()
    assert post_webhook(client, "push", {"ref": "x"}, DEFAULT_WEBHOOK_SECRET, lost).status_code == 202

    redeliver_failed_deliveries()

    assert request_row(db, lost).status == "delivered"
    assert len(asked(fake_github)) == 1


def test_log_is_read_page_by_page_back_to_the_checkpoint(app, db, fake_github):
    state = fake_github.state
    lost = [guid() for _ in range(3)]
    add_log_entry(state, guid=lost[0], status_code=500)  # oldest: on the third page
    for _ in range(230):
        add_log_entry(state, guid=guid(), status_code=200)
    add_log_entry(state, guid=lost[1], status_code=500)  # newest

    stats = redeliver_failed_deliveries()

    assert stats["read"] == 232 and stats["requested"] == 2
    pages = fake_github.calls("GET", r"^/app/hook/deliveries$")
    assert len(pages) == 3 and "cursor" not in pages[0].query and pages[1].query["cursor"]
    assert {int(p.query["per_page"]) for p in pages} == {100}

    add_log_entry(state, guid=lost[2], status_code=500)
    for _ in range(3):
        add_log_entry(state, guid=guid(), status_code=200)

    stats = redeliver_failed_deliveries()

    assert stats["read"] == 4 and stats["requested"] == 1  # only what came after the last run
    assert len(fake_github.calls("GET", r"^/app/hook/deliveries$")) == 4
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RedeliveryRequest)) == 3


def test_entries_older_than_three_days_are_not_asked_for(app, db, fake_github):
    add_log_entry(fake_github.state, guid=guid(), status_code=500, age=timedelta(hours=73))
    recent = add_log_entry(fake_github.state, guid=guid(), status_code=500, age=timedelta(hours=71))

    stats = redeliver_failed_deliveries()

    assert stats["read"] == 1 and asked(fake_github) == [recent["id"]]


def test_rate_limit_stops_asking_and_the_rest_waits(app, db, fake_github):
    first, second = guid(), guid()
    add_log_entry(fake_github.state, guid=first, status_code=500)
    add_log_entry(fake_github.state, guid=second, status_code=500)
    fake_github.fail("POST", r"/attempts$", 403, headers={"Retry-After": "120"}, times=1)

    stats = redeliver_failed_deliveries()

    assert stats["requested"] == 0 and stats["failed"] == 2
    assert {request_row(db, g).status for g in (first, second)} == {"pending"}

    stats = redeliver_failed_deliveries()

    assert stats["requested"] == 2
    assert {request_row(db, g).status for g in (first, second)} == {"requested"}


def test_without_an_app_nothing_is_read(app, db, fake_github, monkeypatch):
    monkeypatch.setitem(app.config, "GITHUB_APP_ID", None)
    monkeypatch.setitem(app.config, "GITHUB_APP_PRIVATE_KEY", None)
    add_log_entry(fake_github.state, guid=guid(), status_code=500)

    assert redeliver_failed_deliveries() == {"skipped": 1}
    assert fake_github.calls("*", r"^/app/hook/deliveries") == []


def test_admins_see_the_redeliveries_asked_for_on_the_log_page(app, db, fake_github, browser, login_as, client):
    lost = guid()
    add_log_entry(fake_github.state, guid=lost, status_code=503, event="workflow_job")
    redeliver_failed_deliveries()

    login_as("admin")
    page = browser.get("/webhook-deliveries").get_data(as_text=True)

    assert "Redeliveries asked of GitHub" in page and lost in page and "badge badge-waiting" in page


def test_viewers_do_not_see_redeliveries(app, db, fake_github, browser, login_as):
    lost = guid()
    add_log_entry(fake_github.state, guid=lost, status_code=503)
    redeliver_failed_deliveries()

    login_as("viewer")
    page = browser.get("/webhook-deliveries").get_data(as_text=True)

    assert "Redeliveries asked of GitHub" not in page and lost not in page
