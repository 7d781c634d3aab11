"""jobs.defer: background work recorded on the session and enqueued by name when it commits."""

from __future__ import annotations

import ast
import logging
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from rq.job import Job
from rq.utils import import_attribute

from webapp.core import jobs

ROOT = Path(__file__).resolve().parents[2]
TASK = "tasks.webhooks.process_delivery"  # a real task: a missing row makes it return "missing"


def queued_ids(queue: str = "default") -> list[str]:
    return jobs.get_queue(queue).job_ids


def test_nothing_is_enqueued_before_the_commit(app, db):
    jobs.defer(TASK, 41, job_id="deferred-41")
    assert queued_ids() == []
    assert [j.job_id for j in jobs.deferred_jobs()] == ["deferred-41"]
    db.session.rollback()


def test_the_job_is_enqueued_by_name_when_the_session_commits(app, db):
    db.session.execute(sa.text("SELECT 1"))
    jobs.defer(TASK, 42, job_id="deferred-42", queue="high", retry=(1, 2))
    db.session.commit()

    assert queued_ids("high") == ["deferred-42"]
    job = Job.fetch("deferred-42", connection=jobs.redis_connection())
    assert (job.func_name, job.args) == (TASK, (42,))
    assert job.retries_left == 2 and job.retry_intervals == [1, 2]
    assert jobs.deferred_jobs() == []  # a second commit enqueues nothing again
    db.session.commit()
    assert queued_ids("high") == ["deferred-42"]


def test_nothing_is_enqueued_when_the_session_rolls_back(app, db):
    db.session.execute(sa.text("SELECT 1"))
    jobs.defer(TASK, 43, job_id="deferred-43")
    db.session.rollback()
    db.session.commit()  # the next transaction does not inherit it
    assert queued_ids() == []


def test_a_session_closed_without_commit_enqueues_nothing(app, db):
    db.session.execute(sa.text("SELECT 1"))
    jobs.defer(TASK, 44, job_id="deferred-44")
    db.session.remove()
    db.session.commit()
    assert queued_ids() == []


def test_a_savepoint_rolled_back_drops_only_its_own_jobs(app, db):
    db.session.execute(sa.text("SELECT 1"))
    jobs.defer(TASK, 1, job_id="outer")
    savepoint = db.session.begin_nested()
    jobs.defer(TASK, 2, job_id="inner")
    savepoint.rollback()
    db.session.commit()
    assert queued_ids() == ["outer"]


def test_a_released_savepoint_keeps_its_jobs_until_the_outer_commit(app, db):
    db.session.execute(sa.text("SELECT 1"))
    jobs.defer(TASK, 1, job_id="outer")
    savepoint = db.session.begin_nested()
    jobs.defer(TASK, 2, job_id="released")
    savepoint.commit()  # RELEASE SAVEPOINT: nothing is queued yet, nothing is lost
    assert queued_ids() == []
    rolled_back = db.session.begin_nested()
    jobs.defer(TASK, 3, job_id="rolled-back")
    rolled_back.rollback()
    db.session.commit()
    assert sorted(queued_ids()) == ["outer", "released"]


def test_a_released_savepoint_s_jobs_go_when_the_outer_transaction_rolls_back(app, db):
    db.session.execute(sa.text("SELECT 1"))
    savepoint = db.session.begin_nested()
    jobs.defer(TASK, 2, job_id="released")
    savepoint.commit()
    db.session.rollback()
    db.session.commit()
    assert queued_ids() == []


def test_the_same_job_id_is_enqueued_once(app, db):
    jobs.defer(TASK, 45, job_id="deferred-45")
    jobs.defer(TASK, 45, job_id="deferred-45")
    db.session.commit()
    jobs.defer(TASK, 45, job_id="deferred-45")  # still waiting in Redis from the first commit
    db.session.commit()
    assert queued_ids() == ["deferred-45"]


