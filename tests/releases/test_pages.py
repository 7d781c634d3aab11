"""The pages: releases per repository, preview and cut, the release page and its pipeline, settings, figures."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from tests.releases.helpers import environment, published_release


def test_preview_then_cut_from_the_repository_page(browser: Any, login_as: Any, grant: Any, commit: Any,
                                                   fake_github: Any, db: Any) -> None:
    user = login_as("maintainer")
    grant(user)
    commit("feat(ui): dark mode", "fix: crash")
    page = browser.get("/repos/1001/releases")
    assert page.status_code == 200 and "New release" in page.get_data(as_text=True)
    preview = browser.post("/repos/1001/releases/preview", {"target": "main"}, htmx=True)
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "v0.1.0" in html and "Features" in html and "dark mode" in html
    assert "<html" not in html  # a fragment
    assert not fake_github.calls("POST", r"^/repos/")
    cut = browser.post("/repos/1001/releases", {"target": "main", "version": "0.1.0", "title": "First"}, htmx=True)
    assert cut.status_code == 204 and re.match(r"/releases/\d+$", cut.headers["HX-Redirect"])
    release_page = browser.get(cut.headers["HX-Redirect"]).get_data(as_text=True)
    assert "First" in release_page and "Publish to GitHub" in release_page and "dark mode" in release_page


def test_bad_input_is_shown_inline(browser: Any, login_as: Any, grant: Any, commit: Any) -> None:
    grant(login_as("maintainer"))
    commit("feat: x")
    answer = browser.post("/repos/1001/releases/preview", {"target": "nope"}, htmx=True)
    assert answer.status_code == 422 and "is not a branch, tag or commit" in answer.get_data(as_text=True)
    bad_version = browser.post("/repos/1001/releases", {"target": "main", "version": "banana"}, htmx=True)
    assert bad_version.status_code == 422 and "not a semantic version" in bad_version.get_data(as_text=True)


def test_release_page_pipeline_and_actions(browser: Any, login_as: Any, grant: Any, commit: Any, make_user: Any,
                                          db: Any) -> None:
    sha = commit("feat: x")[-1]
    author = make_user("maintainer", username="author")
    dev = environment("dev", 0, required_approvals=1)
    environment("production", 1)
    release = published_release("1.0.0", sha, author)
    release_id, dev_id = release.id, dev.id
    me = login_as("maintainer")
    grant(me)
    page = browser.get(f"/releases/{release_id}").get_data(as_text=True)
    assert 'hx-trigger="every 5s"' in page and "Promote to dev" in page and "Promote to production" not in page
    promoted = browser.post(f"/releases/{release_id}/environments/{dev_id}/promote", {}, htmx=True)
    html = promoted.get_data(as_text=True)
    assert promoted.status_code == 200 and "pending approval" in html and "Approve" in html
    from webapp.releases.models import Deployment

    deployment_id = db.session.query(Deployment.id).scalar()
    approved = browser.post(f"/releases/{release_id}/deployments/{deployment_id}/approve", {"comment": "ok"},
                            htmx=True)
    assert approved.status_code == 200 and "queued" in approved.get_data(as_text=True)
    again = browser.post(f"/releases/{release_id}/environments/{dev_id}/promote", {}, htmx=True)
    assert again.status_code == 409 and "already on its way" in again.get_data(as_text=True)
    fragment = browser.get(f"/releases/{release_id}?part=pipeline", htmx=True).get_data(as_text=True)
    assert "<html" not in fragment and "stage-" in fragment


def test_viewers_see_pages_without_actions(browser: Any, login_as: Any, grant: Any, commit: Any,
                                           make_user: Any) -> None:
    sha = commit("feat: x")[-1]
    environment("dev", 0)
    release_id = published_release("1.0.0", sha, make_user("maintainer")).id
    grant(login_as("viewer"), permission="read")
    page = browser.get(f"/releases/{release_id}").get_data(as_text=True)
    assert "1.0.0" in page and "Promote to" not in page and "Publish to GitHub" not in page
    assert browser.post(f"/releases/{release_id}/publish", {}).status_code == 403
    assert "New release" not in browser.get("/repos/1001/releases").get_data(as_text=True)


def test_environment_settings_page(browser: Any, login_as: Any, grant: Any, repo: Any, make_user: Any,
                                   db: Any) -> None:
    login_as("admin")  # gates are an admin's to set
    make_user("admin", username="boss")
    created = browser.post("/repos/1001/environments", {
        "name": "production", "required_approvals": "2", "approver_role": "admin", "approvers": "boss",
        "freeze_windows": "0 18 * * 5 | 3600 | Europe/London | weekend", "auto_promote": "1"}, htmx=True)
    html = created.get_data(as_text=True)
    assert created.status_code == 201 and "production" in html and "boss" in html and "weekend" in html
    from webapp.releases.models import Environment

    env = db.session.query(Environment).one()
    assert env.freeze_windows == [{"cron": "0 18 * * 5", "duration_minutes": 3600, "timezone": "Europe/London",
                                   "reason": "weekend"}]
    bad = browser.post("/repos/1001/environments", {"name": "qa", "freeze_windows": "0 18 * * 5 | 60 | Nowhere/City"},
                       htmx=True)
    assert bad.status_code == 422 and "IANA time zone" in bad.get_data(as_text=True)
    unknown = browser.post("/repos/1001/environments", {"name": "qa", "approvers": "ghost"}, htmx=True)
    assert unknown.status_code == 422 and "no user named ghost" in unknown.get_data(as_text=True)
    duplicate = browser.post("/repos/1001/environments", {"name": "production"}, htmx=True)
    assert duplicate.status_code == 409


def test_delivery_figures_are_drawn_as_svg(browser: Any, login_as: Any, grant: Any, commit: Any, make_user: Any,
                                           db: Any, client: Any, make_key: Any) -> None:
    from webapp.core.models import utcnow
    from webapp.releases.models import Deployment

    sha = commit("feat: x")[-1]
    prod = environment("production", 0)
    author = make_user("maintainer")
    now = utcnow()
    v1 = published_release("1.0.0", sha, author, commit_dates=[(now - timedelta(days=3)).isoformat()])
    v2 = published_release("1.1.0", sha, author, commit_dates=[(now - timedelta(days=2)).isoformat()])
    db.session.add_all([
        Deployment(repository_id=1001, release_id=v1.id, environment_id=prod.id, status="succeeded",
                   finished_at=now - timedelta(days=2)),
        Deployment(repository_id=1001, release_id=v2.id, environment_id=prod.id, status="failed",
                   finished_at=now - timedelta(days=1)),
        Deployment(repository_id=1001, release_id=v1.id, environment_id=prod.id, status="succeeded",
                   finished_at=now - timedelta(hours=20)),
    ])
    db.session.commit()
    user = login_as("viewer")
    grant(user, permission="read")
    page = browser.get("/repos/1001/delivery").get_data(as_text=True)
    assert page.count("<svg class=\"chart\"") == 4 and "Change failure rate" in page and "33.3 %" in page
    assert page.count('class="tick"') == 4 * 3 and "(per week, in deploys)" in page  # a value axis on each
    assert page.count('class="bar-value"') >= 4  # each chart writes its values over its bars
    figures = client.get("/api/v1/repos/1001/delivery-figures", headers=make_key(user, "read")).json
    assert figures["totals"]["deployments"] == 3 and figures["totals"]["change_failure_rate"] == 33.3
    assert figures["totals"]["time_to_restore_hours"] == 4.0
    assert figures["totals"]["lead_time_hours"] is not None and len(figures["weeks"]) == 12


def test_delivery_chart_has_a_value_axis_ending_at_a_round_number() -> None:
    from datetime import datetime

    from webapp.releases.figures import _chart

    weeks = [datetime(2026, 11, 2) + timedelta(weeks=i) for i in range(3)]
    chart = _chart("Lead time for changes", "h", weeks, [None, 3.0, 7.5], "median 5 h")
    assert [t["text"] for t in chart.ticks] == ["0", "5", "10"]
    assert chart.ticks[0]["y"] == chart.baseline and chart.ticks[2]["y"] < chart.ticks[1]["y"] < chart.baseline
    none, three, seven = chart.bars
    assert none["h"] == 0 and none["text"] == "no data" and seven["text"] == "7.5 h"
    assert seven["h"] == 2.5 * three["h"]  # heights are to scale
    assert seven["y"] > chart.ticks[2]["y"]  # 7.5 stays under the top of the axis (10)
    assert [t["text"] for t in _chart("Change failure rate", "%", weeks, [33.3, 0, None], "").ticks] == \
        ["0", "25", "50"]


def test_delivery_environment_selector_swaps_the_figures(browser: Any, login_as: Any, grant: Any,
                                                        commit: Any) -> None:
    commit("feat: x")
    environment("production", 0)
    staging = environment("staging", 1)
    user = login_as("viewer")
    grant(user, permission="read")
    response = browser.get(f"/repos/1001/delivery?environment_id={staging.id}", htmx=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    fragment = response.get_data(as_text=True)
    assert "<strong>staging</strong>" in fragment and "<html" not in fragment
    assert "HX-Request" in response.headers["Vary"]


def test_overview_cards_and_metrics(browser: Any, login_as: Any, commit: Any, make_user: Any, db: Any,
                                    client: Any) -> None:
    from webapp.releases.models import Deployment

    sha = commit("feat: x")[-1]
    env = environment("production", 0, required_approvals=1)
    release = published_release("1.0.0", sha, make_user("maintainer"))
    db.session.add(Deployment(repository_id=1001, release_id=release.id, environment_id=env.id,
                              status="pending_approval"))
    db.session.commit()
    login_as("admin")
    home = browser.get("/").get_data(as_text=True)
    assert "Awaiting approval" in home
    card = home[home.index("Awaiting approval"):][:300]
    assert ">1<" in card.replace(" ", "")
    metrics = browser.get("/metrics").get_data(as_text=True)
    assert 'gantry_deployments{environment="production",status="pending_approval"} 1.0' in metrics
    assert 'gantry_releases{status="published"} 1.0' in metrics


def test_admin_overrides_a_freeze_and_rolls_back_from_the_release_page(browser: Any, login_as: Any, commit: Any,
                                                                      make_user: Any, db: Any) -> None:
    from webapp.releases.models import Deployment

    sha = commit("feat: x")[-1]
    author = make_user("maintainer")
    env = environment("production", 0, freeze_windows=[{"cron": "0 0 * * *", "duration_minutes": 1440,
                                                         "timezone": "UTC"}])
    env_id = env.id
    v1 = published_release("1.0.0", sha, author)
    v2 = published_release("1.1.0", sha, author)
    v1_id, v2_id = v1.id, v2.id
    db.session.add_all([Deployment(repository_id=1001, release_id=v1_id, environment_id=env_id, status="succeeded"),
                        Deployment(repository_id=1001, release_id=v2_id, environment_id=env_id, status="failed")])
    db.session.commit()
    login_as("admin")
    page = browser.get(f"/releases/{v2_id}").get_data(as_text=True)
    assert "frozen" in page and "Admin: reason to override the freeze" in page and "Roll back production" in page
    rolled = browser.post(f"/releases/{v2_id}/environments/{env_id}/rollback", {"reason": "broken"}, htmx=True)
    assert rolled.status_code == 200 and "Now running here: 1.0.0" in rolled.get_data(as_text=True)
    assert db.session.query(Deployment).filter_by(kind="rollback", release_id=v1_id, status="queued").count() == 1
    redeploy = browser.post(f"/releases/{v2_id}/environments/{env_id}/promote", {"override_reason": "fix is in"},
                            htmx=True)
    assert redeploy.status_code == 200 and "Freeze overridden: fix is in" in redeploy.get_data(as_text=True)
    assert db.session.query(Deployment).filter_by(release_id=v2_id, status="queued").one().freeze_override_reason \
        == "fix is in"


def test_without_a_github_app_the_preview_says_so_and_the_form_stays(browser: Any, login_as: Any, grant: Any,
                                                                     commit: Any, monkeypatch: Any) -> None:
    from webapp.releases import views

    commit("feat: x")
    grant(login_as("maintainer"))
    monkeypatch.setattr(views, "github_app_configured", lambda: False)
    page = browser.get("/repos/1001/releases").get_data(as_text=True)
    assert "Gantry needs its GitHub App (id and private key) first." in page
    assert '<a href="/github">See the GitHub connection</a>' in page  # a maintainer cannot set it up
    assert re.search(r'<button type="submit" class="secondary"\s+disabled>Preview</button>', page)

    from webapp.integrations.github import GitHubNotConfigured
    from webapp.releases import service

    def not_configured(*args: Any, **kwargs: Any) -> Any:
        raise GitHubNotConfigured()

    monkeypatch.setattr(service, "preview_release", not_configured)
    answer = browser.post("/repos/1001/releases/preview", {"target": "main"}, htmx=True)
    html = answer.get_data(as_text=True)
    assert answer.status_code == 409
    assert "GitHub could not be asked for the commits" in html and 'name="target"' in html  # the form stays


def test_a_queued_deployment_says_what_it_waits_for(browser: Any, login_as: Any, grant: Any, commit: Any,
                                                    make_user: Any, db: Any, monkeypatch: Any) -> None:
    from webapp.releases import views

    sha = commit("feat: x")[-1]
    dev = environment("dev", 0)
    release = published_release("1.0.0", sha, make_user("maintainer", username="author"))
    release_id, dev_id = release.id, dev.id
    grant(login_as("maintainer"))
    promoted = browser.post(f"/releases/{release_id}/environments/{dev_id}/promote", {}, htmx=True)
    html = promoted.get_data(as_text=True)
    assert "queued" in html and "Queued " in html
    assert "Gantry is creating the GitHub deployment" in html or "waits for your deploy system" in html
    monkeypatch.setattr(views, "github_app_configured", lambda: False)
    html = browser.get(f"/releases/{release_id}?part=pipeline", htmx=True).get_data(as_text=True)
    assert "It waits for the GitHub App" in html and 'href="/github">Set up the GitHub App</a>' in html
