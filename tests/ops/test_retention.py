"""Retention: each kind of row purged after its age, everything still in use kept, small batches
that never wait on locks, settings that disable it, the CLI, and table sizes on /status for admins."""

from __future__ import annotations

import contextvars
import itertools
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.found import found
from webapp.config import ConfigError, load_settings
from webapp.core.audit import AuditEvent
from webapp.core.models import utcnow
from webapp.ops import retention
from webapp.webhooks.models import FAILED, HANDLED, IGNORED, RECEIVED, RETRYING, WebhookDelivery

PAYLOAD = {"action": "queued", "workflow_job": {"id": 1}}
_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def settings(app, monkeypatch):
    """The documented defaults, whatever another test left in the config."""
    for name, value in {"RETENTION_DELIVERY_PAYLOAD_DAYS": 30, "RETENTION_DELIVERY_DAYS": 90,
                        "RETENTION_RUNNER_DAYS": 180, "RETENTION_BUILD_DAYS": None, "RETENTION_AUDIT_DAYS": None,
                        "FORWARDING_RETENTION_DAYS": 30, "RETENTION_BATCH_SIZE": 1000,
                        "RETENTION_MAX_SECONDS": 900, "RETENTION_BATCH_PAUSE_MS": 0,
                        "RETENTION_SYNC_DAYS": 180}.items():
        monkeypatch.setitem(app.config, name, value)


def delivery(db, status: str, days_old: float, **fields: Any) -> int:
    row = WebhookDelivery(delivery_id=f"guid-{next(_ids)}", event="workflow_job", action="queued", payload=PAYLOAD,
                          status=status, received_at=utcnow() - timedelta(days=days_old), **fields)
    db.session.add(row)
    db.session.flush()
    pk = int(row.id)
    db.session.commit()  # and no transaction left open to hold locks against the other connections
    return pk


def stored(db, pk: int) -> WebhookDelivery | None:
    db.session.expire_all()
    return db.session.get(WebhookDelivery, pk)


def purged(kind: str, **kwargs: Any) -> dict[str, Any]:
    return retention.purge(only={kind}, **kwargs)["kinds"][kind]


# --- webhook deliveries --------------------------------------------------------------------


def test_payloads_of_handled_deliveries_are_emptied_after_their_age(db):
    old_handled = delivery(db, HANDLED, 31)
    old_ignored = delivery(db, IGNORED, 31)
    young = delivery(db, HANDLED, 29)
    failed = delivery(db, FAILED, 31)
    waiting = delivery(db, RECEIVED, 31)

    assert purged("webhook_payloads")["rows"] == 2

    for pk in (old_handled, old_ignored):
        row = found(stored(db, pk))
        assert row.payload == {} and row.payload_purged_at is not None
    for pk in (young, failed, waiting):
        row = found(stored(db, pk))
        assert row.payload == PAYLOAD and row.payload_purged_at is None
    assert purged("webhook_payloads")["rows"] == 0  # an emptied payload is not emptied again


def test_handled_deliveries_are_deleted_and_those_still_in_use_kept(db):
    from webapp.forwarding.models import FAILED as FORWARD_FAILED
    from webapp.forwarding.models import PENDING, ForwardDelivery, ForwardTarget

    handled, ignored = delivery(db, HANDLED, 91), delivery(db, IGNORED, 91)
    failed = delivery(db, FAILED, 91)  # waits for someone to re-process it
    retrying, received = delivery(db, RETRYING, 91), delivery(db, RECEIVED, 91)
    young = delivery(db, HANDLED, 89)
    forwarding = delivery(db, HANDLED, 91)  # its forwarding to a target is still pending
    forwarded = delivery(db, HANDLED, 91)  # forwarding gave up: nothing pending
    target = ForwardTarget(name="deploy", url="https://deploy.example.com/hook", secret="s3cret")
    db.session.add(target)
    db.session.flush()
    for n, (pk, status) in enumerate(((forwarding, PENDING), (forwarded, FORWARD_FAILED))):
        db.session.add(ForwardDelivery(message_id=f"msg_{n}", target_id=target.id, github_delivery_id=f"g{n}",
                                       webhook_delivery_pk=pk, event="workflow_job", received_at=utcnow(),
                                       status=status))
    db.session.commit()

    outcome = purged("webhook_deliveries")

    assert outcome["rows"] == 3
    for pk in (handled, ignored, forwarded):
        assert stored(db, pk) is None
    for pk in (failed, retrying, received, young, forwarding):
        row = found(stored(db, pk))
        assert row is not None and row.payload == PAYLOAD


