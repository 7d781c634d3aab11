"""rq-dashboard at /admin/rq: admins only, and nothing changes queues on a GET or from another site."""

from __future__ import annotations

import pytest

ORIGIN = {"Origin": "http://localhost"}


def explode() -> None:
    raise RuntimeError("this job fails on purpose")


@pytest.fixture
def failed_job(app, run_jobs):
    from webapp.core import jobs

    jobs.enqueue(explode, job_id="doomed", retry=None)
    run_jobs()
    assert jobs.failed_job_count() == 1
    return "doomed"


def test_anonymous_goes_to_sign_in(client):
    response = client.get("/admin/rq/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=/admin/rq/")


@pytest.mark.parametrize("role", ["viewer", "maintainer"])
def test_non_admins_are_refused(client, login_as, role):
    login_as(role)
    assert client.get("/admin/rq/").status_code == 403
    assert client.get("/admin/rq/0/data/queues.json").status_code == 403
    assert client.post("/admin/rq/requeue/default", headers=ORIGIN).status_code == 403


def test_admin_sees_the_dashboard(client, login_as):
    from webapp.core import jobs

    for queue in ("high", "default", "low"):
        jobs.enqueue(print, queue, job_id=f"seen-{queue}", queue=queue)
    login_as("admin")
    response = client.get("/admin/rq/")
    assert response.status_code == 200
    assert "RQ" in response.get_data(as_text=True)
    queues = client.get("/admin/rq/0/data/queues.json")
    assert queues.status_code == 200
    assert {"high", "default", "low"} <= {q["name"] for q in queues.json["queues"]}


def test_api_keys_do_not_open_the_dashboard(client, make_user, make_key):
    response = client.get("/admin/rq/", headers=make_key(make_user("admin"), "admin"))
    assert response.status_code == 302


def test_get_never_requeues(client, login_as, failed_job):
    from webapp.core import jobs

    login_as("admin")
    response = client.get("/admin/rq/requeue/default")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert client.get(f"/admin/rq/job/{failed_job}/requeue").status_code == 405
    assert jobs.failed_job_count() == 1
    assert jobs.queue_depths()["default"] == 0


def test_post_from_the_dashboard_requeues(client, login_as, failed_job):
    from webapp.core import jobs

    login_as("admin")
    response = client.post("/admin/rq/requeue/default", headers=ORIGIN)
    assert response.status_code == 200
    assert response.json["count"] == 1
    assert jobs.failed_job_count() == 0
    assert jobs.queue_depths()["default"] == 1


@pytest.mark.parametrize("headers", [
    {},
    {"Origin": "http://evil.example"},
    {"Origin": "http://localhost.evil.example"},
    {"Origin": "https://localhost"},
    {"Referer": "http://localhost.evil.example/admin/rq/"},
])
def test_cross_site_posts_are_refused(client, login_as, failed_job, headers):
    from webapp.core import jobs

    login_as("admin")
    response = client.post("/admin/rq/requeue/default", headers=headers)
    assert response.status_code == 403
    assert jobs.failed_job_count() == 1


def test_same_site_referer_is_enough(client, login_as, failed_job):
    from webapp.core import jobs

    login_as("admin")
    response = client.post(f"/admin/rq/job/{failed_job}/delete", headers={"Referer": "http://localhost/admin/rq/"})
    assert response.status_code == 200
    assert jobs.job_status(failed_job) is None


def test_dashboard_scripts_are_allowed_by_hash_only(client, login_as):
    """Its inline page script runs (allowed by its hash) and nothing else inline would."""
    import base64
    import hashlib
    import re

    login_as("admin")
    response = client.get("/admin/rq/")
    page = response.get_data(as_text=True)
    inline = re.findall(r"<script(?![^>]*\bsrc=)(?![^>]*text/template)[^>]*>(.*?)</script>", page, re.S)
    assert inline, "rq-dashboard renders its logic inline"
    directives = dict(d.strip().split(" ", 1) for d in response.headers["Content-Security-Policy"].split(";")
                      if d.strip())
    script_src = directives["script-src"].split()
    for script in inline:
        digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in script_src
    assert "'unsafe-inline'" not in script_src
    assert directives["frame-ancestors"] == "'none'"
    # everywhere else the policy stays strict
    assert "unsafe-eval" not in client.get("/status").headers["Content-Security-Policy"]


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS", "GET"])
def test_no_safe_method_changes_queues(client, login_as, failed_job, method):
    """HEAD is served by Flask as a GET (and skips the same-origin check): refused like GET."""
    from webapp.core import jobs

    login_as("admin")
    for path in ("/admin/rq/requeue/default", f"/admin/rq/job/{failed_job}/requeue",
                 f"/admin/rq/job/{failed_job}/delete", "/admin/rq/queue/default/failed/empty",
                 "/admin/rq/queue/default/compact"):
        response = client.open(path, method=method)
        assert response.status_code == 405, path
        assert "POST" in response.headers["Allow"] and "GET" not in response.headers["Allow"]
    assert jobs.failed_job_count() == 1
    assert jobs.queue_depths()["default"] == 0
