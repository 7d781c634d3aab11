"""Dashboards: the figures they report, per audience, and a cache that a write makes obsolete at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import cast


def _finish(client, headers, uuid, code, message=""):
    response = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": code, "message": message},
                           headers=headers)
    assert response.status_code == 201, response.json


def test_summary_counts_rates_and_durations(client, writer, create_build, db):
    from webapp.builds.models import Build

    ok = create_build("ok", platform="azure")["uuid"]
    bad = create_build("bad", platform="azure")["uuid"]
    cancelled = create_build("cancelled", platform="gcp")["uuid"]
    create_build("running", platform="gcp")
    _finish(client, writer, ok, 100)
    _finish(client, writer, bad, 910)
    _finish(client, writer, cancelled, 990)
    # durations are measured from creation; make them known
    build = db.session.scalar(db.select(Build).where(Build.build_id == "ok"))
    build.duration_seconds = 1200
    db.session.commit()
    from webapp.builds.cache import bump_generation

    bump_generation()

    summary = client.get("/api/v1/dashboard/summary", headers=writer).json
    assert summary["total"] == 4 and summary["in_flight"] == 1
    assert {s["code"]: s["count"] for s in summary["by_state"]} == {10: 1, 100: 1, 910: 1, 990: 1}
    assert summary["by_phase"] == {"cancelled": 1, "completed": 1, "created": 1, "failed": 1}
    for window in ("24h", "7d", "30d"):
        assert summary["success_rate"][window] == {"succeeded": 1, "failed": 1, "cancelled": 1, "rate": 0.5}
    azure = next(p for p in summary["duration_by_platform"] if p["platform"] == "azure")
    assert azure["finished"] == 2
    assert azure["median_seconds"] == 600  # median of 1200 and ~0
    today = summary["per_day"][-1]
    assert today["day"] == datetime.now(UTC).date().isoformat()
    assert today["total"] == 4 and today["succeeded"] == 1 and today["in_progress"] == 1


def test_a_write_is_visible_in_the_next_dashboard_read(client, writer, create_build, app):
    from webapp.core.jobs import redis_connection

    uuid = create_build("first")["uuid"]
    before = client.get("/api/v1/dashboard/summary", headers=writer).json
    assert before["in_flight"] == 1
    with app.app_context():
        keys = cast(list[bytes], redis_connection().keys("gantry:builds:*"))
        assert any(k.startswith(b"gantry:builds:dash:") for k in keys)
    again = client.get("/api/v1/dashboard/summary", headers=writer).json
    assert again["generated_at"] == before["generated_at"]  # answered from the cache
    _finish(client, writer, uuid, 100)
    after = client.get("/api/v1/dashboard/summary", headers=writer).json
    assert after["in_flight"] == 0 and after["success_rate"]["24h"]["succeeded"] == 1
    recent = client.get("/api/v1/dashboard/recent", headers=writer).json
    assert recent["in_flight"] == []
    client.post(f"/api/v1/builds/{uuid}/failure", json={"error_message": "late", "component": "publish"},
                headers=writer)
    failures = client.get("/api/v1/dashboard/failures", headers=writer).json
    assert failures["7d"]["components"][0]["name"] == "publish"
    create_build("second")
    assert client.get("/api/v1/dashboard/recent", headers=writer).json["builds"][0]["build_id"] == "second"


def test_recent_lists_newest_and_in_flight(client, writer, create_build):
    for i in range(3):
        create_build(f"r-{i}")
    _finish(client, writer, create_build("done")["uuid"], 100)
    recent = client.get("/api/v1/dashboard/recent", headers=writer).json
    assert [b["build_id"] for b in recent["builds"]] == ["done", "r-2", "r-1", "r-0"]
    assert sorted(b["build_id"] for b in recent["in_flight"]) == ["r-0", "r-1", "r-2"]
    assert recent["builds"][0]["state_name"] == "Build completed"


def test_platform_dashboard(client, writer, create_build):
    _finish(client, writer, create_build("a1", platform="aws-govcloud", os_version="rhel-9.2")["uuid"], 100)
    _finish(client, writer, create_build("a2", platform="aws-govcloud", image_type="base")["uuid"], 920)
    create_build("other", platform="azure")
    body = client.get("/api/v1/dashboard/platform/aws-govcloud", headers=writer).json
    assert body["platform"]["slug"] == "aws-govcloud"
    assert body["totals"]["total"] == 2 and body["success_rate"] == 0.5
    assert {o["slug"]: o["total"] for o in body["by_os_version"]} == {"rhel-9.2": 1, "rhel-8.8": 1}
    assert {t["slug"] for t in body["by_image_type"]} == {"sap-hana", "base"}
    assert [b["build_id"] for b in body["recent"]] == ["a2", "a1"]
    missing = client.get("/api/v1/dashboard/platform/moon", headers=writer)
    assert missing.status_code == 404


def test_failures_top_components_and_codes_with_first_and_last_seen(client, writer, create_build):
    now = datetime.now(UTC)
    uuids = [create_build(f"f-{i}")["uuid"] for i in range(3)]
    reports = [
        (uuids[0], "packer", "PACKER_TIMEOUT", now - timedelta(days=20)),
        (uuids[1], "packer", "PACKER_TIMEOUT", now - timedelta(days=2)),
        (uuids[1], "inspec", "CIS_1_1", now - timedelta(days=1)),
        (uuids[2], "packer", "SSH", now - timedelta(hours=1)),
    ]
    for uuid, component, code, when in reports:
        response = client.post(f"/api/v1/builds/{uuid}/failure", headers=writer, json={
            "error_message": "boom", "component": component, "error_code": code, "occurred_at": when.isoformat()})
        assert response.status_code == 201
    body = client.get("/api/v1/dashboard/failures", headers=writer).json
    month = {c["name"]: c for c in body["30d"]["components"]}
    assert month["packer"]["failures"] == 3 and month["packer"]["builds"] == 3
    assert month["packer"]["first_seen"].startswith((now - timedelta(days=20)).date().isoformat())
    week = {c["name"]: c["failures"] for c in body["7d"]["components"]}
    assert week == {"packer": 2, "inspec": 1}
    assert body["30d"]["error_codes"][0] == {**body["30d"]["error_codes"][0], "name": "PACKER_TIMEOUT", "failures": 2}


def test_dashboards_count_only_what_the_caller_may_see(client, catalogue, make_user, make_key, make_repo,
                                                       create_build):
    viewer = make_user("viewer")
    make_repo("octo-org/mine", 1, users=(viewer,))
    make_repo("octo-org/theirs", 2)
    admin = make_key(make_user("admin"), "admin")
    create_build("mine", repository="octo-org/mine", headers=admin)
    theirs = create_build("theirs", repository="octo-org/theirs", headers=admin)
    client.post(f"/api/v1/builds/{theirs['uuid']}/failure", json={"error_message": "x", "component": "secret"},
                headers=admin)
    viewer_key = make_key(viewer, "read")
    assert client.get("/api/v1/dashboard/summary", headers=admin).json["total"] == 2
    assert client.get("/api/v1/dashboard/summary", headers=viewer_key).json["total"] == 1
    recent = client.get("/api/v1/dashboard/recent", headers=viewer_key).json
    assert [b["build_id"] for b in recent["builds"]] == ["mine"]
    assert client.get("/api/v1/dashboard/failures", headers=viewer_key).json["30d"]["components"] == []
    assert client.get("/api/v1/dashboard/failures", headers=admin).json["30d"]["components"][0]["name"] == "secret"
    assert client.get("/api/v1/dashboard/summary").status_code == 401


def test_caching_can_be_turned_off(app, client, writer, create_build):
    create_build()
    app.config["BUILDS_DASHBOARD_CACHE_SECONDS"] = 0
    try:
        first = client.get("/api/v1/dashboard/summary", headers=writer).json
        second = client.get("/api/v1/dashboard/summary", headers=writer).json
        assert first["total"] == 1 and first["generated_at"] != second["generated_at"]
    finally:
        app.config["BUILDS_DASHBOARD_CACHE_SECONDS"] = 60


def test_redis_away_neither_blocks_writes_nor_dashboards(client, writer, create_build, monkeypatch):
    import redis

    from webapp.builds import cache

    unreachable = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    monkeypatch.setattr(cache, "redis_connection", lambda: unreachable)
    uuid = create_build()["uuid"]
    state = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 100}, headers=writer)
    assert state.status_code == 201
    summary = client.get("/api/v1/dashboard/summary", headers=writer).json
    assert summary["success_rate"]["24h"]["succeeded"] == 1


def test_histogram_median_is_within_a_minute_of_the_exact_one():
    import random
    import statistics
    from collections import Counter

    from webapp.builds.dashboard import median_from_minutes

    rng = random.Random(7)
    for size in (1, 3, 51, 5000):  # small even samples get the exact median instead
        durations = [rng.randint(300, 7200) for _ in range(size)]
        buckets = Counter(d // 60 for d in durations)
        assert abs(median_from_minutes(dict(buckets)) - statistics.median(durations)) <= 60
    assert median_from_minutes({10: 4}) == 630  # four builds in minute 10: the middle of it


def test_busy_platforms_get_the_histogram_median(client, writer, create_build, db, monkeypatch):
    from webapp.builds import dashboard
    from webapp.builds.models import Build

    monkeypatch.setattr(dashboard, "EXACT_MEDIAN_UP_TO", 1)
    for i, seconds in enumerate((600, 1800, 3000)):
        uuid = create_build(f"m-{i}", platform="gcp")["uuid"]
        client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 100}, headers=writer)
        build = db.session.scalar(db.select(Build).where(Build.uuid == uuid))
        build.duration_seconds = seconds
    db.session.commit()
    summary = client.get("/api/v1/dashboard/summary", headers=writer).json
    gcp = next(p for p in summary["duration_by_platform"] if p["platform"] == "gcp")
    assert gcp["finished"] == 3 and abs(gcp["median_seconds"] - 1800) <= 60