def test_a_delivery_whose_payload_was_purged_cannot_be_reprocessed(db, client, make_user, make_key, login_as):
    pk = delivery(db, HANDLED, 31)
    purged("webhook_payloads")
    headers = make_key(make_user("admin"), "admin")

    response = client.post(f"/api/v1/webhooks/deliveries/{pk}/reprocess", headers=headers)
    assert response.status_code == 409
    assert response.json["code"] == "payload_purged"
    assert found(stored(db, pk)).status == HANDLED
    shown = client.get(f"/api/v1/webhooks/deliveries/{pk}", headers=headers).json
    assert shown["payload"] == {} and shown["payload_purged_at"]

    login_as("admin")
    page = client.get(f"/webhook-deliveries/{pk}").get_data(as_text=True)
    assert "Removed by retention" in page and "Re-process" not in page


def test_settled_redelivery_requests_go_with_old_deliveries(db):
    from webapp.webhooks.models import (
        ASK_DELIVERED,
        ASK_GAVE_UP,
        ASK_PENDING,
        ASK_REQUESTED,
        RedeliveryRequest,
    )

    old = utcnow() - timedelta(days=91)
    for guid, status in (("a", ASK_DELIVERED), ("b", ASK_GAVE_UP), ("c", ASK_PENDING), ("d", ASK_REQUESTED)):
        db.session.add(RedeliveryRequest(guid=guid, log_id=1, event="push", status=status, updated_at=old))
    db.session.commit()

    assert purged("redelivery_requests")["rows"] == 2
    assert sorted(db.session.scalars(sa.select(RedeliveryRequest.guid))) == ["c", "d"]


# --- runners and the job ledger ------------------------------------------------------------


@pytest.fixture
def pool(db) -> Any:
    from webapp.repos.models import Installation
    from webapp.runners.models import RunnerPool

    db.session.add(Installation(id=101, account_login="acme", account_type="Organization"))
    db.session.flush()
    pool = RunnerPool(name="linux", scope="organization", installation_id=101, labels=["self-hosted"],
                      region="us-east-1", cluster="c", task_definition="td")
    db.session.add(pool)
    db.session.commit()
    return pool


def test_ended_runners_and_completed_jobs_go_alive_ones_stay(db, pool):
    from webapp.runners.models import BUSY, FINISHED, IDLE, STOPPED, Runner, RunnerEvent, WorkflowJob

    long_ago = utcnow() - timedelta(days=181)

    def job(github_id: int, status: str = "completed") -> WorkflowJob:
        row = WorkflowJob(github_job_id=github_id, status=status, queued_at=long_ago, completed_at=long_ago,
                          updated_at=long_ago)
        db.session.add(row)
        db.session.flush()
        return row

    def runner(name: str, state: str, ended_days: float | None, job_row: WorkflowJob | None = None) -> Runner:
        ended = utcnow() - timedelta(days=ended_days) if ended_days is not None else None
        row = Runner(pool_id=pool.id, name=name, state=state, requested_at=long_ago, ended_at=ended,
                     job_id=job_row.id if job_row else None)
        row.events.append(RunnerEvent(pool_id=pool.id, kind=state, at=long_ago))
        db.session.add(row)
        db.session.flush()
        return row

    job(1)  # completed long ago, no runner row: goes
    old_runner_job = job(2)  # its runner goes in the same purge, then it can go too
    young_runner_job = job(3)  # a runner that ended recently still points at it: stays
    running_job = job(4, status="in_progress")  # not completed: stays
    runner("old-finished", FINISHED, 181, old_runner_job)
    runner("old-stopped", STOPPED, 200)
    runner("recent", FINISHED, 10, young_runner_job)
    runner("alive-idle", IDLE, None)
    runner("alive-busy", BUSY, None, running_job)
    db.session.commit()

    summary = retention.purge(only={"runners", "workflow_jobs"})

    assert summary["kinds"]["runners"]["rows"] == 2
    assert summary["kinds"]["workflow_jobs"]["rows"] == 2
    db.session.expire_all()
    assert sorted(db.session.scalars(sa.select(Runner.name))) == ["alive-busy", "alive-idle", "recent"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(RunnerEvent)) == 3  # timelines went along
    kept_jobs = set(db.session.scalars(sa.select(WorkflowJob.github_job_id)))
    assert kept_jobs == {3, 4}


# --- builds and their history --------------------------------------------------------------


