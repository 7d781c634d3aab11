"""/health, /ready, /status and /metrics: what they say, to whom, and with PostgreSQL or Redis down."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import PASSWORD, csrf_token, make_test_app

DEAD_REDIS = "redis://127.0.0.1:1/0"
DEAD_DATABASE = "postgresql://postgres@127.0.0.1:1/nowhere"
METRICS_TOKEN = "scrape-me-0123456789"


@pytest.fixture(scope="module")
def broken_apps(app) -> Iterator[dict[str, Any]]:
    """Apps whose Redis, database or both cannot be reached.

    Flask-Limiter keeps one storage per extension object, so building another app re-points the
    shared limiter; it is put back afterwards so the other tests keep their rate limits.
    """
    from webapp.extensions import limiter

    saved = dict(vars(limiter))
    apps = {
        "redis": make_test_app(REDIS_URL=DEAD_REDIS),
        "database": make_test_app(SQLALCHEMY_DATABASE_URI=DEAD_DATABASE),
        "both": make_test_app(REDIS_URL=DEAD_REDIS, SQLALCHEMY_DATABASE_URI=DEAD_DATABASE),
    }
    vars(limiter).update(saved)
    yield apps
    for broken in apps.values():
        with broken.app_context():
            from webapp.extensions import db

            db.session.remove()
            db.engine.dispose()


def test_ready_when_everything_answers(client):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json["status"] == "ready"
    assert response.json["checks"]["database"]["ok"] and response.json["checks"]["redis"]["ok"]
    assert "failed" not in response.json


@pytest.mark.parametrize(("down", "failed"), [("redis", ["redis"]), ("database", ["database"]),
                                              ("both", ["database", "redis"])])
def test_ready_names_what_is_down(broken_apps, down, failed):
    response = broken_apps[down].test_client().get("/ready")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"
    assert sorted(response.json["failed"]) == failed
    for name in failed:
        assert response.json["checks"][name]["ok"] is False
    assert "error" not in str(response.json["checks"])  # no connection strings for anonymous callers


def test_health_touches_nothing(broken_apps):
    response = broken_apps["both"].test_client().get("/health")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_health_db(client, broken_apps):
    assert client.get("/health/db").status_code == 200
    response = broken_apps["database"].test_client().get("/health/db")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_status_shows_redis_down_and_sign_in_still_works(broken_apps, app, make_user):
    make_user("admin", username="root")
    broken = broken_apps["redis"]
    client = broken.test_client()
    page = client.get("/status")
    assert page.status_code == 200
    assert "degraded" in page.get_data(as_text=True)
    status = client.get("/status.json").json
    assert status["ok"] is False and status["components"]["redis"] == {"ok": False}
    # the rate limiter lives in Redis too, but Redis away must not lock people out
    response = client.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": csrf_token(client)})
    assert response.status_code == 302
    assert client.get("/status.json").json["queues"] == {"ok": False, "error": "Redis unreachable"}


# --- status details ------------------------------------------------------------------------


def test_status_json_hides_details_from_anonymous_and_viewers(client, login_as):
    body = client.get("/status.json").json
    assert set(body) == {"ok", "components"}
    assert body["components"]["database"] == {"ok": True}
    login_as("viewer")
    assert set(client.get("/status.json").json) == {"ok", "components"}


def test_status_json_details_for_admins_and_the_metrics_token(app, client, login_as, monkeypatch, run_jobs):
    from webapp.core import jobs

    monkeypatch.setitem(app.config, "METRICS_TOKEN", METRICS_TOKEN)
    jobs.enqueue(print, "waiting", job_id="status-probe", queue="low")
    body = client.get("/status.json", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).json
    assert body["ok"] is True and body["environment"] == "development"
    assert body["components"]["database"]["dialect"] == "postgresql"
    assert body["queues"]["depths"] == {"high": 0, "default": 0, "low": 1}
    assert body["queues"]["failed"] == 0 and isinstance(body["queues"]["workers"], list)
    wrong = client.get("/status.json", headers={"Authorization": "Bearer not-the-token"}).json
    assert set(wrong) == {"ok", "components"}
    login_as("admin")
    assert client.get("/status.json").json["queues"]["depths"]["low"] == 1


def test_status_page_details_only_for_admins(client, login_as):
    anonymous = client.get("/status").get_data(as_text=True)
    assert "Database" in anonymous and "Failed jobs" not in anonymous and " ms<" not in anonymous
    login_as("admin")
    page = client.get("/status").get_data(as_text=True)
    assert "Failed jobs" in page and "Workers" in page and "/admin/rq/" in page
    fragment = client.get("/status", headers={"HX-Request": "true"})
    assert "HX-Request" in fragment.headers["Vary"]
    assert "<html" not in fragment.get_data(as_text=True) and 'id="status-panel"' in fragment.get_data(as_text=True)


def test_home_page_leaves_the_system_figures_to_the_status_page(client, login_as):
    login_as("viewer")
    page = client.get("/").get_data(as_text=True)
    assert 'id="status-panel"' not in page and "system all good" not in page and "system degraded" not in page
    login_as("admin")
    page = client.get("/").get_data(as_text=True)
    assert 'id="status-panel"' not in page and "Failed jobs" not in page
    assert re.search(r'class="badge badge-(ok|failed)">system (all good|degraded)</span>\s*<a href="/status">', page)


def test_home_page_system_line_asks_only_for_the_verdict(app, client, login_as, monkeypatch):
    """The line agrees with /status's verdict, without counting every stored webhook delivery (the home
    page asks every 10 s); a delivery waiting too long still turns it to degraded."""
    from webapp.ops.service import system_ok, system_status
    from webapp.webhooks import service as webhooks

    login_as("admin")
    with app.test_request_context():
        assert system_ok() is system_status()["ok"] is True

    def counted() -> dict[str, int]:
        raise AssertionError("the home page counted every delivery")

    monkeypatch.setattr(webhooks, "status_counts", counted)
    page = client.get("/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'class="badge badge-ok">system all good</span>' in page
    monkeypatch.setattr(webhooks, "oldest_pending_age", lambda: 24 * 3600.0)
    page = client.get("/", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert 'class="badge badge-failed">system degraded</span>' in page
    monkeypatch.setattr(webhooks, "status_counts", lambda: {"pending": 1})
    with app.test_request_context():
        assert system_ok() is system_status()["ok"] is False
        assert system_status()["components"]["webhooks"]["oldest_pending_seconds"] == 24 * 3600


def test_status_page_reads_as_words_not_python_values(client, login_as):
    login_as("admin")
    page = client.get("/status").get_data(as_text=True)
    assert "<header>GitHub</header>" in page and "<header>ECS</header>" in page
    assert "<header>Github</header>" not in page and "<header>Ecs</header>" not in page
    text = re.sub(r"<[^>]+>", " ", page.split('id="status-panel"', 1)[1])
    for raw in (" None ", " True ", " False ", "{}", "{'"):
        assert raw not in text, raw
    assert "<dt>Configured</dt><dd>yes</dd>" in re.sub(r">\s+<", "><", page)


# --- metrics -------------------------------------------------------------------------------


def scrape(client, **headers) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.get_data(as_text=True))
        for sample in family.samples
    }


def test_metrics_access(app, client, make_user, make_key, login_as, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", METRICS_TOKEN)
    response = client.get("/metrics")
    assert response.status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code in (401, 403)
    assert client.get("/metrics", headers=make_key(make_user("admin"), "read")).status_code == 403
    assert client.get("/metrics", headers=make_key(make_user("maintainer"), "read")).status_code == 403
    assert client.get("/metrics", headers=make_key(make_user("admin"), "admin")).status_code == 200
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
    login_as("viewer")
    assert client.get("/metrics").status_code == 403


def test_metrics_without_a_configured_token_refuse_every_bearer(client):
    assert client.get("/metrics", headers={"Authorization": "Bearer "}).status_code in (401, 403)


def test_metrics_count_requests_by_endpoint_and_status(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "METRICS_TOKEN", METRICS_TOKEN)
    auth = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    health = ("gantry_http_requests_total", (("endpoint", "/health"), ("method", "GET"), ("status", "200")))
    missing = ("gantry_http_requests_total", (("endpoint", "unmatched"), ("method", "GET"), ("status", "404")))
    refused = ("gantry_http_requests_total", (("endpoint", "/api/v1/me"), ("method", "GET"), ("status", "401")))
    latency = ("gantry_http_request_seconds_count", (("endpoint", "/health"), ("method", "GET")))
    before = scrape(client, **auth)
    for _ in range(3):
        client.get("/health")
    client.get("/api/v1/nope")
    client.get("/api/v1/me")
    after = scrape(client, **auth)
    assert after[health] - before.get(health, 0) == 3
    assert after[missing] - before.get(missing, 0) == 1
    assert after[refused] - before.get(refused, 0) == 1
    assert after[latency] - before.get(latency, 0) == 3


def test_metrics_show_queue_depths(app, client, monkeypatch):
    from webapp.core import jobs

    monkeypatch.setitem(app.config, "METRICS_TOKEN", METRICS_TOKEN)
    jobs.enqueue(print, "a", job_id="metrics-a", queue="high")
    jobs.enqueue(print, "b", job_id="metrics-b", queue="high")
    jobs.enqueue(print, "c", job_id="metrics-c", queue="default")
    samples = scrape(client, Authorization=f"Bearer {METRICS_TOKEN}")
    assert samples[("gantry_queue_depth", (("queue", "high"),))] == 2
    assert samples[("gantry_queue_depth", (("queue", "default"),))] == 1
    assert samples[("gantry_queue_depth", (("queue", "low"),))] == 0
    assert samples[("gantry_queue_failed_jobs", ())] == 0
    assert ("gantry_workers", ()) in samples


@pytest.mark.parametrize("spoil", ["expired", "revoked", "deactivated"])
def test_dead_admin_keys_see_no_metrics_or_details(client, make_user, make_key, db, spoil):
    from datetime import timedelta

    from webapp.auth.models import ApiKey
    from webapp.core.models import utcnow

    make_user("admin")  # stays admin, so the owner below may be deactivated
    owner = make_user("admin")
    headers = make_key(owner, "admin")
    assert client.get("/metrics", headers=headers).status_code == 200
    key = db.session.query(ApiKey).filter_by(user_id=owner.id).one()
    if spoil == "expired":
        key.expires_at = utcnow() - timedelta(seconds=1)
    elif spoil == "revoked":
        key.revoked_at = utcnow()
    else:
        owner.active = False
    db.session.commit()
    assert client.get("/metrics", headers=headers).status_code in (401, 403)
    assert set(client.get("/status.json", headers=headers).json) == {"ok", "components"}
