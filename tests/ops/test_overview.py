"""The overview page: each capability's figures, with the right numbers and links for whoever looks."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from webapp.core.models import utcnow

VISIBLE, HIDDEN = 5001, 5002  # the viewer and the maintainer may read VISIBLE only

SECTION = re.compile(r'<section class="overview-section">\s*<h2>(.*?)</h2>(.*?)</section>', re.S)
CARD = re.compile(r'<article class="card card-(\w+)">\s*<header>(?:<a href="([^"]*)">)?(.*?)(?:</a>)?</header>\s*'
                  r'<p class="figure">(?:<a href="[^"]*">)?(.*?)(?:</a>)?</p>\s*(?:<small>(.*?)</small>)?', re.S)


def cards_of(page: str) -> dict[str, dict[str, dict[str, str]]]:
    """{section: {title: {"value", "link", "detail", "state"}}} as the page shows them."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for section, body in SECTION.findall(page):
        found[html.unescape(section)] = {
            html.unescape(title): {"value": html.unescape(value), "link": html.unescape(link or ""),
                                   "detail": html.unescape(detail or ""), "state": state}
            for state, link, title, value, detail in CARD.findall(body)}
    return found


@pytest.fixture
def world(db: Any, clock: Any) -> None:
    """Two repositories and, for each capability, rows in both (the hidden one's are all extra).

    The clock stands at midday, so "yesterday" (25 hours ago) is yesterday whatever the hour the
    suite runs at; before, from 00:00 to 01:00 UTC it fell two days back.
    """
    clock.now = clock.now.replace(hour=12, minute=0, second=0)
    from webapp.builds.catalogue import load_default_catalogue
    from webapp.builds.models import Build, ImageType, OsVersion, Platform
    from webapp.forwarding.models import ForwardTarget, ForwardTargetRepository
    from webapp.repos.models import Installation, Repository
    from webapp.runners.models import Runner, RunnerPool, WorkflowJob
    from webapp.webhooks.models import WebhookDelivery

    load_default_catalogue()
    now = utcnow()
    db.session.add(Installation(id=301, account_login="acme", account_type="Organization"))
    db.session.flush()
    db.session.add_all([Repository(id=rid, installation_id=301, owner="acme", name=name, full_name=f"acme/{name}")
                        for rid, name in ((VISIBLE, "infrajet"), (HIDDEN, "secret"))])
    db.session.flush()

    platform = db.session.query(Platform).filter_by(slug="aws-commercial").one()
    os_version = db.session.query(OsVersion).filter_by(slug="rhel-8.8").one()
    image = db.session.query(ImageType).filter_by(slug="base").one()
    serial = iter(range(1, 1000))

    def build(repo: int | None, result: str, code: int, created: Any = None) -> Build:
        return Build(build_id=f"b-{next(serial)}", platform_id=platform.id, os_version_id=os_version.id,
                     image_type_id=image.id, repository_id=repo, current_state_code=code, result=result,
                     created_at=created or now)

    yesterday = now - timedelta(days=1, hours=1)
    db.session.add_all([
        build(VISIBLE, "in_progress", 20), build(None, "in_progress", 15), build(HIDDEN, "in_progress", 20),
        build(VISIBLE, "succeeded", 100), build(VISIBLE, "succeeded", 100), build(VISIBLE, "failed", 910),
        build(None, "succeeded", 100), build(VISIBLE, "cancelled", 990),
        build(HIDDEN, "failed", 900), build(HIDDEN, "failed", 900), build(HIDDEN, "failed", 900),
        build(VISIBLE, "failed", 900, created=yesterday),  # not today's
    ])

    pool_fields = {"scope": "repository", "installation_id": 301, "labels": ["self-hosted", "linux"],
                   "region": "us-east-1", "cluster": "c", "task_definition": "t"}
    pools = {rid: RunnerPool(name=f"pool-{rid}", repository_id=rid, **pool_fields) for rid in (VISIBLE, HIDDEN)}
    db.session.add_all(pools.values())
    db.session.flush()
    runner_states = {VISIBLE: ["busy", "busy", "idle", "requested", "launching", "finished", "failed"],
                     HIDDEN: ["busy", "idle", "idle", "launching"]}
    for rid, states in runner_states.items():
        for state in states:
            db.session.add(Runner(pool_id=pools[rid].id, name=f"gantry-{rid}-{next(serial)}", state=state,
                                  repository_id=rid))
    job_ids = iter(range(70_000, 71_000))

    def job(repo: int, status: str, waited: timedelta, *, pool: bool = True, self_hosted: bool = True) -> None:
        db.session.add(WorkflowJob(github_job_id=next(job_ids), repository_id=repo, status=status,
                                   pool_id=pools[repo].id if pool else None, self_hosted=self_hosted,
                                   queued_at=now - waited))

    job(VISIBLE, "queued", timedelta(minutes=7))
    job(VISIBLE, "queued", timedelta(seconds=40), pool=False)  # no pool matches it (yet)
    job(VISIBLE, "queued", timedelta(hours=5), pool=False, self_hosted=False)  # a GitHub-hosted job
    job(VISIBLE, "in_progress", timedelta(hours=2))
    job(HIDDEN, "waiting", timedelta(hours=3))

    def delivery(repo: int | None, status: str, received: Any = None) -> WebhookDelivery:
        return WebhookDelivery(delivery_id=f"d-{next(serial)}", event="push", repository_id=repo, payload={},
                               status=status, received_at=received or now)

    db.session.add_all([
        delivery(VISIBLE, "failed"), delivery(VISIBLE, "failed"), delivery(HIDDEN, "failed"),
        delivery(None, "failed"), delivery(VISIBLE, "failed", now - timedelta(days=2)),
        delivery(VISIBLE, "retrying"), delivery(HIDDEN, "retrying"), delivery(VISIBLE, "handled"),
    ])

    def target(name: str, repos: list[int], *, active: bool = True, failing: bool = False) -> None:
        item = ForwardTarget(name=name, url="https://deploy.example.com/hook", secret="s" * 32, active=active,
                             failing_since=now if failing else None,
                             repositories=[ForwardTargetRepository(repository_id=r) for r in repos])
        db.session.add(item)

    target("mine-off", [VISIBLE], active=False)
    target("mine-failing", [VISIBLE], failing=True)
    target("mine-fine", [VISIBLE])
    target("hidden-off", [HIDDEN], active=False)
    target("shared-off", [VISIBLE, HIDDEN], active=False)
    target("everything-off", [], active=False)
    db.session.commit()