@pytest.fixture
def make_build(db) -> Any:
    from webapp.builds.catalogue import load_default_catalogue
    from webapp.builds.models import Build, BuildStateEvent, ImageType, OsVersion, Platform

    load_default_catalogue()
    platform = db.session.scalars(sa.select(Platform.id)).first()
    os_version = db.session.scalars(sa.select(OsVersion.id)).first()
    image_type = db.session.scalars(sa.select(ImageType.id)).first()

    def make(build_id: str, days_old: float, result: str = "succeeded") -> Build:
        at = utcnow() - timedelta(days=days_old)
        build = Build(build_id=build_id, platform_id=platform, os_version_id=os_version, image_type_id=image_type,
                      current_state_code=100 if result != "in_progress" else 10, result=result, created_at=at,
                      updated_at=at, finished_at=at if result != "in_progress" else None)
        db.session.add(build)
        db.session.flush()
        for code in (10, 20, 100) if result != "in_progress" else (10,):
            db.session.add(BuildStateEvent(build_id=build.id, state_code=code, occurred_at=at, recorded_at=at))
        db.session.commit()
        return build

    return make


def history(db, build_id: str) -> int:
    from webapp.builds.models import Build, BuildStateEvent

    db.session.expire_all()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(BuildStateEvent).join(
        Build, Build.id == BuildStateEvent.build_id).where(Build.build_id == build_id)) or 0)


def test_builds_and_their_history_are_kept_unless_a_setting_says_otherwise(app, db, make_build, monkeypatch):
    make_build("ancient", 2000)
    summary = retention.purge()
    assert summary["kinds"]["builds"] == {"days": None, "rows": 0, "kept": "forever"}
    assert history(db, "ancient") == 3


def test_builds_purged_by_age_when_set_except_linked_and_unfinished(app, db, make_build, monkeypatch):
    from webapp.releases.models import Release
    from webapp.repos.models import Repository

    monkeypatch.setitem(app.config, "RETENTION_BUILD_DAYS", 365)
    make_build("old-unlinked", 400)
    linked = make_build("old-linked", 400)
    make_build("old-in-flight", 400, result="in_progress")
    make_build("recent", 30)
    db.session.add(Repository(id=7, owner="acme", name="images", full_name="acme/images"))
    db.session.flush()
    db.session.add(Release(repository_id=7, version="1.0.0", tag_name="v1.0.0", target="main", target_sha="a" * 40,
                           build_uuids=[str(linked.uuid)]))
    db.session.commit()

    assert purged("builds")["rows"] == 1
    assert history(db, "old-unlinked") == 0
    assert history(db, "old-linked") == 3  # a release ships it: the build and its history stay
    assert history(db, "old-in-flight") == 1
    assert history(db, "recent") == 3


# --- the audit log -------------------------------------------------------------------------


def test_finished_sync_runs_go_except_each_projects_newest_and_unfinished(app, db, monkeypatch):
    from webapp.repos.models import Repository
    from webapp.sync.models import Project, SyncRun

    db.session.add(Repository(id=5150, owner="acme", name="infra", full_name="acme/infra"))
    db.session.flush()
    busy, quiet = Project(name="busy", repository_id=5150), Project(name="quiet", repository_id=5150)
    db.session.add_all([busy, quiet])
    db.session.flush()
    ids = itertools.count(1)

    def run(project: Any, status: str, days_old: float) -> int:
        when = utcnow() - timedelta(days=days_old)
        row = SyncRun(project_id=project.id, repository_id=5150, branch="main", sync_id=f"sync-{next(ids)}",
                      status=status, created_at=when, finished_at=when if status != "running" else None)
        db.session.add(row)
        db.session.flush()
        return int(row.id)

    gone = [run(busy, "succeeded", 400), run(busy, "conflict", 300)]
    old_running, recent = run(busy, "running", 250), run(busy, "succeeded", 10)
    only_run = run(quiet, "failed", 500)  # the quiet project's state: kept however old
    db.session.commit()

    monkeypatch.setitem(app.config, "RETENTION_SYNC_DAYS", None)
    assert purged("sync_runs") == {"days": None, "rows": 0, "kept": "forever"}
    monkeypatch.setitem(app.config, "RETENTION_SYNC_DAYS", 180)
    assert purged("sync_runs", dry_run=True)["rows"] == 2
    outcome = purged("sync_runs")

    db.session.expire_all()
    assert outcome["rows"] == 2
    kept = set(db.session.scalars(sa.select(SyncRun.id)))
    assert kept == {old_running, recent, only_run} and not kept & set(gone)


