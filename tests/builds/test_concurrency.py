"""Concurrent duplicate creations and concurrent state reports, against the real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from tests.builds.conftest import build_body

THREADS = 6


def _together(target, count=THREADS):
    barrier = threading.Barrier(count)
    results = [None] * count
    errors = []

    def run(i):
        try:
            barrier.wait(timeout=10)
            results[i] = target(i)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    return results


def test_concurrent_duplicate_creations_make_one_build(app, client, writer, db):
    from webapp.builds.models import Build, BuildStateEvent

    def create(_):
        response = app.test_client().post("/api/v1/builds", json=build_body("racing-42"), headers=writer)
        return response.status_code, response.json["uuid"]

    results = _together(create)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * (THREADS - 1) + [201]
    assert len({uuid for _, uuid in results}) == 1
    db.session.expire_all()
    assert db.session.scalar(db.select(db.func.count()).select_from(Build)) == 1
    assert db.session.scalar(db.select(db.func.count()).select_from(BuildStateEvent)) == 1


def test_concurrent_different_bodies_make_one_build_and_conflicts(app, writer, db):
    from webapp.builds.models import Build

    def create(i):
        body = build_body("racing-43", os_version="rhel-8.8" if i % 2 else "ubuntu-22.04")
        return app.test_client().post("/api/v1/builds", json=body, headers=writer).status_code

    statuses = _together(create)
    assert statuses.count(201) == 1
    assert set(statuses) <= {200, 201, 409} and 409 in statuses
    assert db.session.scalar(db.select(db.func.count()).select_from(Build)) == 1


def test_concurrent_state_reports_keep_every_event_and_the_newest_state(app, client, writer, create_build):
    uuid = create_build()["uuid"]
    base = datetime.now(UTC) + timedelta(minutes=1)
    codes = [15, 20, 22, 25, 30, 35]

    def report(i):
        body = {"state_code": codes[i], "occurred_at": (base + timedelta(seconds=i)).isoformat()}
        return app.test_client().post(f"/api/v1/builds/{uuid}/state", json=body, headers=writer).status_code

    assert _together(report) == [201] * THREADS
    history = client.get(f"/api/v1/builds/{uuid}/history", headers=writer).json
    assert [e["state_code"] for e in history["events"]] == [10, *codes]
    assert history["current_state"]["code"] == 35  # the newest report wins whatever order they landed in
    state = client.get(f"/api/v1/builds/{uuid}/state", headers=writer).json
    assert state["updated_at"].startswith((base + timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%S"))


def test_concurrent_terminal_reports_let_exactly_one_end_the_build(app, client, writer, create_build):
    uuid = create_build()["uuid"]
    ends = [100, 900, 910, 920, 950, 990]

    def report(i):
        return app.test_client().post(f"/api/v1/builds/{uuid}/state", json={"state_code": ends[i]},
                                      headers=writer).status_code

    statuses = _together(report)
    assert sorted(statuses) == [201] + [409] * (THREADS - 1)
    events = client.get(f"/api/v1/builds/{uuid}/history", headers=writer).json["events"]
    assert len(events) == 2
    final = client.get(f"/api/v1/builds/{uuid}/state", headers=writer).json
    assert final["current_state"]["code"] == events[-1]["state_code"] and final["current_state"]["terminal"]