@pytest.fixture
def reader(client: Any, make_user: Callable[..., Any], db: Any) -> Callable[[str], Any]:
    """Sign in as a new user of `role` who may read only the VISIBLE repository."""
    from tests.conftest import Browser
    from webapp.repos.models import RepositoryAccess

    def sign_in(role: str) -> Any:
        user = make_user(role)
        db.session.add(RepositoryAccess(user_id=user.id, repository_id=VISIBLE, permission="write"))
        db.session.commit()
        assert Browser(client).login(user.username).status_code in (302, 303)
        return user

    return sign_in


def test_admin_sees_every_figure_with_its_number_and_link(world: None, client: Any, login_as: Any) -> None:
    from tasks.webhooks import sweep_pending_deliveries
    from webapp.core.jobs import enqueue

    enqueue(sweep_pending_deliveries, job_id="overview-test-1", queue="low")
    enqueue(sweep_pending_deliveries, job_id="overview-test-2", queue="low")
    login_as("admin")
    response = client.get("/")
    assert response.status_code == 200
    cards = cards_of(response.get_data(as_text=True))

    builds = cards["Builds"]
    assert builds["In flight"]["value"] == "3"
    assert builds["In flight"]["link"] == "/builds?result=in_progress"
    # today: 3 succeeded, 4 failed (cancelled and yesterday's failure do not count)
    assert builds["Success today"]["value"] == "43 %"
    assert builds["Success today"]["detail"] == "3 of 7 finished builds started today (UTC)"
    assert builds["Success today"]["link"] == "/builds/dashboard"

    runners = cards["Runners"]
    assert {t: runners[t]["value"] for t in ("Busy", "Idle", "Launching", "Jobs waiting")} == {
        "Busy": "3", "Idle": "3", "Launching": "3", "Jobs waiting": "3"}
    assert runners["Jobs waiting"]["detail"] == "longest wait 3 h 0 min"
    assert runners["Jobs waiting"]["state"] == "failed"
    assert {c["link"] for c in runners.values()} == {"/runners/"}

    webhooks = cards["Webhooks"]
    assert webhooks["Failed (24 h)"]["value"] == "4"
    assert webhooks["Failed (24 h)"]["link"] == "/webhook-deliveries?status=failed"
    assert webhooks["Retrying"]["value"] == "2"
    assert webhooks["Retrying"]["link"] == "/webhook-deliveries?status=retrying"

    forwarding = cards["Forwarding"]
    assert forwarding["Targets disabled"]["value"] == "4"
    assert forwarding["Targets disabled"]["state"] == "failed"
    assert forwarding["Targets failing"]["value"] == "1"
    assert forwarding["Targets disabled"]["link"] == "/forwarding"

    # queue and worker figures are /status's, not repeated here
    assert "Queues" not in cards
    assert list(cards)[:2] == ["Builds", "Runners"]


