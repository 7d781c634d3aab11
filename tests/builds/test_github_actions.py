"""workflow_run deliveries of mapped repositories become builds, using GitHub's real payloads."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from tests.shared_data import WEBHOOKS_DIR

PAYLOADS = WEBHOOKS_DIR / "workflow_run"
REPO_ID = 300029405


def _event(name, **run_changes):
    from webapp.webhooks.router import WebhookEvent

    payload = json.loads((PAYLOADS / f"{name}.json").read_text())
    payload["workflow_run"].update(run_changes)
    return WebhookEvent(delivery_pk=1, delivery_id=f"d-{name}", event="workflow_run", action=payload["action"],
                        payload=payload, installation_id=None, repository_id=payload["repository"]["id"],
                        received_at=datetime.now(UTC))


def _handle(app, event):
    """Run the handler as webhook processing does: in a transaction the caller commits (after-commit work with it)."""
    from webapp.extensions import db
    from webapp.webhooks.router import handlers_for

    with app.app_context():
        mine = [h for name, h in handlers_for("workflow_run", event.action, app) if name.startswith("webapp.builds.")]
        assert len(mine) == 1  # the builds handler is registered for workflow_run
        results = [handler(event) for handler in mine]
        db.session.commit()
    return results


@pytest.fixture
def mapped(catalogue, make_repo, db):
    from webapp.builds.models import GithubBuildMapping, ImageType, OsVersion, Platform

    make_repo("octo-org/octo-repo", REPO_ID)

    def slug(model, value):
        return db.session.scalar(db.select(model).where(model.slug == value))

    db.session.add(GithubBuildMapping(repository_id=REPO_ID, workflow_name="",
                                      platform=slug(Platform, "aws-commercial"),
                                      os_version=slug(OsVersion, "ubuntu-22.04"), image_type=slug(ImageType, "base")))
    db.session.commit()


def _build(db):
    from webapp.builds.models import Build

    db.session.expire_all()
    return db.session.scalar(db.select(Build))


def test_requested_then_completed_makes_a_successful_build(app, mapped, db, client, make_user, make_key):
    from webapp.builds.models import BuildStateEvent

    assert _handle(app, _event("requested")) == ["build 289782451: state 15"]
    build = _build(db)
    assert build.build_id == "289782451" and build.source == "github"
    assert build.platform.slug == "aws-commercial" and build.repository.full_name == "octo-org/octo-repo"
    assert build.commit_hash == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert build.pipeline_url == "https://github.com/octo-org/octo-repo/actions/runs/289782451"
    assert build.current_state_code == 15 and build.result == "in_progress"
    admin = make_key(make_user("admin"), "admin")
    assert client.get("/api/v1/dashboard/recent", headers=admin).json["builds"][0]["result"] == "in_progress"

    _handle(app, _event("completed"))
    build = _build(db)
    assert build.current_state_code == 100 and build.result == "succeeded"
    assert build.duration_seconds == 25  # created 16:33:24, completed 16:33:49
    codes = [e.state_code for e in db.session.scalars(db.select(BuildStateEvent).order_by(BuildStateEvent.id))]
    assert codes == [10, 15, 100]
    # the cached dashboard was made obsolete after the commit
    assert client.get("/api/v1/dashboard/recent", headers=admin).json["builds"][0]["result"] == "succeeded"


def test_redelivery_changes_nothing(app, mapped, db):
    from webapp.builds.models import Build, BuildFailure, BuildStateEvent

    failed = _event("completed.with-pull-requests", conclusion="failure")
    _handle(app, failed)
    assert _handle(app, failed) == ["build 289782451: state 900 (already recorded)"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Build)) == 1
    assert db.session.scalar(db.select(db.func.count()).select_from(BuildStateEvent)) == 2
    failure = db.session.scalar(db.select(BuildFailure))
    assert failure.error_code == "failure" and failure.details["run_id"] == 289782451
    assert db.session.scalar(db.select(db.func.count()).select_from(BuildFailure)) == 1


def test_conclusions_map_to_state_codes(app, mapped, db):
    _handle(app, _event("requested.with-conclusion"))  # completed / action_required
    build = _build(db)
    assert build.current_state_code == 900 and build.result == "failed"
    _handle(app, _event("completed", run_attempt=2, conclusion="cancelled"))
    from webapp.builds.models import Build

    rerun = db.session.scalar(db.select(Build).where(Build.build_id == "289782451.2"))
    assert rerun is not None and rerun.result == "cancelled"


def test_a_late_queued_delivery_does_not_reopen_a_finished_build(app, mapped, db):
    _handle(app, _event("completed"))
    assert _handle(app, _event("requested")) == ["build 289782451 has ended; GitHub Actions run queued ignored"]
    assert _build(db).result == "succeeded"


def test_workflow_specific_mapping_wins(app, mapped, db):
    from webapp.builds.models import GithubBuildMapping, Platform

    gcp = db.session.scalar(db.select(Platform).where(Platform.slug == "gcp"))
    general = db.session.scalar(db.select(GithubBuildMapping))
    db.session.add(GithubBuildMapping(repository_id=REPO_ID, workflow_name="test", platform=gcp,
                                      os_version=general.os_version, image_type=general.image_type))
    db.session.commit()
    _handle(app, _event("requested"))  # the payload's workflow is named "test"
    assert _build(db).platform.slug == "gcp"


def test_unmapped_repositories_are_ignored(app, catalogue, make_repo, db):
    from webapp.builds.models import Build

    make_repo("octo-org/octo-repo", REPO_ID)
    assert _handle(app, _event("completed")) == [None]
    assert db.session.scalar(db.select(db.func.count()).select_from(Build)) == 0
