"""An environment's gates (approvals, approvers, freeze windows, its place in the order) are an admin's to
change; maintainers keep the rest, and learn nothing about who exists from a refusal."""

from __future__ import annotations

from typing import Any

import pytest

from tests.found import found
from tests.releases.helpers import environment

URL = "/api/v1/repos/1001/environments"
WEEKEND = {"cron": "0 18 * * 5", "duration_minutes": 3600, "timezone": "Europe/London", "reason": "weekend"}


@pytest.fixture
def people(repo: Any, make_user: Any, make_key: Any, grant: Any) -> dict[str, Any]:
    maintainer = make_user("maintainer", username="mia")
    grant(maintainer)
    admin = make_user("admin", username="boss")
    make_user("viewer", username="vic")
    return {"maintainer": make_key(maintainer, "read", "releases:write"), "admin": make_key(admin, "admin")}


@pytest.fixture
def production(repo: Any, make_user: Any) -> Any:
    environment("staging", 0)
    return environment("production", 1, required_approvals=2, approver_role="admin",
                       approver_user_ids=[], freeze_windows=[WEEKEND])


def snapshot(env_id: int) -> tuple[Any, ...]:
    from webapp.extensions import db
    from webapp.releases.models import Environment

    db.session.expire_all()
    env = found(db.session.get(Environment, env_id))
    return (env.required_approvals, env.approver_role, list(env.approver_user_ids), list(env.freeze_windows),
            env.position, env.name)


@pytest.mark.parametrize("change", [
    {"required_approvals": 0},
    {"approver_role": None},
    {"approver_role": "maintainer"},
    {"approvers": ["mia"]},
    {"freeze_windows": []},
    {"position": 0},
])
def test_a_maintainer_cannot_change_gates(client: Any, people: Any, production: Any, db: Any,
                                          change: dict[str, Any]) -> None:
    from webapp.core.audit import AuditEvent

    before = snapshot(production.id)
    answer = client.patch(f"{URL}/{production.id}", json=change, headers=people["maintainer"])
    assert answer.status_code == 403
    assert answer.json["code"] == "admin_required" and list(answer.json["errors"]) == list(change)
    assert snapshot(production.id) == before
    assert db.session.query(AuditEvent).filter_by(action="environment.update").count() == 0


def test_a_maintainer_changes_the_rest_when_the_gates_stay(client: Any, people: Any, production: Any) -> None:
    same = {"name": "prod", "url": "https://prod.example", "auto_promote": True, "required_approvals": 2,
            "approver_role": "admin", "approvers": [], "freeze_windows": [WEEKEND], "position": 1}
    answer = client.patch(f"{URL}/{production.id}", json=same, headers=people["maintainer"])
    assert answer.status_code == 200, answer.json
    assert answer.json["name"] == "prod" and answer.json["required_approvals"] == 2


def test_an_admin_changes_gates_and_it_is_audited(client: Any, people: Any, production: Any, db: Any) -> None:
    from webapp.core.audit import AuditEvent

    answer = client.patch(f"{URL}/{production.id}", json={"required_approvals": 1, "approvers": ["mia"],
                                                         "freeze_windows": []}, headers=people["admin"])
    assert answer.status_code == 200, answer.json
    assert answer.json["approvers"] == ["mia"] and answer.json["freeze_windows"] == []
    event = db.session.query(AuditEvent).filter_by(action="environment.update").one()
    assert event.actor == "boss"
    assert event.details["gates"] == ["required_approvals", "approvers", "freeze_windows"]


def test_approver_names_tell_a_maintainer_nothing(client: Any, people: Any, production: Any) -> None:
    """An unknown name, a viewer and an admin get the same refusal: no way to list who exists."""
    answers = [client.patch(f"{URL}/{production.id}", json={"approvers": [name]}, headers=people["maintainer"])
               for name in ("ghost", "vic", "boss")]
    assert {a.status_code for a in answers} == {403}
    assert answers[0].json == answers[1].json == answers[2].json
    created = [client.post(URL, json={"name": f"qa{i}", "approvers": [name]}, headers=people["maintainer"])
               for i, name in enumerate(("ghost", "boss"))]
    assert {a.status_code for a in created} == {403} and created[0].json == created[1].json


def test_a_maintainer_adds_environments_without_gates_at_the_end(client: Any, people: Any, production: Any) -> None:
    plain = client.post(URL, json={"name": "canary", "required_approvals": 0, "approvers": [],
                                   "freeze_windows": []}, headers=people["maintainer"])
    assert plain.status_code == 201 and plain.json["position"] == 2
    for body in ({"name": "gated", "required_approvals": 1}, {"name": "frozen", "freeze_windows": [WEEKEND]},
                 {"name": "first", "position": 0}):
        assert client.post(URL, json=body, headers=people["maintainer"]).status_code == 403, body
    assert client.post(URL, json={"name": "gated", "required_approvals": 1},
                       headers=people["admin"]).status_code == 201


def test_a_maintainer_cannot_delete_a_gate_or_a_step(client: Any, people: Any, production: Any) -> None:
    from webapp.releases.environments import environments_of

    staging = environments_of(1001)[0]
    assert client.delete(f"{URL}/{production.id}", headers=people["maintainer"]).status_code == 403
    assert client.delete(f"{URL}/{staging.id}", headers=people["maintainer"]).status_code == 403
    canary = client.post(URL, json={"name": "canary"}, headers=people["maintainer"]).json
    assert client.delete(f"{URL}/{canary['id']}", headers=people["maintainer"]).status_code == 204
    assert client.delete(f"{URL}/{production.id}", headers=people["admin"]).status_code == 204


def test_the_settings_page_refuses_a_maintainer_inline(browser: Any, login_as: Any, grant: Any, repo: Any,
                                                       production: Any) -> None:
    grant(login_as("maintainer"))
    before = snapshot(production.id)
    answer = browser.post(f"/repos/1001/environments/{production.id}", {
        "name": "production", "required_approvals": "0", "approver_role": "", "approvers": "",
        "freeze_windows": ""}, htmx=True)
    assert answer.status_code == 403
    assert "Only an admin can change an environment&#39;s gates" in answer.get_data(as_text=True)
    assert snapshot(production.id) == before
    kept = browser.post(f"/repos/1001/environments/{production.id}", {
        "name": "production", "required_approvals": "2", "approver_role": "admin", "approvers": "",
        "freeze_windows": "0 18 * * 5 | 3600 | Europe/London | weekend", "url": "https://prod.example"}, htmx=True)
    assert kept.status_code == 200
    assert snapshot(production.id)[:5] == before[:5]