def test_viewer_sees_only_figures_of_repositories_they_can_read(world: None, client: Any, reader: Any) -> None:
    reader("viewer")
    cards = cards_of(client.get("/").get_data(as_text=True))

    assert cards["Builds"]["In flight"]["value"] == "2"  # VISIBLE's and the one without a repository
    assert cards["Builds"]["Success today"]["value"] == "75 %"
    assert {t: c["value"] for t, c in cards["Runners"].items()} == {
        "Busy": "2", "Idle": "1", "Launching": "2", "Jobs waiting": "2"}
    assert cards["Runners"]["Jobs waiting"]["detail"] == "longest wait 7 min"
    assert cards["Runners"]["Jobs waiting"]["state"] == "warn"
    assert cards["Webhooks"]["Failed (24 h)"]["value"] == "2"
    assert cards["Webhooks"]["Retrying"]["value"] == "1"
    # forwarding pages are for maintainers, queues for admins: no figures that would link to a 403
    assert "Forwarding" not in cards
    assert "Queues" not in cards


def test_maintainer_sees_only_targets_of_their_repositories(world: None, client: Any, reader: Any) -> None:
    reader("maintainer")
    cards = cards_of(client.get("/").get_data(as_text=True))

    assert cards["Forwarding"]["Targets disabled"]["value"] == "1"  # mine-off; not hidden, shared or global
    assert cards["Forwarding"]["Targets failing"]["value"] == "1"
    assert "Queues" not in cards


def test_empty_figures_read_as_nothing_to_worry_about(client: Any, login_as: Any) -> None:
    login_as("admin")
    cards = cards_of(client.get("/").get_data(as_text=True))

    assert cards["Builds"]["In flight"]["value"] == "0"
    assert cards["Builds"]["Success today"]["value"] == "n/a"
    assert cards["Runners"]["Jobs waiting"] == {"value": "0", "link": "/runners/",
                                                "detail": "no job waits for a runner", "state": "ok"}
    assert cards["Webhooks"]["Failed (24 h)"]["state"] == "ok"


