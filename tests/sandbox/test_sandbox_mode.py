"""Sandbox mode: the SANDBOX setting, its refusal in production, the world `make run` starts, the banner."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import select

from sandbox import world as sandbox_world
from sandbox.github import events
from webapp import local
from webapp.config import ConfigError, load_settings

BANNER = "Sandbox — nothing here reaches GitHub or AWS"
STRONG = {"SECRET_KEY": "k3y-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", "ENCRYPTION_KEYS": Fernet.generate_key().decode()}
REFUSED = "SANDBOX=1 puts simulated GitHub and AWS in place of real ones: refused in"


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("0", False), (" 1 ", True), ("", False), (None, False)])
def test_setting_is_on_only_for_1(tmp_path: Path, value: str | None, expected: bool) -> None:
    env = {} if value is None else {"SANDBOX": value}
    assert load_settings(env, tmp_path)["SANDBOX"] is expected


def test_other_values_stop_start_up_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SANDBOX must be '0' or '1', got 'yes'$"):
        load_settings({"SANDBOX": "yes"}, tmp_path)


@pytest.mark.parametrize("environment", ["production", "staging"])
def test_refused_in_production_with_one_line(tmp_path: Path, environment: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings({"ENVIRONMENT": environment, "SANDBOX": "1", **STRONG}, tmp_path)
    message = str(refused.value)
    assert "\n" not in message
    assert message == f"{REFUSED} {environment}"
    assert load_settings({"ENVIRONMENT": environment, "SANDBOX": "0", **STRONG}, tmp_path)["SANDBOX"] is False


def test_make_run_refuses_before_starting_anything(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    for name, value in {"ENVIRONMENT": "production", "SANDBOX": "1", **STRONG}.items():
        monkeypatch.setenv(name, value)
    started: list[str] = []
    monkeypatch.setattr(sandbox_world, "start", lambda base_url: started.append(base_url))
    assert local.main() == 2
    assert started == []
    err = capsys.readouterr().err
    assert err == f"Gantry cannot start: {REFUSED} production\n"


@pytest.mark.parametrize(("env", "on"), [
    ({}, True),
    ({"SANDBOX": "0"}, False),
    ({"GITHUB_APP_ID": "123"}, False),
    ({"GITHUB_APP_ID": "123", "SANDBOX": "1"}, True),
    ({"AWS_ENDPOINT_URL": "http://localstack:4566"}, False),
    ({"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, False),
    ({"AWS_PROFILE": "dev"}, False),
    ({"ENVIRONMENT": "production", **STRONG}, False),
])
def test_make_run_turns_it_on_when_nothing_real_is_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                env: dict[str, str], on: bool) -> None:
    monkeypatch.setattr(local, "INSTANCE", tmp_path)
    given = dict(env)
    assert local.sandbox_wanted(given) is on
    assert given["SANDBOX"] == ("1" if on else "0")  # what the web server and worker are started with


def test_world_points_gantry_at_the_simulators(sandbox: sandbox_world.Sandbox) -> None:
    settings = sandbox.settings
    for name in ("GITHUB_URL", "GITHUB_API_URL", "AWS_ENDPOINT_URL"):
        assert settings[name].startswith("http://127.0.0.1:")
    assert settings["GITHUB_URL"] == sandbox.github.url
    assert settings["AWS_ENDPOINT_URL"] == sandbox.aws.url
    assert settings["GITHUB_APP_PRIVATE_KEY"].startswith("-----BEGIN PRIVATE KEY-----")
    assert settings["ECS_CLUSTER"] == "gantry-runners"
    assert settings["ECS_SUBNETS"].startswith("subnet-") and settings["ECS_SECURITY_GROUPS"].startswith("sg-")
    assert events.sent(sandbox.github.state) == []
    assert sandbox.github.state.extra["events"]["target"] == "http://gantry.test/webhooks/github"


def test_gantry_lists_the_sandbox_org_repositories_through_its_github_client(sandbox_app: Flask) -> None:
    from webapp.integrations.github import app_configured, github
    from webapp.repos.demo import DEMO_INSTALLATION

    with sandbox_app.app_context():
        assert app_configured()
        installations = github().paginate_app("/app/installations")
        assert [(i["id"], i["account"]["login"]) for i in installations] == [(DEMO_INSTALLATION["id"], "gantry-demo")]
        installation_id = DEMO_INSTALLATION["id"]
        assert isinstance(installation_id, int)
        repos = github().paginate_installation(installation_id, "/installation/repositories",
                                               item_key="repositories")
        engine = "/repos/gantry-demo/engine"
        commits = github().installation_request(installation_id, "GET", f"{engine}/commits")
        branch = github().installation_request(installation_id, "GET", f"{engine}/branches/main")
        tree = github().installation_request(installation_id, "GET",
                                             f"{engine}/git/trees/{branch['commit']['sha']}", params={"recursive": "1"})
    assert sorted(r["full_name"] for r in repos) == [
        "gantry-demo/engine", "gantry-demo/infrajet", "gantry-demo/web-portal"]
    assert sorted(c["commit"]["message"] for c in commits) == sorted(["Initial commit", *sandbox_world.HISTORY])
    assert branch["commit"]["commit"]["message"] == sandbox_world.HISTORY[-1]
    files = {item["path"] for item in tree["tree"] if item["type"] == "blob"}
    assert files == {"README.md", ".github/workflows/ci.yml"}


def test_ecs_cluster_and_task_definition_exist_in_moto(sandbox_app: Flask, sandbox: sandbox_world.Sandbox) -> None:
    from webapp.integrations.ecs import aws

    clusters = sandbox.aws.ecs.describe_clusters(clusters=["gantry-runners"])["clusters"]
    assert [(c["clusterName"], c["status"]) for c in clusters] == [("gantry-runners", "ACTIVE")]
    with sandbox_app.app_context():
        found = aws().describe_cluster("us-east-1", "gantry-runners")
        definition = aws().describe_task_definition("us-east-1", "gantry-runner")
    assert found is not None and found["status"] == "ACTIVE"
    assert definition is not None and definition["containerDefinitions"][0]["name"] == "runner"


def test_demo_data_matches_the_sandbox(sandbox_app: Flask, sandbox: sandbox_world.Sandbox) -> None:
    from webapp.extensions import db
    from webapp.repos.demo import seed_repositories
    from webapp.repos.models import Repository
    from webapp.runners.demo import seed_runners
    from webapp.runners.models import RunnerPool

    with sandbox_app.app_context():
        seed_repositories(None)
        seed_runners(None)
        names = db.session.scalars(select(Repository.full_name).where(
            Repository.installation_id.is_not(None), Repository.removed_at.is_(None))).all()
        pools = db.session.scalars(select(RunnerPool).order_by(RunnerPool.name)).all()
        launch = [(p.name, p.region, p.cluster, p.task_definition, p.subnets, p.security_groups) for p in pools]
        db.session.remove()
    assert sorted(names) == ["gantry-demo/engine", "gantry-demo/infrajet", "gantry-demo/web-portal"]
    aws_world = sandbox.aws
    assert launch == [(name, "us-east-1", "gantry-runners", "gantry-runner", [aws_world.subnet_id],
                       [aws_world.security_group_id]) for name in ("gpu", "linux")]


def test_banner_on_every_page_in_sandbox_mode(sandbox_app: Flask) -> None:
    client = sandbox_app.test_client()
    for path in ("/login", "/no-such-page"):
        page = client.get(path)
        assert BANNER in page.get_data(as_text=True), path


def test_no_banner_outside_sandbox_mode(app: Flask, client) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert BANNER not in page.get_data(as_text=True)
    assert "sandbox-banner" not in page.get_data(as_text=True)


def test_demo_releases_point_at_sandbox_commits_and_their_deployments_mirror(sandbox_app: Flask,
                                                                              sandbox: sandbox_world.Sandbox) -> None:
    from sandbox.github.releases import deployments_of
    from webapp.auth import service
    from webapp.extensions import db
    from webapp.releases.github_mirror import run_mirror
    from webapp.releases.models import Deployment, Release
    from webapp.releases.seed import seed_demo
    from webapp.repos.demo import seed_repositories

    infrajet = {c.sha for c in sandbox.github.state.extra["git"].history("gantry-demo", "infrajet")}
    with sandbox_app.app_context():
        seed_repositories(None)
        admin = service.create_user(username="admin", email="admin@example.com", password="correct-horse-battery-x",
                                    role="admin", actor="seed")
        seed_demo(admin)
        shas = set(db.session.scalars(select(Release.target_sha)).all())
        first = db.session.scalars(select(Deployment.id).order_by(Deployment.id)).first()
        assert first is not None
        outcome = run_mirror(first)
        db.session.remove()
    assert shas and shas <= infrajet
    assert outcome.startswith("status ")
    assert len(deployments_of(sandbox.github, "gantry-demo", "infrajet")) == 1


def _sqlite_with_app_table(path: Path, *, private_key: str | None) -> str:
    """A make run database (SQLite) holding the manifest flow's table, with one stored App."""
    import sqlalchemy as sa

    from webapp.repos.models import GitHubAppConfig

    url = f"sqlite:///{path}"
    engine = sa.create_engine(url)
    GitHubAppConfig.__table__.create(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO github_app_config (app_id, slug, name, private_key, created_at, updated_at) "
                             "VALUES (4242, 'acme-gantry', 'Acme Gantry', :key, CURRENT_TIMESTAMP, "
                             "CURRENT_TIMESTAMP)"), {"key": private_key})
    engine.dispose()
    return url


