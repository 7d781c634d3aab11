"""A deployment_status delivery through the real intake and router; demo data for `flask seed-demo`."""

from __future__ import annotations

from typing import Any

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from sandbox.github.releases import deployments_of
from tests.releases.conftest import NAME, OWNER
from tests.releases.helpers import environment, published_release
from tests.shared_data import webhook_payload
from tests.webhooks.helpers import post_webhook


def test_deployment_status_delivery_marks_the_deployment_failed(client: Any, commit: Any, make_user: Any,
                                                                make_key: Any, grant: Any, fake_github: Any,
                                                                run_jobs: Any, db: Any) -> None:
    from webapp.releases.models import Deployment

    sha = commit("feat: x")[-1]
    author = make_user("maintainer")
    grant(author)
    env_id = environment("dev", 0).id
    release_id = published_release("1.0.0", sha, author).id
    key = make_key(author, "read", "releases:write")
    deployment = client.post(f"/api/v1/releases/{release_id}/deployments", json={"environment_id": env_id},
                             headers=key).json
    run_jobs()
    github_id = deployments_of(fake_github, OWNER, NAME)[0]["id"]
    payload = webhook_payload("deployment_status", "created.with-installation")
    payload["deployment"]["id"] = github_id
    payload["deployment_status"]["state"] = "failure"
    payload["deployment_status"]["description"] = "smoke tests failed"
    payload["repository"]["id"], payload["repository"]["full_name"] = 1001, f"{OWNER}/{NAME}"
    payload["installation"]["id"] = 101
    answer = post_webhook(client, "deployment_status", payload, DEFAULT_WEBHOOK_SECRET)
    assert answer.status_code == 202, answer.get_data(as_text=True)
    run_jobs()
    db.session.expire_all()
    stored = db.session.get(Deployment, deployment["id"])
    assert stored.status == "failed" and stored.description == "smoke tests failed"
    assert stored.github_state == "failure" and stored.finished_at is not None


def test_seed_demo_adds_history_once(app: Any, db: Any, make_user: Any) -> None:
    from webapp.cli import SEEDERS_KEY
    from webapp.releases.models import Deployment, Environment, Release
    from webapp.releases.seed import seed_demo

    seeders = dict(app.extensions[SEEDERS_KEY])
    assert seeders["releases"] is seed_demo  # what `flask seed-demo` runs
    admin = make_user("admin")
    make_user("maintainer", username="maria")
    seed_demo(admin)
    releases = db.session.query(Release).count()
    assert releases == 8 and db.session.query(Environment).count() == 3
    assert db.session.query(Deployment).filter_by(status="succeeded").count() >= 10
    approvals = [a for d in db.session.query(Deployment) for a in d.approvals]
    assert approvals and all(a.username == "maria" for a in approvals)  # never the release's author
    seed_demo(admin)
    assert db.session.query(Release).count() == releases