def test_a_failing_source_shows_as_one_unavailable_card(world: None, client: Any, login_as: Any,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import redis

    def redis_down(*args: Any, **kwargs: Any) -> dict[str, int]:
        raise redis.exceptions.ConnectionError("Redis went away")

    from webapp.webhooks import overview

    monkeypatch.setattr(overview, "restrict_to_visible", redis_down)
    login_as("admin")
    response = client.get("/")
    assert response.status_code == 200
    cards = cards_of(response.get_data(as_text=True))
    assert cards["Webhooks"] == {"Webhooks": {
        "value": "unavailable", "link": "", "detail": "these figures could not be read (ConnectionError)",
        "state": "failed"}}
    assert cards["Builds"]["In flight"]["value"] == "3"  # the other sections still answer


def test_live_refresh_returns_only_the_panel(world: None, client: Any, login_as: Any) -> None:
    login_as("admin")
    response = client.get("/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div id="overview-panel"')
    assert "<html" not in body and "<nav" not in body
    assert 'hx-trigger="every 10s"' in body
    assert "HX-Request" in response.headers.get("Vary", "")
    assert cards_of(body)["Builds"]["In flight"]["value"] == "3"


def test_anonymous_is_sent_to_sign_in(client: Any) -> None:
    response = client.get("/")
    assert response.status_code in (302, 303)
    assert "/login" in response.headers["Location"]


ATTENTION = re.compile(r'<li class="attention-(\w+)">.*?<a href="([^"]*)"><strong>(.*?)</strong> (.*?)</a>', re.S)


def test_what_needs_attention_comes_first_with_a_link(world: None, client: Any, login_as: Any) -> None:
    login_as("admin")
    page = client.get("/").get_data(as_text=True)
    attention = {html.unescape(what): (state, html.unescape(link), value)
                 for state, link, value, what in ATTENTION.findall(page)}
    assert attention["Runners: jobs waiting"] == ("failed", "/runners/", "3")
    assert attention["Webhooks: failed (24 h)"] == ("failed", "/webhook-deliveries?status=failed", "4")
    assert attention["Webhooks: retrying"] == ("warn", "/webhook-deliveries?status=retrying", "2")
    assert "Builds: in flight" not in attention  # figures without a problem stay in the health part
    assert page.index("Needs attention") < page.index('<section class="overview-section">')


def test_each_capability_shows_a_seven_day_trend(world: None, client: Any, login_as: Any) -> None:
    from webapp.core.overview import forget_remembered

    forget_remembered()
    login_as("admin")
    page = client.get("/").get_data(as_text=True)
    trend = re.search(r'aria-label="failed builds per day, last 7 days: ([\d, ]+)"', page)
    assert trend is not None
    days = [int(n) for n in trend.group(1).split(", ")]
    assert len(days) == 7 and days[-1] == 4 and days[-2] == 1  # today: VISIBLE's one + HIDDEN's three
    assert "failed deliveries per day" in page


def test_nothing_to_do_reads_as_all_clear(client: Any, login_as: Any) -> None:
    login_as("viewer")
    page = client.get("/").get_data(as_text=True)
    assert "Nothing is failing, stuck or waiting." in page
    assert "Set up Gantry" not in page  # the checklist is for admins
    assert "system all good" not in page and "system degraded" not in page


def pool_world(db: Any) -> None:
    from webapp.repos.models import Installation, Repository
    from webapp.runners.models import RunnerPool

    db.session.add(Installation(id=302, account_login="acme", account_type="Organization"))
    db.session.flush()
    db.session.add(Repository(id=5003, installation_id=302, owner="acme", name="infra", full_name="acme/infra"))
    db.session.flush()
    db.session.add(RunnerPool(name="linux", scope="repository", repository_id=5003, installation_id=302,
                              labels=["self-hosted"], region="us-east-1", cluster="c", task_definition="t"))
    db.session.commit()


def test_admins_see_the_setup_checklist_until_it_is_done(client: Any, login_as: Any, app: Any, db: Any,
                                                         make_user: Any, make_key: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setitem(app.config, "AWS_ENDPOINT_URL", "")
    login_as("admin")
    page = client.get("/").get_data(as_text=True)
    assert "Set up Gantry" in page
    for step, link in (("Create a runner pool", "/runners/pools/new"), ("Create an API key", "/account/api-keys"),
                       ("Give Gantry AWS credentials", "/runners/")):
        assert f'<a href="{link}">{step}</a>' in page

    assert '<a href="/github/app">Connect a GitHub App</a>' not in page  # the tests' App is configured

    # with credentials, a pool and a key, every step is done and the checklist goes away
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    make_key(make_user("admin"), "read")
    pool_world(db)
    assert "Set up Gantry" not in client.get("/").get_data(as_text=True)