@pytest.mark.parametrize(("private_key", "forced", "on"), [
    ("gAAAAA-encrypted-key", None, False),  # an App stored by the manifest flow is a configured App
    (None, None, True),  # a row without a private key cannot authenticate as an App
    ("gAAAAA-encrypted-key", "1", True),  # SANDBOX=1 still forces it
])
def test_an_app_stored_by_the_manifest_flow_counts_as_configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  private_key: str | None, forced: str | None,
                                                                  on: bool) -> None:
    monkeypatch.setattr(local, "INSTANCE", tmp_path)
    url = _sqlite_with_app_table(tmp_path / "gantry.db", private_key=private_key)
    env = {"DATABASE_URL": url, **({"SANDBOX": forced} if forced else {})}
    assert local.sandbox_wanted(env) is on
    assert env["SANDBOX"] == ("1" if on else "0")


def test_the_stored_app_is_read_from_postgresql_too(app: Flask, db: Any, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import TEST_DATABASE_URL
    from webapp.repos.models import GitHubAppConfig

    monkeypatch.setattr(local, "INSTANCE", tmp_path)
    assert local.sandbox_wanted({"DATABASE_URL": TEST_DATABASE_URL}) is True  # migrated, no App stored
    db.session.add(GitHubAppConfig(app_id=4242, slug="acme-gantry", name="Acme Gantry", private_key="-----BEGIN"))
    db.session.commit()
    assert local.sandbox_wanted({"DATABASE_URL": TEST_DATABASE_URL}) is False


def test_a_database_not_made_yet_or_unreachable_holds_no_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp.repos.app_config import app_stored_in

    monkeypatch.setattr(local, "INSTANCE", tmp_path)
    assert local.sandbox_wanted({}) is True
    assert not (tmp_path / "gantry.db").exists()  # asking did not create make run's database
    assert app_stored_in("postgresql://postgres@127.0.0.1:1/gantry") is False


def test_an_app_registered_through_the_manifest_flow_against_the_simulator_turns_it_off_on_the_next_run(
        sandbox_app: Flask, sandbox: sandbox_world.Sandbox, make_user: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`make run` in sandbox mode, an admin registers an App with the App-manifest flow (GitHub being the
    simulator), and the next `make run` on the same database takes that App for a real one: sandbox off."""
    from tests.conftest import TEST_DATABASE_URL, Browser
    from webapp.repos.models import GitHubAppConfig

    monkeypatch.setattr(local, "INSTANCE", tmp_path)
    assert local.sandbox_wanted({"DATABASE_URL": TEST_DATABASE_URL}) is True  # this run: nothing configured
    browser = Browser(sandbox_app.test_client())
    assert browser.login(make_user("admin").username).status_code in (302, 303)

    page = browser.post("/github/app", data={"name": "Gantry Local", "organization": "gantry-demo"})
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    action = re.search(r'<form method="post" action="([^"]+)" id="manifest-form">', text)
    manifest = re.search(r'name="manifest" value="([^"]+)"', text)
    assert action and manifest
    assert html.unescape(action.group(1)).startswith(f"{sandbox.github.url}/organizations/gantry-demo/")
    # the browser posts the manifest to (simulated) GitHub, which answers with a code for Gantry's callback
    github_answer = requests.post(html.unescape(action.group(1)),
                                  data={"manifest": html.unescape(manifest.group(1))},
                                  allow_redirects=False, timeout=5)
    back = urlsplit(github_answer.headers["Location"])
    assert back.path == "/github/app/manifest/callback"
    done = browser.get(f"{back.path}?{back.query}")
    assert done.status_code == 302 and done.headers["Location"] == "/github"

    with sandbox_app.app_context():
        from webapp.extensions import db

        stored = db.session.scalars(select(GitHubAppConfig)).one()
        assert stored.slug == "gantry-local" and stored.private_key
        db.session.remove()
    assert stored.app_id in sandbox.github.state.apps
    env = {"DATABASE_URL": TEST_DATABASE_URL}
    assert local.sandbox_wanted(env) is False
    assert env["SANDBOX"] == "0"  # what the next run's web server and worker start with
    assert "Sandbox off: the database holds a GitHub App" in capsys.readouterr().err  # and the user is told why
