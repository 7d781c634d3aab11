"""Runner pages (pools list, editor, pool page with live fragment, runner page with stop), the
figures on /metrics, ECS on /status, and the demo data."""

from __future__ import annotations

from sqlalchemy import func, select

from tests.runners.conftest import launch_queued, new_job_id, workflow_job
from webapp.repos.models import RepositoryAccess
from webapp.runners.models import Runner, RunnerPool, WorkflowJob


def _form(fake_aws, **overrides):
    data = {"scope": "repository", "owner": "1001", "name": "linux", "labels": "self-hosted, linux",
            "max_runners": "3", "min_idle": "0", "idle_timeout_seconds": "300", "boot_timeout_seconds": "600",
            "region": fake_aws.region, "cluster": fake_aws.cluster, "task_definition": fake_aws.task_definition,
            "capacity": "FARGATE", "subnets": fake_aws.subnet_id, "security_groups": fake_aws.security_group_id,
            "container_name": "runner", "cpu": "", "memory": "", "cost_per_vcpu_hour": "0.04",
            "cost_per_gb_hour": "0.004", "enabled": "1"}
    data.update(overrides)
    return data


def test_pages_need_a_sign_in(client):
    for url in ("/runners/", "/runners/pools/new", "/runners/pools/1", "/runners/1"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"], url


def test_a_viewer_sees_their_repositories_pools_and_organisation_pools(client, db, login_as, make_pool, world):
    make_pool(name="infrajet-pool")
    make_pool(name="widgets-pool", repository_id=1002)
    make_pool(name="org-pool", scope="organization", repository_id=None)
    viewer = login_as("viewer")
    db.session.add(RepositoryAccess(user_id=viewer.id, repository_id=1001, permission="read"))
    db.session.commit()
    page = client.get("/runners/").get_data(as_text=True)
    assert "infrajet-pool" in page and "org-pool" in page and "widgets-pool" not in page
    assert "New pool" not in page


def test_a_viewer_cannot_open_the_editor(client, login_as, world):
    login_as("viewer")
    assert client.get("/runners/pools/new").status_code == 403


def test_create_a_pool_from_the_editor_with_inline_errors(client, db, browser, make_user, fake_aws, world):
    user = make_user("maintainer")
    db.session.add(RepositoryAccess(user_id=user.id, repository_id=1001, permission="write"))
    db.session.commit()
    browser.login(user.username)
    page = client.get("/runners/pools/new")
    assert page.status_code == 200 and b"acme/infrajet" in page.data and b"acme/widgets" not in page.data
    bad = browser.post("/runners/pools/new", _form(fake_aws, cluster="missing", min_idle="9"), htmx=True)
    assert bad.status_code == 422
    assert b"cannot be more than max_runners" in bad.data
    assert db.session.scalar(select(func.count()).select_from(RunnerPool)) == 0
    bad = browser.post("/runners/pools/new", _form(fake_aws, cluster="missing"), htmx=True)
    assert bad.status_code == 422 and b"no active ECS cluster" in bad.data and b'value="linux"' in bad.data
    good = browser.post("/runners/pools/new", _form(fake_aws), htmx=True)
    assert good.status_code == 204, good.data
    pool = db.session.scalar(select(RunnerPool))
    assert good.headers["HX-Redirect"] == f"/runners/pools/{pool.id}"
    assert pool.labels == ["self-hosted", "linux"] and pool.subnets == [fake_aws.subnet_id]
    edited = browser.post(f"/runners/pools/{pool.id}/edit", _form(fake_aws, max_runners="7"))
    assert edited.status_code == 302
    db.session.expire_all()
    assert db.session.get(RunnerPool, pool.id).max_runners == 7


def test_pool_page_shows_runners_waiting_jobs_figures_and_a_live_fragment(app, client, db, login_as, make_pool,
                                                                            fake_aws, fake_github, handle):
    pool = make_pool(name="linux", aws=fake_aws, max_runners=1)
    first, second = new_job_id(), new_job_id()
    handle(workflow_job("queued", first))
    handle(workflow_job("queued", second))
    launch_queued(app)
    runner = db.session.scalar(select(Runner))
    handle(workflow_job("in_progress", first, runner_name=runner.name))
    login_as("admin")
    page = client.get(f"/runners/pools/{pool.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert runner.name in html and 'hx-trigger="every 5s"' in html
    assert "Job wait, queued" in html and "<svg" in html  # the wait histogram
    assert html.count('id="pool-live"') == 1
    fragment = client.get(f"/runners/pools/{pool.id}", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="pool-live"') and "<html" not in fragment
    assert "No job waiting" not in fragment  # the second job still waits for the only slot
    assert "Runners alive" in fragment


def test_runner_page_timeline_and_confirmed_stop(app, client, db, login_as, make_pool, fake_aws, fake_github,
                                                 handle, browser):
    make_pool(name="linux", aws=fake_aws)
    handle(workflow_job("queued", new_job_id()))
    launch_queued(app)
    runner = db.session.scalar(select(Runner))
    login_as("admin")
    page = client.get(f"/runners/{runner.id}").get_data(as_text=True)
    assert runner.task_arn in page and "requested" in page and "launching" in page
    assert "hx-confirm=" in page and "Stop runner" in page
    stopped = browser.post(f"/runners/{runner.id}/stop", htmx=True)
    assert stopped.status_code == 200
    assert "Stopped by" in stopped.get_data(as_text=True)
    assert fake_aws.running_tasks() == []


def test_stop_of_a_busy_runner_is_refused_inline(app, client, db, login_as, make_pool, fake_aws, fake_github,
                                                  handle, browser):
    make_pool(name="linux", aws=fake_aws)
    job_id = new_job_id()
    handle(workflow_job("queued", job_id))
    launch_queued(app)
    runner = db.session.scalar(select(Runner))
    handle(workflow_job("in_progress", job_id, runner_name=runner.name))
    login_as("admin")
    refused = browser.post(f"/runners/{runner.id}/stop", htmx=True)
    assert refused.status_code == 409 and "running a job" in refused.get_data(as_text=True)
    assert fake_aws.running_tasks() == [runner.task_arn]


def test_figures_on_metrics_and_ecs_on_status(app, client, db, make_pool, fake_aws, fake_github, handle,
                                              make_user, make_key):
    make_pool(name="linux", aws=fake_aws)
    job_id = new_job_id()
    handle(workflow_job("queued", job_id))
    launch_queued(app)
    runner = db.session.scalar(select(Runner))
    handle(workflow_job("in_progress", job_id, runner_name=runner.name))
    handle(workflow_job("completed", job_id, runner_name=runner.name))
    handle(workflow_job("queued", new_job_id(), labels=["self-hosted", "arm64"]))  # unmatched
    headers = make_key(make_user("admin"), "admin")
    metrics = client.get("/metrics", headers=headers).get_data(as_text=True)
    assert 'gantry_runners{pool="linux",state="finished"} 1.0' in metrics
    assert 'gantry_runner_job_wait_seconds_bucket{le="60.0",pool="linux"} 1.0' in metrics
    assert 'gantry_runner_job_wait_seconds_count{pool="linux"} 1.0' in metrics
    assert 'gantry_runner_seconds_total{pool="linux",repository="acme/infrajet"}' in metrics
    assert 'gantry_runner_cost_usd_total{pool="linux",repository="acme/infrajet"}' in metrics
    assert 'gantry_runner_jobs_waiting{pool="unmatched"} 1.0' in metrics
    status = client.get("/status.json", headers=headers).json
    assert status["components"]["ecs"]["ok"] is True and status["components"]["ecs"]["clusters"] == 1
    fake_aws.ecs.delete_cluster(cluster=fake_aws.cluster)
    status = client.get("/status.json", headers=headers).json
    assert status["components"]["ecs"]["ok"] is False and "gantry-runners" in status["components"]["ecs"]["error"]


def test_launch_failures_show_on_metrics_and_the_pool_page(client, db, make_pool, login_as, make_user, make_key,
                                                           world):
    from webapp.runners.models import RunnerEvent

    pool = make_pool(name="linux")
    runner = Runner(pool_id=pool.id, name="gantry-linux-1", launch_token="a" * 32, state="failed")
    db.session.add(runner)
    db.session.flush()
    db.session.add_all([RunnerEvent(runner_id=runner.id, pool_id=pool.id, kind="launch_failed", reason="capacity",
                                    message="RunTask: RESOURCE:MEMORY") for _ in range(2)])
    db.session.commit()
    metrics = client.get("/metrics", headers=make_key(make_user("admin"), "admin")).get_data(as_text=True)
    assert 'gantry_runner_launch_failures_total{pool="linux",reason="capacity"} 2.0' in metrics
    login_as("admin")
    assert "<code>capacity</code></td><td>2</td>" in client.get(f"/runners/pools/{pool.id}").get_data(as_text=True)


def test_seed_demo_fills_the_pages(app, client, db, login_as):
    from webapp.runners.demo import seed_runners

    seed_runners(None)
    seed_runners(None)  # idempotent
    assert db.session.scalar(select(func.count()).select_from(RunnerPool)) == 2
    assert db.session.scalar(select(func.count()).select_from(WorkflowJob)) == 62
    login_as("admin")
    listing = client.get("/runners/").get_data(as_text=True)
    assert "linux" in listing and "gpu" in listing and "arm build" in listing
    pool = db.session.scalar(select(RunnerPool).where(RunnerPool.name == "linux"))
    page = client.get(f"/runners/pools/{pool.id}").get_data(as_text=True)
    assert "Runner time and estimated cost" in page and "gantry-demo/engine" in page  # no repository mirrored yet
    assert "blazeci" not in page  # the demo names no other product


def test_a_pool_with_launching_off_is_created_without_aws(client, db, browser, make_user, fake_aws, world, app,
                                                          monkeypatch):
    """No AWS credentials: the form says so first, starts with launching off, and saves without asking AWS."""
    monkeypatch.setitem(app.config, "AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing answers there
    monkeypatch.setattr("webapp.runners.pools.credentials_configured", lambda: False)
    admin = make_user("admin")
    browser.login(admin.username)
    form = client.get("/runners/pools/new").get_data(as_text=True)
    assert "Gantry has no AWS credentials yet" in form
    assert 'name="enabled" value="1" aria-describedby="f-enabled-help">' in form  # unchecked
    off = _form(fake_aws, cluster="not-checked")
    del off["enabled"]
    created = browser.post("/runners/pools/new", off, htmx=True)
    assert created.status_code == 204, created.data
    pool = db.session.scalar(select(RunnerPool))
    assert pool.enabled is False and pool.cluster == "not-checked"


def test_no_aws_credentials_is_a_clear_inline_error_not_a_503(client, db, browser, make_user, fake_aws, world,
                                                             monkeypatch):
    from botocore.exceptions import NoCredentialsError

    from webapp.integrations.ecs import Aws

    def no_credentials(*args, **kwargs):
        raise NoCredentialsError()

    monkeypatch.setattr(Aws, "client", no_credentials)
    browser.login(make_user("admin").username)
    answer = browser.post("/runners/pools/new", _form(fake_aws), htmx=True)
    assert answer.status_code == 422
    body = answer.get_data(as_text=True)
    assert "Save the pool with launching off" in body and "AwsError" not in body
    assert db.session.scalar(select(func.count()).select_from(RunnerPool)) == 0