def test_a_delayed_job_is_scheduled(app, db):
    jobs.defer(TASK, 46, job_id="deferred-46", delay=timedelta(minutes=5))
    db.session.commit()
    assert queued_ids() == []
    assert jobs.job_status("deferred-46") == "scheduled"


def test_the_deferred_job_runs_in_the_worker(app, db, run_jobs):
    jobs.defer(TASK, 999, job_id="deferred-run")
    db.session.commit()
    assert run_jobs() == 1
    assert Job.fetch("deferred-run", connection=jobs.redis_connection()).return_value() == "missing"


def test_redis_down_at_commit_keeps_the_commit_and_logs_once(build_app, caplog):
    from webapp.extensions import db

    broken = build_app(REDIS_URL="redis://127.0.0.1:1/0")
    with broken.app_context():
        db.session.execute(sa.text("SELECT 1"))
        jobs.defer(TASK, 1, job_id="lost-1")
        jobs.defer(TASK, 2, job_id="lost-2")
        with caplog.at_level(logging.WARNING, logger="webapp.core.jobs"):
            db.session.commit()  # does not raise
        db.session.remove()
    warnings = [r for r in caplog.records if r.name == "webapp.core.jobs"]
    assert len(warnings) == 1
    assert "lost-1, lost-2" in warnings[0].getMessage() and "sweeps" in warnings[0].getMessage()


def test_after_commit_callbacks_run_after_the_commit_and_not_after_a_rollback(app, db):
    calls: list[str] = []
    jobs.after_commit(lambda: calls.append("rolled back"))
    db.session.rollback()
    jobs.after_commit(lambda: calls.append("committed"))
    assert calls == []
    db.session.commit()
    assert calls == ["committed"]


def test_a_failing_after_commit_callback_is_logged_not_raised(app, db, caplog):
    def fail() -> None:
        raise RuntimeError("cache away")

    jobs.after_commit(fail)
    with caplog.at_level(logging.ERROR, logger="webapp.core.jobs"):
        db.session.commit()
    assert "after-commit callback" in caplog.text


@pytest.mark.parametrize("name", ["process_delivery", "webapp.webhooks.service.process_delivery", "tasks.webhooks"])
def test_a_name_outside_tasks_is_refused(app, name):
    with pytest.raises(ValueError):
        jobs.defer(name, job_id="x")


def test_an_unknown_queue_is_refused(app):
    with pytest.raises(ValueError):
        jobs.defer(TASK, job_id="x", queue="urgent")


# --- every name deferred anywhere resolves to a task ------------------------------------------


ENQUEUERS = {"defer", "enqueue", "enqueue_new"}


def _task_names_in(tree: ast.AST, path: Path) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        called = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if called not in ENQUEUERS:
            continue
        first = node.args[0]
        if called == "defer":
            assert isinstance(first, ast.Constant) and isinstance(first.value, str), (
                f"{path}:{node.lineno}: defer's task name must be a literal string, so this test can check it")
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            found.append((first.value, node.lineno))
    return found


def test_every_task_name_deferred_in_webapp_resolves_to_a_task_function():
    names = []
    for path in sorted((ROOT / "webapp").rglob("*.py")):
        names += [(name, f"{path.relative_to(ROOT)}:{line}")
                  for name, line in _task_names_in(ast.parse(path.read_text()), path)]
    assert len(names) >= 9  # the scan sees the calls
    for name, where in names:
        assert name.startswith("tasks."), f"{where}: {name!r} is not a task"
        assert callable(import_attribute(name)), f"{where}: {name!r} is not a function"


def test_a_misspelt_task_name_fails_the_check():
    tree = ast.parse('jobs.defer("tasks.runners.launch_runer", 1, job_id="x")')
    [(name, _)] = _task_names_in(tree, Path("example.py"))
    with (pytest.raises((AttributeError, ImportError, ValueError))):
        import_attribute(name)
