"""The delivery log API and pages: filters, pagination, payloads, re-processing, and who sees what."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.webhooks.conftest import TEST_EVENT, grant, repo_payload
from webapp.core.audit import AuditEvent
from webapp.webhooks.models import WebhookDelivery


@pytest.fixture
def world(db, deliver, repositories, run_jobs, handlers):
    """Deliveries of acme/infrajet (2), acme/widgets (1) and one with no repository (app-level)."""
    handlers(TEST_EVENT, lambda e: "ok", name="tests.ok", actions={"queued"})
    rows = {
        "infrajet_queued": deliver(repo_payload(1001, "acme/infrajet", "queued")),
        "infrajet_done": deliver(repo_payload(1001, "acme/infrajet", "completed")),
        "widgets": deliver(repo_payload(1002, "acme/widgets", "queued")),
        "app_level": deliver({"action": "created", "installation": {"id": 101}}, event="gantry_app_level"),
    }
    run_jobs()
    return rows


def ids(response) -> list[int]:
    return [item["id"] for item in response.json["items"]]


def test_api_needs_credentials(client, world):
    assert client.get("/api/v1/webhooks/deliveries").status_code == 401
    assert client.get(f"/api/v1/webhooks/deliveries/{world['widgets'].id}").status_code == 401
    response = client.post(f"/api/v1/webhooks/deliveries/{world['widgets'].id}/reprocess")
    assert response.status_code == 401 and response.json["code"] == "unauthorized"


def test_admin_lists_everything_newest_first_with_filters(client, make_user, make_key, world):
    headers = make_key(make_user("admin"), "admin")

    everything = client.get("/api/v1/webhooks/deliveries", headers=headers)

    assert everything.status_code == 200, everything.json
    assert ids(everything) == [world[k].id for k in ("app_level", "widgets", "infrajet_done", "infrajet_queued")]
    item = everything.json["items"][1]
    assert item["repository_full_name"] == "acme/widgets" and item["status"] == "handled" and "payload" not in item

    def query(**params):
        response = client.get("/api/v1/webhooks/deliveries", headers=headers, query_string=params)
        assert response.status_code == 200, response.json
        return ids(response)

    assert query(action="queued") == [world["widgets"].id, world["infrajet_queued"].id]
    assert query(status="ignored") == [world["app_level"].id, world["infrajet_done"].id]
    assert query(repository="acme/infrajet") == [world["infrajet_done"].id, world["infrajet_queued"].id]
    assert query(repository="ACME/Widgets") == [world["widgets"].id]
    assert query(repository="1002") == [world["widgets"].id]
    assert query(event="gantry_app_level") == [world["app_level"].id]
    assert query(event=TEST_EVENT, action="queued", status="handled", repository="acme/infrajet") == [
        world["infrajet_queued"].id]


def test_cursor_pagination(client, make_user, make_key, world):
    headers = make_key(make_user("admin"), "admin")
    seen = []
    cursor = None
    for _ in range(10):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/webhooks/deliveries", headers=headers, query_string=params)
        assert page.status_code == 200
        seen += ids(page)
        cursor = page.json["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted((r.id for r in world.values()), reverse=True)


@pytest.mark.parametrize("params", [{"status": "lost"}, {"limit": 0}, {"limit": 101}, {"cursor": "%%%"}])
def test_bad_list_arguments_are_422(client, make_user, make_key, world, params):
    response = client.get("/api/v1/webhooks/deliveries", headers=make_key(make_user("admin"), "read"),
                          query_string=params)
    assert response.status_code == 422 and response.json["code"] == "validation_error"


def test_viewer_sees_only_deliveries_of_repositories_they_can_access(client, db, make_user, make_key, world):
    viewer = make_user("viewer")
    grant(db, viewer, 1001)
    headers = make_key(viewer, "read")

    listed = client.get("/api/v1/webhooks/deliveries", headers=headers)
    guessed_filter = client.get("/api/v1/webhooks/deliveries", headers=headers,
                                query_string={"repository": "acme/widgets"})

    assert ids(listed) == [world["infrajet_done"].id, world["infrajet_queued"].id]
    assert ids(guessed_filter) == []
    own = client.get(f"/api/v1/webhooks/deliveries/{world['infrajet_queued'].id}", headers=headers)
    assert own.status_code == 200
    assert own.json["payload"] == repo_payload(1001, "acme/infrajet", "queued")
    assert own.json["result"] == {"handlers": {"tests.ok": "ok"}}
    for other in ("widgets", "app_level"):
        response = client.get(f"/api/v1/webhooks/deliveries/{world[other].id}", headers=headers)
        assert response.status_code == 404 and response.json["code"] == "not_found"
    assert client.get("/api/v1/webhooks/deliveries/999999", headers=headers).status_code == 404
    huge = "9" * 25  # beyond BIGINT: still a plain 404, in the path and in the filter
    assert client.get(f"/api/v1/webhooks/deliveries/{huge}", headers=headers).status_code == 404
    filtered = client.get("/api/v1/webhooks/deliveries", headers=headers, query_string={"repository": huge})
    assert filtered.status_code == 200 and ids(filtered) == []


def test_reprocess_needs_maintainer_and_scope(client, db, make_user, make_key, world, run_jobs):
    target = world["infrajet_done"].id
    viewer, maintainer = make_user("viewer"), make_user("maintainer")
    maintainer_name = maintainer.username
    for user in (viewer, maintainer):
        grant(db, user, 1001)

    as_viewer = client.post(f"/api/v1/webhooks/deliveries/{target}/reprocess", headers=make_key(viewer, "read"))
    without_scope = client.post(f"/api/v1/webhooks/deliveries/{target}/reprocess",
                                headers=make_key(maintainer, "read"))
    other_repo = client.post(f"/api/v1/webhooks/deliveries/{world['widgets'].id}/reprocess",
                             headers=make_key(maintainer, "webhooks:write"))

    assert as_viewer.status_code == 403 and as_viewer.json["code"] == "role_required"
    assert without_scope.status_code == 403 and without_scope.json["code"] == "scope_required"
    assert other_repo.status_code == 404
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "webhook.reprocess")) == 0

    response = client.post(f"/api/v1/webhooks/deliveries/{target}/reprocess",
                           headers=make_key(maintainer, "webhooks:write"))

    assert response.status_code == 202, response.json
    assert response.json["status"] == "received" and response.json["attempts"] == 0
    run_jobs()
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, target).status == "ignored"
    event = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "webhook.reprocess"))
    assert (event.actor, event.target_id, event.details["previous_status"]) == (maintainer_name, str(target),
                                                                                "ignored")


# --- pages ---------------------------------------------------------------------------------


def test_pages_need_sign_in(client, world):
    response = client.get("/webhook-deliveries")
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    assert client.get(f"/webhook-deliveries/{world['widgets'].id}").status_code == 302


def test_log_page_filters_stay_in_the_url_and_htmx_gets_rows(browser, login_as, db, world):
    viewer = login_as("viewer")
    grant(db, viewer, 1001)

    page = browser.get("/webhook-deliveries?action=queued")
    fragment = browser.get("/webhook-deliveries?action=completed&repository=acme/infrajet", htmx=True)

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert '<form method="get"' in html and 'value="queued"' in html and 'hx-push-url="true"' in html
    assert f"/webhook-deliveries/{world['infrajet_queued'].id}" in html
    assert f"/webhook-deliveries/{world['infrajet_done'].id}" not in html
    assert f"/webhook-deliveries/{world['widgets'].id}" not in html  # another repository's
    rows = fragment.get_data(as_text=True)
    assert "<html" not in rows and f"/webhook-deliveries/{world['infrajet_done'].id}" in rows
    assert "HX-Request" in fragment.headers["Vary"]


def test_log_page_rejects_unknown_status_inline(browser, login_as, world):
    login_as("admin")
    response = browser.get("/webhook-deliveries?status=bogus")
    assert response.status_code == 422 and "Status must be one of" in response.get_data(as_text=True)


def test_detail_page_shows_payload_and_result_and_hides_reprocess_from_viewers(browser, login_as, db, world):
    viewer = login_as("viewer")
    grant(db, viewer, 1001)

    page = browser.get(f"/webhook-deliveries/{world['infrajet_queued'].id}")
    other = browser.get(f"/webhook-deliveries/{world['widgets'].id}")
    forbidden = browser.post(f"/webhook-deliveries/{world['infrajet_queued'].id}/reprocess")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "acme/infrajet" in html and "tests.ok" in html and '"action": "queued"' in html
    assert "Re-process" not in html
    assert other.status_code == 404
    assert forbidden.status_code == 403


def test_maintainer_reprocesses_from_the_page(browser, login_as, db, world, run_jobs):
    maintainer = login_as("maintainer")
    grant(db, maintainer, 1001)
    target = world["infrajet_queued"].id
    assert "Re-process" in browser.get(f"/webhook-deliveries/{target}").get_data(as_text=True)

    response = browser.post(f"/webhook-deliveries/{target}/reprocess", htmx=True)

    assert response.status_code == 202
    body = response.get_data(as_text=True)
    assert "Queued for processing again." in body and "<html" not in body
    assert re.search(r"badge badge-waiting", body)
    run_jobs()
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, target).status == "handled"


def test_reprocess_form_without_csrf_token_is_refused(client, login_as, world):
    login_as("admin")
    response = client.post(f"/webhook-deliveries/{world['widgets'].id}/reprocess")
    assert response.status_code == 400


def test_status_and_metrics_report_the_backlog(client, make_user, make_key, world, deliver):
    deliver()  # stored, not processed yet
    headers = make_key(make_user("admin"), "admin")

    status = client.get("/status.json", headers=headers).json
    metrics = client.get("/metrics", headers=headers).get_data(as_text=True)

    assert status["components"]["webhooks"]["ok"] is True
    assert status["components"]["webhooks"]["deliveries"]["received"] == 1
    assert 'gantry_webhook_deliveries{status="received"} 1.0' in metrics
    assert "gantry_webhook_oldest_pending_seconds" in metrics
    assert 'gantry_webhook_intake_total{outcome="stored"}' in metrics
