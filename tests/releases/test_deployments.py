"""Promotion order, approvals N of M, self-approval, expiry, freeze windows, schedules, rollback, GitHub mirror."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sandbox.github.releases import deployments_of, lose_response, statuses_of
from tests.found import found
from tests.releases.conftest import NAME, OWNER
from tests.releases.helpers import environment, published_release

API = "/api/v1/releases"


@pytest.fixture
def people(make_user: Any, make_key: Any, grant: Any) -> dict[str, Any]:
    """An author who cuts releases, two more maintainers, an admin; each with their own key."""
    found: dict[str, Any] = {}
    for name, role in (("author", "maintainer"), ("alice", "maintainer"), ("bob", "maintainer"),
                       ("root", "admin")):
        user = make_user(role, username=name)
        if role != "admin":
            grant(user)
        found[name] = user
        scopes = ("read", "releases:write", "admin") if role == "admin" else ("read", "releases:write")
        found[f"{name}_key"] = make_key(user, *scopes)
    return found


@pytest.fixture
def pipeline(repo: Any, commit: Any, people: Any) -> dict[str, Any]:
    sha = commit("feat: something")[-1]
    return {
        "dev": environment("dev", 0),
        "staging": environment("staging", 1, required_approvals=2),
        "production": environment("production", 2, required_approvals=1, approver_role="admin",
                                  approver_user_ids=[people["bob"].id]),
        "release": published_release("1.0.0", sha, people["author"]),
        "sha": sha,
    }


def promote(client: Any, key: dict[str, str], release_id: int, env_id: int, **extra: Any) -> Any:
    return client.post(f"{API}/{release_id}/deployments", json={"environment_id": env_id, **extra}, headers=key)


def approve(client: Any, key: dict[str, str], deployment_id: int, comment: str = "") -> Any:
    return client.post(f"{API}/deployments/{deployment_id}/approvals", json={"comment": comment}, headers=key)


def report(client: Any, key: dict[str, str], deployment_id: int, state: str) -> Any:
    return client.post(f"{API}/deployments/{deployment_id}/status", json={"state": state}, headers=key)


def succeed_in(client: Any, people: Any, release_id: int, env: Any) -> dict[str, Any]:
    deployment = promote(client, people["author_key"], release_id, env.id).json
    if deployment["status"] == "pending_approval":
        for name in ("alice", "bob", "root"):
            deployment = approve(client, people[f"{name}_key"], deployment["id"]).json
            if deployment["status"] != "pending_approval":
                break
    assert deployment["status"] == "queued", deployment
    assert report(client, people["author_key"], deployment["id"], "succeeded").status_code == 200
    return deployment


def test_promotion_only_after_success_in_the_environment_before(client: Any, pipeline: Any, people: Any) -> None:
    release = pipeline["release"]
    early = promote(client, people["author_key"], release.id, pipeline["staging"].id)
    assert early.status_code == 409 and early.json["code"] == "promotion_order"
    assert "must succeed in dev" in early.json["message"]
    dev = promote(client, people["author_key"], release.id, pipeline["dev"].id)
    assert dev.status_code == 201 and dev.json["status"] == "queued"  # no approvals needed in dev
    twice = promote(client, people["author_key"], release.id, pipeline["dev"].id)
    assert twice.status_code == 409 and twice.json["code"] == "already_deploying"
    assert report(client, people["author_key"], dev.json["id"], "in_progress").json["status"] == "in_progress"
    assert promote(client, people["author_key"], release.id, pipeline["staging"].id).status_code == 409
    report(client, people["author_key"], dev.json["id"], "failed")
    assert promote(client, people["author_key"], release.id, pipeline["staging"].id).status_code == 409
    succeed_in(client, people, release.id, pipeline["dev"])  # a redeploy that works
    staging = promote(client, people["author_key"], release.id, pipeline["staging"].id)
    assert staging.status_code == 201 and staging.json["status"] == "pending_approval"


def test_unpublished_release_cannot_be_deployed(client: Any, pipeline: Any, people: Any, db: Any) -> None:
    pipeline["release"].status = "draft"
    db.session.commit()
    refused = promote(client, people["author_key"], pipeline["release"].id, pipeline["dev"].id)
    assert refused.status_code == 409 and refused.json["code"] == "not_published"


def test_n_of_m_approvals_from_distinct_allowed_people(client: Any, pipeline: Any, people: Any) -> None:
    release = pipeline["release"]
    succeed_in(client, people, release.id, pipeline["dev"])
    deployment = promote(client, people["author_key"], release.id, pipeline["staging"].id).json
    one = approve(client, people["alice_key"], deployment["id"], "looks good")
    assert one.status_code == 201 and one.json["status"] == "pending_approval"
    assert one.json["waiting_reason"] == "1 of 2 approvals"
    assert one.json["approvals"][0]["username"] == "alice" and one.json["approvals"][0]["comment"] == "looks good"
    again = approve(client, people["alice_key"], deployment["id"])
    assert again.status_code == 409 and again.json["code"] == "already_approved"
    two = approve(client, people["bob_key"], deployment["id"])
    assert two.status_code == 201 and two.json["status"] == "queued"
    late = approve(client, people["root_key"], deployment["id"])
    assert late.status_code == 409


def test_approvers_are_limited_to_the_role_and_named_users(client: Any, pipeline: Any, people: Any) -> None:
    release = pipeline["release"]
    succeed_in(client, people, release.id, pipeline["dev"])
    succeed_in(client, people, release.id, pipeline["staging"])
    deployment = promote(client, people["author_key"], release.id, pipeline["production"].id).json
    refused = approve(client, people["alice_key"], deployment["id"])  # maintainer, not named
    assert refused.status_code == 403 and refused.json["code"] == "not_an_approver"
    named = approve(client, people["bob_key"], deployment["id"])  # maintainer, named
    assert named.status_code == 201 and named.json["status"] == "queued"


def test_the_release_author_cannot_approve(client: Any, pipeline: Any, people: Any) -> None:
    release = pipeline["release"]
    succeed_in(client, people, release.id, pipeline["dev"])
    deployment = promote(client, people["alice_key"], release.id, pipeline["staging"].id).json
    refused = approve(client, people["author_key"], deployment["id"])
    assert refused.status_code == 403 and refused.json["code"] == "self_approval"


def test_approvals_expire(client: Any, pipeline: Any, people: Any, clock: Any, app: Any, db: Any) -> None:
    from webapp.releases import deployments
    from webapp.releases.models import Deployment

    release = pipeline["release"]
    succeed_in(client, people, release.id, pipeline["dev"])
    deployment = promote(client, people["author_key"], release.id, pipeline["staging"].id).json
    first = approve(client, people["alice_key"], deployment["id"]).json
    expires = first["approvals"][0]["expires_at"]
    assert expires.startswith((clock.now + timedelta(hours=72)).strftime("%Y-%m-%dT%H:%M"))
    clock.now += timedelta(hours=72, minutes=1)
    second = approve(client, people["bob_key"], deployment["id"]).json
    assert second["status"] == "pending_approval" and second["waiting_reason"] == "1 of 2 approvals"
    # alice's expired approval no longer stops her approving again
    third = approve(client, people["alice_key"], deployment["id"]).json
    assert third["status"] == "queued"
    # an approved deployment held back (by a freeze) loses its approvals when they expire meanwhile
    held = pipeline["production"]
    held.freeze_windows = [{"cron": "0 0 * * *", "duration_minutes": 24 * 60, "timezone": "UTC"}]
    held.approver_role, held.approver_user_ids = None, []
    db.session.commit()
    report(client, people["author_key"], third["id"], "succeeded")
    prod = promote(client, people["author_key"], release.id, held.id).json
    prod = approve(client, people["alice_key"], prod["id"]).json
    assert prod["status"] == "approved" and prod["waiting_reason"].startswith("freeze window")
    clock.now += timedelta(hours=73)
    deployments.sweep()
    db.session.expire_all()
    assert db.session.get(Deployment, prod["id"]).status == "pending_approval"


def test_freeze_window_across_dst_holds_promotion_until_it_ends(client: Any, pipeline: Any, people: Any,
                                                                clock: Any, db: Any) -> None:
    from webapp.releases import deployments
    from webapp.releases.models import Deployment

    dev = pipeline["dev"]
    # Friday 18:00 London for 60 h; London leaves summer time on Sunday 2026-10-25.
    dev.freeze_windows = [{"cron": "0 18 * * 5", "duration_minutes": 3600, "timezone": "Europe/London"}]
    db.session.commit()
    clock.set("2026-10-23T17:30:00+00:00")  # Friday 18:30 BST
    held = promote(client, people["author_key"], pipeline["release"].id, dev.id).json
    assert held["status"] == "approved"
    assert held["waiting_reason"] == "freeze window until 2026-10-26T06:00:00+00:00"
    clock.set("2026-10-26T05:59:00+00:00")  # Monday 05:59 GMT: still frozen (an hour later in UTC than BST)
    deployments.sweep()
    db.session.expire_all()
    assert db.session.get(Deployment, held["id"]).status == "approved"
    clock.set("2026-10-26T06:00:00+00:00")
    deployments.sweep()
    db.session.expire_all()
    assert db.session.get(Deployment, held["id"]).status == "queued"


def test_admin_overrides_a_freeze_with_a_reason_and_it_is_audited(client: Any, pipeline: Any, people: Any,
                                                                  clock: Any, db: Any) -> None:
    from webapp.core.audit import AuditEvent

    dev = pipeline["dev"]
    dev.freeze_windows = [{"cron": "0 0 * * *", "duration_minutes": 1440, "timezone": "UTC"}]
    db.session.commit()
    release = pipeline["release"]
    no_admin = promote(client, people["alice_key"], release.id, dev.id, override_freeze=True,
                       override_reason="hotfix")
    assert no_admin.status_code == 403
    no_reason = promote(client, people["root_key"], release.id, dev.id, override_freeze=True)
    assert no_reason.status_code == 422 and "override_reason" in no_reason.json["errors"]
    held = promote(client, people["alice_key"], release.id, dev.id).json
    assert held["status"] == "approved" and held["waiting_reason"].startswith("freeze window")
    maintainer = client.post(f"{API}/deployments/{held['id']}/freeze-override", json={"reason": "x"},
                             headers=people["alice_key"])
    assert maintainer.status_code == 403
    empty = client.post(f"{API}/deployments/{held['id']}/freeze-override", json={"reason": ""},
                        headers=people["root_key"])
    assert empty.status_code == 422
    done = client.post(f"{API}/deployments/{held['id']}/freeze-override", json={"reason": "security fix CVE-1"},
                       headers=people["root_key"])
    assert done.status_code == 200 and done.json["status"] == "queued"
    assert done.json["freeze_override_reason"] == "security fix CVE-1"
    event = db.session.query(AuditEvent).filter_by(action="deployment.freeze_override").one()
    assert event.actor == "root" and event.details["reason"] == "security fix CVE-1"


def test_scheduled_promotion_waits_for_its_time(client: Any, pipeline: Any, people: Any, clock: Any,
                                                db: Any) -> None:
    from webapp.releases import deployments
    from webapp.releases.models import Deployment

    when = clock.now + timedelta(hours=2)
    held = promote(client, people["author_key"], pipeline["release"].id, pipeline["dev"].id,
                   scheduled_for=when.isoformat()).json
    assert held["status"] == "approved" and held["trigger"] == "scheduled"
    deployments.sweep()
    db.session.expire_all()
    assert db.session.get(Deployment, held["id"]).status == "approved"
    clock.now = when
    deployments.sweep()
    db.session.expire_all()
    assert db.session.get(Deployment, held["id"]).status == "queued"


def test_deployments_are_mirrored_to_github_once(client: Any, pipeline: Any, people: Any, fake_github: Any,
                                                 run_jobs: Any, db: Any) -> None:
    from webapp.integrations.github import GitHubError
    from webapp.releases import github_mirror

    dev = promote(client, people["author_key"], pipeline["release"].id, pipeline["dev"].id).json
    lose_response(fake_github, "POST", r"/deployments$")  # created on GitHub, answer lost
    with pytest.raises(GitHubError):
        github_mirror.run_mirror(dev["id"])
    db.session.rollback()
    run_jobs()  # the queued mirror job finds the deployment the lost attempt made
    [made] = deployments_of(fake_github, OWNER, NAME)
    assert made["environment"] == "dev" and made["sha"] == pipeline["sha"]
    assert made["payload"]["gantry_deployment_id"] == dev["id"]
    assert [s["state"] for s in statuses_of(fake_github, made["id"])] == ["queued"]
    report(client, people["author_key"], dev["id"], "in_progress")
    run_jobs()
    report(client, people["author_key"], dev["id"], "succeeded")
    run_jobs()
    run_jobs()
    assert len(deployments_of(fake_github, OWNER, NAME)) == 1
    assert [s["state"] for s in statuses_of(fake_github, made["id"])] == ["queued", "in_progress", "success"]
    got = client.get(f"{API}/deployments/{dev['id']}", headers=people["author_key"]).json
    assert got["github_deployment_id"] == made["id"] and got["github_state"] == "success"


def _status_event(payload_state: str, github_id: int, gantry_id: int | None = None) -> Any:
    from datetime import UTC, datetime

    from tests.shared_data import webhook_payload
    from webapp.webhooks.router import WebhookEvent

    payload = webhook_payload("deployment_status", "created.with-installation")
    payload["deployment_status"]["state"] = payload_state
    payload["deployment"]["id"] = github_id
    payload["deployment"]["payload"] = {"gantry_deployment_id": gantry_id} if gantry_id else {}
    return WebhookEvent(delivery_pk=1, delivery_id=f"d-{payload_state}-{github_id}", event="deployment_status",
                        action="created", payload=payload, installation_id=101, repository_id=1001,
                        received_at=datetime.now(UTC))


def test_deployment_status_webhooks_update_gantry_and_promote_automatically(
        client: Any, pipeline: Any, people: Any, fake_github: Any, run_jobs: Any, db: Any, app: Any) -> None:
    from webapp.releases import deployments
    from webapp.releases.models import Deployment
    from webapp.webhooks.router import handlers_for

    staging = pipeline["staging"]
    staging.auto_promote = True
    staging_id = staging.id
    db.session.commit()
    dev = promote(client, people["author_key"], pipeline["release"].id, pipeline["dev"].id).json
    run_jobs()
    github_id = deployments_of(fake_github, OWNER, NAME)[0]["id"]
    assert "releases.deployment_status" in [name for name, _ in handlers_for("deployment_status", "created")]
    assert deployments.on_deployment_status(_status_event("in_progress", github_id)) == \
        f"deployment {dev['id']} in_progress"
    db.session.commit()
    assert deployments.on_deployment_status(_status_event("success", github_id)) == \
        f"deployment {dev['id']} succeeded"
    db.session.commit()
    db.session.expire_all()
    assert db.session.get(Deployment, dev["id"]).status == "succeeded"
    follow = db.session.query(Deployment).filter_by(environment_id=staging_id).one()
    assert follow.trigger == "automatic" and follow.status == "pending_approval"  # approvals still apply
    # a redelivery changes nothing; an unknown deployment is ignored
    assert "ignored" in found(deployments.on_deployment_status(_status_event("failure", github_id)))
    assert deployments.on_deployment_status(_status_event("success", 999_999)) == "not a Gantry deployment"


def test_rollback_redeploys_the_last_release_that_succeeded_there(client: Any, pipeline: Any, people: Any,
                                                                 db: Any, fake_github: Any, run_jobs: Any) -> None:
    from webapp.core.audit import AuditEvent

    dev = pipeline["dev"]
    dev_id = dev.id
    nothing = client.post(f"/api/v1/repos/1001/environments/{dev_id}/rollback", json={},
                          headers=people["author_key"])
    assert nothing.status_code == 409 and nothing.json["code"] == "nothing_to_roll_back"
    v1 = pipeline["release"]
    first = succeed_in(client, people, v1.id, dev)
    v2 = published_release("1.1.0", pipeline["sha"], people["author"])
    second = succeed_in(client, people, v2.id, dev)
    run_jobs()
    rolled = client.post(f"/api/v1/repos/1001/environments/{dev_id}/rollback", json={"reason": "error rate up"},
                         headers=people["alice_key"])
    assert rolled.status_code == 201, rolled.json
    assert rolled.json["version"] == "1.0.0" and rolled.json["kind"] == "rollback"
    assert rolled.json["status"] == "queued" and rolled.json["replaces_id"] == second["id"]
    replaced = client.get(f"{API}/deployments/{second['id']}", headers=people["alice_key"]).json
    assert replaced["status"] == "rolled_back"
    again = client.post(f"/api/v1/repos/1001/environments/{dev_id}/rollback", json={"reason": "still up"},
                        headers=people["alice_key"])  # a second rollback while the first is on its way
    assert again.status_code == 409 and again.json["code"] == "nothing_to_roll_back", again.get_data(as_text=True)
    assert client.get(f"{API}/deployments/{first['id']}", headers=people["alice_key"]).json["status"] == "succeeded"
    event = db.session.query(AuditEvent).filter_by(action="deployment.rollback").one()
    assert event.details["to_release"] == "1.0.0" and event.details["from_release"] == "1.1.0"
    assert event.details["reason"] == "error rate up" and event.actor == "alice"
    run_jobs()
    states = {d["payload"]["gantry_deployment_id"]: [s["state"] for s in statuses_of(fake_github, d["id"])]
              for d in deployments_of(fake_github, OWNER, NAME)}
    assert states[second["id"]][-1] == "inactive" and states[rolled.json["id"]] == ["queued"]


def test_reports_only_for_running_deployments(client: Any, pipeline: Any, people: Any) -> None:
    release = pipeline["release"]
    succeed_in(client, people, release.id, pipeline["dev"])
    waiting = promote(client, people["author_key"], release.id, pipeline["staging"].id).json
    assert report(client, people["author_key"], waiting["id"], "succeeded").status_code == 409
    bad = client.post(f"{API}/deployments/{waiting['id']}/status", json={"state": "exploded"},
                      headers=people["author_key"])
    assert bad.status_code == 422 and "state" in bad.json["errors"]["json"]


def test_automatic_promotion_also_waits_for_a_freeze(client: Any, pipeline: Any, people: Any, clock: Any,
                                                     db: Any) -> None:
    from webapp.releases import deployments
    from webapp.releases.models import Deployment

    staging = pipeline["staging"]
    staging.auto_promote, staging.required_approvals = True, 0
    staging.freeze_windows = [{"cron": "0 0 * * *", "duration_minutes": 18 * 60, "timezone": "UTC"}]
    staging_id = staging.id
    db.session.commit()
    clock.set("2026-11-25T09:00:00+00:00")
    succeed_in(client, people, pipeline["release"].id, pipeline["dev"])
    follow = db.session.query(Deployment).filter_by(environment_id=staging_id).one()
    assert follow.trigger == "automatic" and follow.status == "approved"
    assert follow.waiting_reason == "freeze window until 2026-11-25T18:00:00+00:00"
    clock.set("2026-11-25T18:00:00+00:00")
    deployments.sweep()
    db.session.expire_all()
    assert db.session.get(Deployment, follow.id).status == "queued"


def test_one_deployment_on_its_way_per_release_and_environment_even_in_a_race(pipeline: Any, db: Any) -> None:
    from sqlalchemy.exc import IntegrityError

    from webapp.releases.models import Deployment

    for _ in range(2):  # what two concurrent requests past the in-Python check would insert
        db.session.add(Deployment(repository_id=1001, release_id=pipeline["release"].id,
                                  environment_id=pipeline["dev"].id, status="queued"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_sweep_remirrors_only_recent_deployments_of_installed_repositories(
        client: Any, pipeline: Any, people: Any, db: Any, clock: Any) -> None:
    from webapp.releases import github_mirror
    from webapp.releases.models import Deployment

    queued = promote(client, people["author_key"], pipeline["release"].id, pipeline["dev"].id).json
    assert github_mirror.out_of_sync_deployments() == [queued["id"]]  # GitHub not told yet (job not run)
    clock.now += timedelta(days=8)
    assert github_mirror.out_of_sync_deployments() == []
    clock.now -= timedelta(days=8)
    from webapp.repos.models import Repository

    db.session.get(Repository, db.session.get(Deployment, queued["id"]).repository_id).installation_id = None
    db.session.commit()
    assert github_mirror.out_of_sync_deployments() == []


def test_rollback_to_a_release_already_on_its_way_is_a_conflict(client: Any, pipeline: Any, people: Any, db: Any,
                                                                 run_jobs: Any) -> None:
    from webapp.releases.models import Deployment

    dev = pipeline["dev"]
    dev_id = dev.id
    v1_id = pipeline["release"].id
    succeed_in(client, people, v1_id, dev)
    v2 = published_release("1.1.0", pipeline["sha"], people["author"])
    succeed_in(client, people, v2.id, dev)
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    scheduled = promote(client, people["author_key"], v1_id, dev_id, scheduled_for=later)
    assert scheduled.status_code == 201 and scheduled.json["status"] == "approved", scheduled.json
    url = f"/api/v1/repos/1001/environments/{dev_id}/rollback"
    response = client.post(url, json={"reason": "error rate up"}, headers=people["alice_key"])
    assert response.status_code == 409, response.get_data(as_text=True)
    assert response.json["code"] == "already_deploying"
    db.session.expire_all()
    assert db.session.query(Deployment).filter_by(kind="rollback").count() == 0
    assert db.session.query(Deployment).filter_by(status="rolled_back").count() == 0

