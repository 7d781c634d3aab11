"""The flask CLI: create-admin, api-key create, seed-demo, rq worker."""

from __future__ import annotations

import contextvars
import re
from typing import Any

import pytest
import sqlalchemy as sa

from tests.found import found
from webapp.auth import service
from webapp.auth.models import ApiKey, User

RAN: list[str] = []


def remember(value: str) -> None:
    RAN.append(value)


@pytest.fixture
def cli(app):
    """Invoke `flask <args>` as a shell would: through FlaskGroup, outside the test's app context."""
    from flask.cli import FlaskGroup

    runner = app.test_cli_runner()
    group = FlaskGroup(create_app=lambda: app, load_dotenv=False)

    def invoke(*args: str, input: str | None = None) -> Any:
        return contextvars.Context().run(runner.invoke, group, args=list(args), input=input)

    return invoke


def refreshed(db):
    db.session.expire_all()
    return db.session


def test_create_admin_with_password(cli, db):
    result = cli("create-admin", "--username", "boss", "--email", "Boss@Example.com", "--password", "long-enough-pw")
    assert result.exit_code == 0, result.output
    assert "Created admin boss" in result.output
    user = refreshed(db).query(User).filter_by(username="boss").one()
    assert (user.role, user.email, user.active) == ("admin", "boss@example.com", True)
    assert service.authenticate("boss", "long-enough-pw") is not None
    assert "long-enough-pw" not in result.output


def test_create_admin_reads_the_password_from_stdin(cli, db):
    result = cli("create-admin", "--username", "piped", input="from-standard-input\n")
    assert result.exit_code == 0, result.output
    refreshed(db)
    assert service.authenticate("piped", "from-standard-input") is not None


def test_create_admin_refuses_bad_input(cli, db, make_user):
    result = cli("create-admin", "--username", "weak", "--password", "short")
    assert result.exit_code != 0
    assert "password" in result.output and "at least 10" in result.output
    make_user("viewer", username="taken")
    result = cli("create-admin", "--username", "taken", "--password", "long-enough-pw")
    assert result.exit_code != 0 and "taken" in result.output
    result = cli("create-admin", "--username", "taken", "--password", "long-enough-pw", "--if-missing")
    assert result.exit_code == 0 and "nothing to do" in result.output
    assert refreshed(db).query(User).filter_by(username="taken").one().role == "viewer"
    assert refreshed(db).query(User).filter_by(username="weak").count() == 0


def test_api_key_create_prints_a_working_key(cli, client, make_user, db):
    make_user("maintainer", username="ci-bot")
    result = cli("api-key", "create", "--username", "ci-bot", "--name", "pipeline", "--scopes", "read,builds:write",
                 "--expires", "2999-01-31")
    assert result.exit_code == 0, result.output
    secret = result.output.strip()
    assert re.fullmatch(r"gty_[A-Za-z0-9_\-]{40,}", secret)
    key = refreshed(db).query(ApiKey).filter_by(name="pipeline").one()
    assert key.scopes == ["builds:write", "read"] and key.expires_at.date().isoformat() == "2999-01-31"
    response = client.get("/api/v1/me", headers={"X-API-Key": secret})
    assert response.status_code == 200 and response.json["username"] == "ci-bot"


@pytest.mark.parametrize(("args", "message"), [
    (("--username", "nobody", "--name", "x"), "No user named nobody"),
    (("--username", "ci-bot", "--name", "x", "--scopes", "admin"), "beyond your role"),
    (("--username", "ci-bot", "--name", "x", "--scopes", "read,everything"), "unknown"),
    (("--username", "ci-bot", "--name", "x", "--expires", "tomorrow"), "'--expires': 'tomorrow'"),
])
def test_api_key_create_refuses_bad_input(cli, make_user, db, args, message):
    make_user("maintainer", username="ci-bot")
    result = cli("api-key", "create", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert refreshed(db).query(ApiKey).count() == 0


def row_counts(db) -> dict[str, int]:
    session = refreshed(db)
    return {table.name: session.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for table in db.metadata.sorted_tables}


def test_seed_demo_is_idempotent(cli, client, db):
    """Run twice (the second time choosing the admin password): the second run adds nothing."""
    first = cli("seed-demo")
    assert first.exit_code == 0, first.output
    match = re.search(r"Admin: admin / (\S+)", first.output)
    assert match, first.output
    refreshed(db)
    assert found(service.authenticate("admin", match.group(1))).role == "admin"
    counts = row_counts(db)
    assert counts["users"] >= 3

    second = cli("seed-demo", "--admin-password", "chosen-password-1")
    assert second.exit_code == 0, second.output
    assert "Admin: admin / chosen-password-1" in second.output
    after = row_counts(db)
    grown = {k: (counts[k], after[k]) for k in counts if k != "audit_events" and counts[k] != after[k]}
    assert grown == {}, "a second seed-demo added rows"
    refreshed(db)
    assert service.authenticate("admin", "chosen-password-1") is not None
    assert service.authenticate("admin", match.group(1)) is None


def test_rq_worker_burst_runs_queued_jobs(cli, app):
    from webapp.core import jobs

    RAN.clear()
    with app.app_context():
        jobs.enqueue(remember, "from the cli", job_id="cli-job")
    result = cli("rq", "worker", "--burst")
    assert result.exit_code == 0, result.output
    assert RAN == ["from the cli"]
