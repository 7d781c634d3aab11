"""/api/v1/forwarding: CRUD, secrets shown once, rotation, recovery, the delivery log, and who may do what."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from tests.forwarding.conftest import Reply, webhook_event
from tests.found import found
from webapp.core.audit import AuditEvent
from webapp.extensions import db
from webapp.forwarding.models import ForwardTarget

pytestmark = pytest.mark.usefixtures("forwarding_settings")

REPO = 186853002  # the repository of the push payloads


@pytest.fixture
def repo(make_repo):
    return make_repo(REPO, "Codertocat/Hello-World")


@pytest.fixture
def maintainer(make_user, grant, repo):
    user = make_user("maintainer")
    grant(user, REPO)
    return user


def body(receiver, **extra):
    return {"name": "staging deploy", "url": receiver.url(), "events": ["push", "release.published"],
            "repository_ids": [REPO], "branch_patterns": ["main"], **extra}


def test_create_returns_secret_once_and_stores_it_encrypted(client, maintainer, make_key, receiver):
    headers = make_key(maintainer, "read", "webhooks:write")
    response = client.post("/api/v1/forwarding/targets", json=body(receiver, github_signature=True), headers=headers)
    assert response.status_code == 201, response.json
    created = response.json
    assert created["secret"].startswith("whsec_")
    assert created["owner"] == maintainer.username and created["active"] is True
    assert created["repository_ids"] == [REPO] and created["events"] == ["push", "release.published"]
    shown = client.get(f"/api/v1/forwarding/targets/{created['id']}", headers=headers)
    assert shown.status_code == 200 and "secret" not in shown.json
    raw = found(db.session.execute(text("SELECT secret FROM forward_targets")).scalar())
    assert created["secret"] not in raw and raw.startswith("gAAAA")  # Fernet ciphertext at rest
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.target_type == "forward_target")) == (
        "forwarding.target.created"
    )
    listed = client.get("/api/v1/forwarding/targets", headers=headers)
    assert [t["id"] for t in listed.json["items"]] == [created["id"]]


def test_invalid_input_is_422_with_field_errors(client, maintainer, make_key, receiver):
    headers = make_key(maintainer, "read", "webhooks:write")
    response = client.post("/api/v1/forwarding/targets", headers=headers, json={
        "name": "x", "url": "http://10.0.0.1:9/", "events": ["Push Events!"], "repository_ids": [REPO + 1],
        "tag_patterns": ["refs/tags/v*"], "secret": "short",
    })
    assert response.status_code == 422
    errors = response.json["errors"]
    assert set(errors) >= {"url", "events", "repository_ids", "tag_patterns", "secret"}
    assert errors["url"] == ["refused: 10.0.0.1 is a private address"]
    assert db.session.scalar(select(ForwardTarget.id)) is None
    missing = client.post("/api/v1/forwarding/targets", headers=headers, json={"url": receiver.url()})
    assert missing.status_code == 422 and "name" in missing.json["errors"]["json"]


def test_url_to_private_address_is_refused_at_creation(app, client, maintainer, make_key, monkeypatch):
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_CIDRS", [])
    headers = make_key(maintainer, "read", "webhooks:write")
    response = client.post("/api/v1/forwarding/targets", headers=headers,
                           json={"name": "meta", "url": "http://169.254.169.254/latest", "repository_ids": [REPO]})
    assert response.status_code == 422
    assert "cloud metadata" in response.json["errors"]["url"][0]


def test_non_admin_must_choose_repositories(client, maintainer, make_key, receiver):
    headers = make_key(maintainer, "read", "webhooks:write")
    response = client.post("/api/v1/forwarding/targets", headers=headers,
                           json={"name": "all", "url": receiver.url()})
    assert response.status_code == 422 and "repository_ids" in response.json["errors"]


def test_admin_may_forward_every_repository(client, make_user, make_key, receiver):
    admin = make_user("admin")
    response = client.post("/api/v1/forwarding/targets", headers=make_key(admin, "admin"),
                           json={"name": "all", "url": receiver.url()})
    assert response.status_code == 201 and response.json["repository_ids"] == []


def test_patch_delete_and_reenable(client, maintainer, make_key, receiver):
    headers = make_key(maintainer, "read", "webhooks:write")
    target_id = client.post("/api/v1/forwarding/targets", json=body(receiver), headers=headers).json["id"]
    paused = client.patch(f"/api/v1/forwarding/targets/{target_id}", json={"active": False, "tag_patterns": ["v*"]},
                          headers=headers)
    assert paused.status_code == 200
    assert paused.json["active"] is False and "paused by" in paused.json["disabled_reason"]
    assert paused.json["tag_patterns"] == ["v*"]
    enabled = client.patch(f"/api/v1/forwarding/targets/{target_id}", json={"active": True}, headers=headers)
    assert enabled.json["active"] is True and enabled.json["disabled_reason"] is None
    bad = client.patch(f"/api/v1/forwarding/targets/{target_id}", json={"url": "ftp://x"}, headers=headers)
    assert bad.status_code == 422
    assert client.delete(f"/api/v1/forwarding/targets/{target_id}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/forwarding/targets/{target_id}", headers=headers).status_code == 404


def test_rotate_secret_keeps_old_one_for_a_day(client, maintainer, make_key, receiver):
    headers = make_key(maintainer, "read", "webhooks:write")
    created = client.post("/api/v1/forwarding/targets", json=body(receiver), headers=headers).json
    rotated = client.post(f"/api/v1/forwarding/targets/{created['id']}/rotate-secret", json={}, headers=headers)
    assert rotated.status_code == 200
    assert rotated.json["secret"] != created["secret"] and rotated.json["secret"].startswith("whsec_")
    assert rotated.json["previous_secret_expires_at"] is not None
    target = found(db.session.get(ForwardTarget, created["id"]))
    assert target.secret == rotated.json["secret"] and target.previous_secret == created["secret"]


def test_delivery_log_recover_and_resend(client, maintainer, make_key, receiver, process, run_jobs, clock):
    headers = make_key(maintainer, "read", "webhooks:write")
    target_id = client.post("/api/v1/forwarding/targets", headers=headers, json={
        "name": "d", "url": receiver.url(), "repository_ids": [REPO]}).json["id"]
    receiver.default = Reply(410, body=b"gone")
    process(webhook_event("push"))
    run_jobs()
    log = client.get(f"/api/v1/forwarding/targets/{target_id}/deliveries", headers=headers)
    assert log.status_code == 200
    [item] = log.json["items"]
    assert item["status"] == "failed" and item["last_status_code"] == 410 and item["event"] == "push"
    detail = client.get(f"/api/v1/forwarding/deliveries/{item['id']}", headers=headers).json
    [attempt] = detail["attempts"]
    assert attempt["response_status"] == 410 and attempt["response_body"] == "gone"
    assert attempt["request_headers"]["webhook-id"] == item["message_id"]
    assert '"type":"github.push"' in attempt["request_body"]
    assert attempt["latency_ms"] >= 0 and attempt["number"] == 1

    # the target was disabled by the 410: recovery and re-send are refused until it is enabled
    since = (clock.now.replace(year=clock.now.year - 1)).isoformat()
    refused = client.post(f"/api/v1/forwarding/targets/{target_id}/recover", json={"since": since}, headers=headers)
    assert refused.status_code == 409
    assert client.post(f"/api/v1/forwarding/deliveries/{item['id']}/resend", headers=headers).status_code == 409
    client.patch(f"/api/v1/forwarding/targets/{target_id}", json={"active": True}, headers=headers)
    receiver.default = Reply(200)
    recovered = client.post(f"/api/v1/forwarding/targets/{target_id}/recover", json={"since": since},
                            headers=headers)
    assert recovered.status_code == 202 and recovered.json["recovered"] == 1
    run_jobs()
    assert client.get(f"/api/v1/forwarding/deliveries/{item['id']}", headers=headers).json["status"] == "succeeded"
    resent = client.post(f"/api/v1/forwarding/deliveries/{item['id']}/resend", headers=headers)
    assert resent.status_code == 202 and resent.json["status"] == "pending"
    run_jobs()
    detail = client.get(f"/api/v1/forwarding/deliveries/{item['id']}", headers=headers).json
    assert [a["response_status"] for a in detail["attempts"]] == [410, 200, 200]
    filtered = client.get(f"/api/v1/forwarding/targets/{target_id}/deliveries?status=failed", headers=headers)
    assert filtered.json["items"] == []
    bad = client.get(f"/api/v1/forwarding/targets/{target_id}/deliveries?status=lost", headers=headers)
    assert bad.status_code == 422
    future = client.post(f"/api/v1/forwarding/targets/{target_id}/recover",
                         json={"since": clock.now.replace(year=clock.now.year + 1).isoformat()}, headers=headers)
    assert future.status_code == 422


# --- access rules ---------------------------------------------------------------------------


@pytest.fixture
def target_id(make_target, receiver, repo):
    return make_target(receiver.url(), repository_ids=(REPO,)).id


@pytest.fixture
def delivery_id(target_id, process):
    process(webhook_event("push"))
    from webapp.forwarding.models import ForwardDelivery

    return db.session.scalar(select(ForwardDelivery.id))


ROUTES = [
    ("get", "/api/v1/forwarding/targets", None, "read"),
    ("post", "/api/v1/forwarding/targets", {"name": "x", "url": "http://127.0.0.1:1/", "repository_ids": [REPO]},
     "webhooks:write"),
    ("get", "/api/v1/forwarding/targets/{t}", None, "read"),
    ("patch", "/api/v1/forwarding/targets/{t}", {"name": "renamed"}, "webhooks:write"),
    ("delete", "/api/v1/forwarding/targets/{t}", None, "webhooks:write"),
    ("post", "/api/v1/forwarding/targets/{t}/rotate-secret", {}, "webhooks:write"),
    ("post", "/api/v1/forwarding/targets/{t}/recover", {"since": "2020-01-01T00:00:00+00:00"}, "webhooks:write"),
    ("get", "/api/v1/forwarding/targets/{t}/deliveries", None, "read"),
    ("get", "/api/v1/forwarding/deliveries/{d}", None, "read"),
    ("post", "/api/v1/forwarding/deliveries/{d}/resend", None, "webhooks:write"),
]


def _call(client, method, path, json, headers, target_id, delivery_id):
    url = path.format(t=target_id, d=delivery_id)
    return getattr(client, method)(url, json=json, headers=headers)


@pytest.mark.parametrize(("method", "path", "json", "scope"), ROUTES)
def test_access_rules(client, make_user, make_key, grant, target_id, delivery_id, method, path, json, scope):
    anonymous = _call(client, method, path, json, {}, target_id, delivery_id)
    assert anonymous.status_code == 401
    viewer = make_user("viewer")
    grant(viewer, REPO)
    assert _call(client, method, path, json, make_key(viewer, "read"), target_id, delivery_id).status_code == 403
    maintainer = make_user("maintainer")
    grant(maintainer, REPO)
    if scope == "webhooks:write":
        without = _call(client, method, path, json, make_key(maintainer, "read"), target_id, delivery_id)
        assert without.status_code == 403 and without.json["code"] == "scope_required"
    outsider = make_user("maintainer")  # no access to the target's repository
    answer = _call(client, method, path, json, make_key(outsider, "read", "webhooks:write"), target_id, delivery_id)
    if path == "/api/v1/forwarding/targets" and method == "get":
        assert answer.status_code == 200 and answer.json["items"] == []
    elif path == "/api/v1/forwarding/targets":
        assert answer.status_code == 422 and "repository_ids" in answer.json["errors"]
    else:
        assert answer.status_code == 404
    allowed = _call(client, method, path, json, make_key(maintainer, "read", "webhooks:write"), target_id,
                    delivery_id)
    assert allowed.status_code in (200, 201, 202, 204), allowed.json
    admin = make_user("admin")
    if method != "delete":
        assert _call(client, method, path, json, make_key(admin, "admin"), target_id, delivery_id).status_code in (
            200, 201, 202)


def test_target_spanning_a_hidden_repository_is_invisible(client, make_user, make_key, grant, make_repo,
                                                          make_target, receiver, repo):
    make_repo(REPO + 1)
    target = make_target(receiver.url(), repository_ids=(REPO, REPO + 1))
    partial = make_user("maintainer")
    grant(partial, REPO)
    headers = make_key(partial, "read", "webhooks:write")
    assert client.get(f"/api/v1/forwarding/targets/{target.id}", headers=headers).status_code == 404
    assert client.get("/api/v1/forwarding/targets", headers=headers).json["items"] == []
    global_target = make_target(receiver.url())  # every repository: admins only
    assert client.get(f"/api/v1/forwarding/targets/{global_target.id}", headers=headers).status_code == 404


def test_out_of_range_numbers_are_404_or_422_not_500(client, maintainer, make_key, receiver):
    headers = make_key(maintainer, "read", "webhooks:write")
    huge = 10**20
    assert client.get(f"/api/v1/forwarding/targets/{huge}", headers=headers).status_code == 404
    assert client.get(f"/api/v1/forwarding/deliveries/{huge}", headers=headers).status_code == 404
    assert client.post(f"/api/v1/forwarding/deliveries/{huge}/resend", headers=headers).status_code == 404
    response = client.post("/api/v1/forwarding/targets", json=body(receiver, repository_ids=[huge]), headers=headers)
    assert response.status_code == 422 and "repository_ids" in response.json["errors"]
    events = [f"event_{chr(97 + i % 26)}{'x' * (i // 26)}" for i in range(60)]
    too_many = client.post("/api/v1/forwarding/targets", headers=headers, json=body(receiver, events=events))
    assert too_many.status_code == 422 and "events" in too_many.json["errors"]
