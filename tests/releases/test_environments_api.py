"""The environments API: create in order, change settings, refuse bad input, keep history; build links."""

from __future__ import annotations

from typing import Any

import pytest

from tests.releases.helpers import environment, published_release

URL = "/api/v1/repos/1001/environments"


@pytest.fixture
def key(repo: Any, make_user: Any, make_key: Any, grant: Any) -> dict[str, str]:
    user = make_user("maintainer")
    grant(user)
    make_user("admin", username="boss")
    return make_key(user, "read", "releases:write")


@pytest.fixture
def admin_key(key: dict[str, str], make_key: Any) -> dict[str, str]:
    """An admin's: gates (approvals, approvers, freeze windows, order) are theirs to set."""
    from webapp.auth import service

    return make_key(service.find_user("boss"), "admin")


def test_create_in_order_and_change_settings(client: Any, admin_key: dict[str, str], db: Any) -> None:
    key = admin_key
    from webapp.core.audit import AuditEvent

    dev = client.post(URL, json={"name": "dev"}, headers=key)
    prod = client.post(URL, json={"name": "production", "required_approvals": 2, "approver_role": "admin",
                                  "approvers": ["boss"], "auto_promote": False, "freeze_windows": [
                                      {"cron": "0 18 * * 5", "duration_minutes": 3600,
                                       "timezone": "Europe/London", "reason": "weekend"}]}, headers=key)
    assert dev.status_code == 201 and prod.status_code == 201, prod.json
    assert (dev.json["position"], prod.json["position"]) == (0, 1)
    assert prod.json["approvers"] == ["boss"] and prod.json["freeze_windows"][0]["timezone"] == "Europe/London"
    staging = client.post(URL, json={"name": "staging", "position": 1}, headers=key).json
    client.patch(f"{URL}/{prod.json['id']}", json={"position": 2}, headers=key)
    assert [e["name"] for e in client.get(URL, headers=key).json] == ["dev", "staging", "production"]
    changed = client.patch(f"{URL}/{staging['id']}", json={"required_approvals": 1, "approvers": []}, headers=key)
    assert changed.status_code == 200 and changed.json["required_approvals"] == 1
    assert db.session.query(AuditEvent).filter_by(action="environment.update").count() == 2


@pytest.mark.parametrize(("body", "field"), [
    ({"name": ""}, "name"),
    ({"name": "qa", "required_approvals": 99}, "required_approvals"),
    ({"name": "qa", "approver_role": "god"}, "approver_role"),
])
def test_bad_settings_are_422_by_field(client: Any, key: dict[str, str], body: dict[str, Any], field: str) -> None:
    answer = client.post(URL, json=body, headers=key)
    assert answer.status_code == 422 and field in answer.json["errors"]["json"]


def test_bad_freeze_windows_and_approvers_are_422(client: Any, admin_key: dict[str, str]) -> None:
    key = admin_key
    window = client.post(URL, json={"name": "qa", "freeze_windows": [
        {"cron": "0 18 * * 5", "duration_minutes": 60, "timezone": "Atlantis/Capital"}]}, headers=key)
    assert window.status_code == 422 and "freeze_windows.0.timezone" in window.json["errors"]
    ghost = client.post(URL, json={"name": "qa", "approvers": ["ghost"]}, headers=key)
    assert ghost.status_code == 422 and ghost.json["errors"] == {"approvers": ["no user named ghost"]}
    assert client.post(URL, json={"name": "qa"}, headers=key).status_code == 201
    assert client.post(URL, json={"name": "qa"}, headers=key).status_code == 409


def test_delete_only_without_history(client: Any, key: dict[str, str], commit: Any, make_user: Any,
                                     db: Any) -> None:
    from webapp.releases.models import Deployment

    empty = client.post(URL, json={"name": "scratch"}, headers=key).json
    assert client.delete(f"{URL}/{empty['id']}", headers=key).status_code == 204
    used = environment("dev", 0)
    release = published_release("1.0.0", commit("feat: x")[-1], make_user("maintainer"))
    db.session.add(Deployment(repository_id=1001, release_id=release.id, environment_id=used.id, status="succeeded"))
    db.session.commit()
    refused = client.delete(f"{URL}/{used.id}", headers=key)
    assert refused.status_code == 409 and "history is kept" in refused.json["message"]


def test_builds_are_linked_by_uuid(client: Any, key: dict[str, str], commit: Any, make_user: Any) -> None:
    release = published_release("1.0.0", commit("feat: x")[-1], make_user("maintainer"))
    bad = client.put(f"/api/v1/releases/{release.id}/builds", json={"build_uuids": ["not-a-uuid"]}, headers=key)
    assert bad.status_code == 422 and "build_uuids" in bad.json["errors"]
    uid = "7d3f1a52-1111-4a4a-9b9b-0123456789ab"
    linked = client.put(f"/api/v1/releases/{release.id}/builds", json={"build_uuids": [uid, uid]}, headers=key)
    assert linked.status_code == 200 and linked.json["build_uuids"] == [uid]