def test_audit_log_kept_unless_set_and_purge_records_always_kept(app, db, monkeypatch):
    from webapp.core import audit

    for days in (400, 10):
        event = audit.record("user.created", "user", 1, actor="test")
        event.created_at = utcnow() - timedelta(days=days)
    db.session.commit()
    retention.purge()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "user.created")) == 2

    monkeypatch.setitem(app.config, "RETENTION_AUDIT_DAYS", 365)
    db.session.execute(sa.update(AuditEvent).where(AuditEvent.action == retention.PURGE_ACTION)
                       .values(created_at=utcnow() - timedelta(days=400)))
    db.session.commit()
    assert retention.purge()["kinds"]["audit_events"]["rows"] == 1
    actions = list(db.session.scalars(sa.select(AuditEvent.action).order_by(AuditEvent.id)))
    assert actions == ["user.created", retention.PURGE_ACTION, retention.PURGE_ACTION]


# --- batches, locks, settings --------------------------------------------------------------


def test_batches_are_bounded(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_BATCH_SIZE", 2)
    for _ in range(5):
        delivery(db, HANDLED, 100)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("DELETE FROM WEBHOOK_DELIVERIES"):
            statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", seen)
    try:
        outcome = purged("webhook_deliveries")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", seen)

    assert outcome["rows"] == 5 and outcome["batches"] == 3
    assert len(statements) == 3
    assert all("LIMIT" in s and "FOR UPDATE SKIP LOCKED" in s for s in statements)


def test_a_row_held_by_someone_else_is_skipped_not_waited_for(app, db):
    held, free = delivery(db, HANDLED, 100), delivery(db, HANDLED, 100)
    with db.engine.connect() as other:
        other.execute(sa.text("SELECT id FROM webhook_deliveries WHERE id = :id FOR UPDATE"), {"id": held})
        started = time.monotonic()
        outcome = purged("webhook_deliveries")
        assert time.monotonic() - started < 2
        other.rollback()
    assert outcome["rows"] == 1
    assert stored(db, held) is not None and stored(db, free) is None
    assert purged("webhook_deliveries")["rows"] == 1  # the next run takes it


def test_a_table_lock_makes_the_purge_give_up_quickly_not_queue(app, db):
    delivery(db, HANDLED, 100)
    with db.engine.connect() as other:
        other.execute(sa.text("SET LOCAL lock_timeout = '5s'"))
        other.execute(sa.text("LOCK TABLE webhook_deliveries IN ACCESS EXCLUSIVE MODE"))
        started = time.monotonic()
        outcome = purged("webhook_deliveries")
        waited = time.monotonic() - started
        other.rollback()
    assert outcome["stopped"] == "lock_timeout" and outcome["rows"] == 0
    assert waited < 2
    assert purged("webhook_deliveries")["rows"] == 1


def test_zero_disables_a_kind(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_DELIVERY_DAYS", None)
    monkeypatch.setitem(app.config, "RETENTION_DELIVERY_PAYLOAD_DAYS", None)
    pk = delivery(db, HANDLED, 1000)
    summary = retention.purge()
    assert summary["kinds"]["webhook_deliveries"]["kept"] == "forever"
    assert summary["kinds"]["webhook_payloads"]["kept"] == "forever"
    assert found(stored(db, pk)).payload == PAYLOAD


def test_the_purge_pauses_between_batches_not_after_the_last(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "RETENTION_BATCH_SIZE", 2)
    monkeypatch.setitem(app.config, "RETENTION_BATCH_PAUSE_MS", 250)
    for _ in range(5):
        delivery(db, HANDLED, 100)
    pauses: list[float] = []
    monkeypatch.setattr("webapp.core.purge.time.sleep", pauses.append)

    outcome = purged("webhook_deliveries")

    assert outcome["rows"] == 5 and outcome["batches"] == 3
    assert pauses == [0.25, 0.25]  # after the two full batches; the short third was the last


def test_the_batch_pause_setting_defaults_and_bounds(tmp_path):
    base = {"ENVIRONMENT": "development", "SECRET_KEY": "x" * 40}
    assert load_settings(base, instance_dir=tmp_path)["RETENTION_BATCH_PAUSE_MS"] == 50
    assert load_settings({**base, "RETENTION_BATCH_PAUSE_MS": "0"}, instance_dir=tmp_path)[
        "RETENTION_BATCH_PAUSE_MS"] == 0
    with pytest.raises(ConfigError, match="RETENTION_BATCH_PAUSE_MS"):
        load_settings({**base, "RETENTION_BATCH_PAUSE_MS": "-1"}, instance_dir=tmp_path)


def test_settings_defaults_zero_empty_and_the_redelivery_floor(tmp_path):
    base = {"ENVIRONMENT": "development", "SECRET_KEY": "x" * 40}
    defaults = load_settings(base, instance_dir=tmp_path)
    assert (defaults["RETENTION_DELIVERY_PAYLOAD_DAYS"], defaults["RETENTION_DELIVERY_DAYS"],
            defaults["RETENTION_RUNNER_DAYS"], defaults["RETENTION_BUILD_DAYS"],
            defaults["RETENTION_AUDIT_DAYS"]) == (30, 90, 180, None, None)
    off = load_settings({**base, "RETENTION_DELIVERY_DAYS": "0", "RETENTION_RUNNER_DAYS": "",
                         "RETENTION_AUDIT_DAYS": "400"}, instance_dir=tmp_path)
    assert off["RETENTION_DELIVERY_DAYS"] is None and off["RETENTION_RUNNER_DAYS"] is None
    assert off["RETENTION_AUDIT_DAYS"] == 400
    with pytest.raises(ConfigError, match="at least 3"):
        load_settings({**base, "RETENTION_DELIVERY_DAYS": "2"}, instance_dir=tmp_path)
    with pytest.raises(ConfigError, match="RETENTION_RUNNER_DAYS"):
        load_settings({**base, "RETENTION_RUNNER_DAYS": "-1"}, instance_dir=tmp_path)


# --- the job, the CLI and /status ----------------------------------------------------------


def test_the_hourly_job_runs_the_purge_and_is_audited(db):
    from tasks.retention import purge_expired_data
    from webapp.schedule import PERIODIC_JOBS

    assert any(job.task == "tasks.retention.purge_expired_data" and job.every == 3600 for job in PERIODIC_JOBS)
    pk = delivery(db, HANDLED, 100)
    summary = purge_expired_data()
    assert summary["kinds"]["webhook_deliveries"]["rows"] == 1 and stored(db, pk) is None
    last = retention.last_purge()
    assert last is not None and last["kinds"]["webhook_deliveries"]["rows"] == 1


@pytest.fixture
def cli(app):
    from flask.cli import FlaskGroup

    runner = app.test_cli_runner()
    group = FlaskGroup(create_app=lambda: app, load_dotenv=False)
    return lambda *args: contextvars.Context().run(runner.invoke, group, args=list(args))


def test_cli_dry_run_counts_and_purge_removes(cli, db):
    pk = delivery(db, HANDLED, 100)
    delivery(db, HANDLED, 40)

    dry = cli("retention", "purge", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "webhook_deliveries: 1 rows older than 90 days" in dry.output
    assert "webhook_payloads: 2 rows older than 30 days" in dry.output
    assert "audit_events: kept forever" in dry.output
    assert stored(db, pk) is not None and retention.last_purge() is None

    result = cli("retention", "purge")
    assert result.exit_code == 0, result.output
    assert "webhook_deliveries: 1 rows older than 90 days in" in result.output
    assert "removed or emptied 2 rows" in result.output  # one deleted, then one payload emptied
    assert stored(db, pk) is None


def test_status_shows_table_sizes_and_the_last_purge_to_admins_only(client, db, login_as, make_user, make_key):
    delivery(db, HANDLED, 100)
    retention.purge()
    anonymous = client.get("/status").get_data(as_text=True)
    assert "Storage and retention" not in anonymous and "webhook_deliveries" not in anonymous
    assert "storage" not in client.get("/status.json").json

    viewer_key = make_key(make_user("viewer"), "read")
    assert "storage" not in client.get("/status.json", headers=viewer_key).json

    admin_key = make_key(make_user("admin"), "admin")
    storage = client.get("/status.json", headers=admin_key).json["storage"]
    tables = {t["table"]: t for t in storage["tables"]}
    assert {"webhook_deliveries", "forward_deliveries", "runners", "workflow_jobs", "builds",
            "audit_events"} <= set(tables)
    assert all(t["bytes"] > 0 for t in tables.values())  # pg_total_relation_size: at least the indexes
    assert storage["last_purge"]["kinds"]["webhook_deliveries"]["rows"] == 1
    assert storage["settings"]["webhook_deliveries"] == 90 and storage["settings"]["audit_events"] is None

    login_as("admin")
    page = client.get("/status").get_data(as_text=True)
    assert "Storage and retention" in page and "<code>webhook_deliveries</code>" in page
    assert "1 rows removed or emptied" in page
