"""Migrations: up, down and up again on fresh databases, and the models match what they create."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import TEST_DATABASE_URL
from tests.core.conftest import build_app  # noqa: F401  (fixture)

# Named after the test database, so runs against other test databases on the same server never share it.
SCRATCH = f"{make_url(TEST_DATABASE_URL).database}_scratch_migrations"


@pytest.fixture
def scratch_url() -> Iterator[str]:
    """An empty PostgreSQL database of its own (created once; emptied, not dropped, between runs:
    CREATE and DROP DATABASE each force a checkpoint, which is slow on a busy server)."""
    url = make_url(TEST_DATABASE_URL)
    scratch = url.set(database=SCRATCH)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": SCRATCH}):
            conn.execute(sa.text(f'CREATE DATABASE "{SCRATCH}"'))
    admin.dispose()
    engine = sa.create_engine(scratch)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    yield scratch.render_as_string(hide_password=False)


def tables(engine: sa.Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}


def model_tables() -> set[str]:
    from webapp.extensions import db

    return set(db.metadata.tables)


def up_down_up(app) -> None:
    from flask_migrate import downgrade, upgrade

    from webapp.extensions import db

    with app.app_context():
        upgrade()
        assert tables(db.engine) >= model_tables()
        downgrade(revision="base")
        assert tables(db.engine) == set()
        upgrade()
        assert tables(db.engine) >= model_tables()
        db.session.remove()


def test_postgresql_upgrade_downgrade_upgrade(build_app, scratch_url):  # noqa: F811
    up_down_up(build_app(SQLALCHEMY_DATABASE_URI=scratch_url))


def test_sqlite_upgrade_downgrade_upgrade(build_app, tmp_path):  # noqa: F811
    """`make run` migrates the SQLite default, so every migration must run there too (batch mode)."""
    up_down_up(build_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'gantry.db'}",
                         SQLALCHEMY_ENGINE_OPTIONS={}))


def test_a_fresh_database_has_the_default_catalogue_with_aliases(build_app, scratch_url):  # noqa: F811
    """Pipelines can report builds as soon as Gantry runs: no operator step loads the catalogue."""
    from flask_migrate import upgrade

    from webapp.builds.catalogue import DEFAULT_STATE_CODES
    from webapp.extensions import db

    app = build_app(SQLALCHEMY_DATABASE_URI=scratch_url)
    with app.app_context():
        upgrade(revision="heads")
        with db.engine.connect() as conn:
            codes = conn.execute(sa.text("SELECT code FROM build_state_codes ORDER BY code")).scalars().all()
            aliases = conn.scalar(sa.text("SELECT aliases FROM build_platforms WHERE slug = 'aws-commercial'"))
        db.session.remove()
    assert codes == sorted(row["code"] for row in DEFAULT_STATE_CODES)
    assert aliases == ["aws"]


def test_models_match_the_migrations(app):
    """Autogenerate would find nothing to do: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from webapp.extensions import db

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def migration_scripts(directory: str | None = None):
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from webapp.config import PROJECT_ROOT

    config = Config()
    config.set_main_option("script_location", directory or str(PROJECT_ROOT / "migrations"))
    return ScriptDirectory.from_config(config)


def test_history_is_one_line_after_the_merge_of_the_capability_branches():
    """One head, so `flask db upgrade` and `flask db migrate` work; no branch opens after 0012."""
    scripts = migration_scripts()
    revisions = list(scripts.walk_revisions())
    assert len({r.revision for r in revisions}) == len(revisions)
    assert [r.revision for r in revisions if r.down_revision is None] == ["0001_foundation"]
    assert len(scripts.get_heads()) == 1
    assert [r.revision for r in revisions if r.is_merge_point] == ["0012_one_history"]
    assert [r.revision for r in revisions if r.is_branch_point] == ["0002_repos"]


def flask_cli(app):
    """Run `flask ...` against `app` as a user would, through Flask's command group."""
    import contextvars

    from flask.cli import FlaskGroup

    runner = app.test_cli_runner()
    group = FlaskGroup(create_app=lambda: app, load_dotenv=False)

    def flask(*args: str):
        result = contextvars.Context().run(runner.invoke, group, args=list(args))
        assert result.exit_code == 0, (args, result.output, result.exception)
        return result

    return flask


def test_flask_db_upgrade_check_and_migrate_work_as_documented(build_app, scratch_url, tmp_path):  # noqa: F811
    """Flask-Migrate's own steps on a fresh database: upgrade reaches the one head, check finds the
    models and the schema equal, and migrate autogenerates the next revision on top of the head."""
    import shutil

    from alembic.migration import MigrationContext

    from webapp.config import PROJECT_ROOT
    from webapp.extensions import db

    app = build_app(SQLALCHEMY_DATABASE_URI=scratch_url)
    flask = flask_cli(app)
    flask("db", "upgrade")
    with app.app_context():
        with db.engine.connect() as conn:
            assert MigrationContext.configure(conn).get_current_heads() == tuple(migration_scripts().get_heads())
        assert tables(db.engine) >= model_tables()
    flask("db", "check")

    copy = tmp_path / "migrations"  # `migrate` writes a revision file: into a copy, not the project
    shutil.copytree(PROJECT_ROOT / "migrations", copy, ignore=shutil.ignore_patterns("__pycache__"))
    flask("db", "migrate", "-d", str(copy), "-m", "next change", "--rev-id", "0099_next")
    written = migration_scripts(str(copy)).get_revision("0099_next")
    assert written.down_revision == migration_scripts().get_current_head()  # on top of the one head
    upgrade_body = Path(written.path).read_text().split("def upgrade")[1].split("def downgrade")[0]
    assert "pass" in upgrade_body and "op." not in upgrade_body  # nothing to do: the models are migrated
    with app.app_context():
        db.session.remove()


def test_workers_do_not_load_alembic():
    """Flask-Migrate (and Alembic, ~12 MB) load only for migrations, not in web or queue workers."""
    import os
    import subprocess
    import sys

    from webapp.config import PROJECT_ROOT

    code = ("import sys; from webapp import create_app; create_app(); "
            "print(sorted(m for m in ('alembic', 'flask_migrate') if m in sys.modules))")
    env = {**os.environ, "ENVIRONMENT": "development", "SECRET_KEY": "x" * 40,
           "ENCRYPTION_KEYS": "9zlJdpYpZ3f2GZ0pKk6Z2o6QbqSWgGmNDSRrbT3QJqg=", "DATABASE_URL": TEST_DATABASE_URL}
    out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_flask_db_commands_load_flask_migrate_on_use(build_app):  # noqa: F811
    import contextvars

    from flask.cli import FlaskGroup

    app = build_app()
    assert "migrate" not in app.extensions
    runner = app.test_cli_runner()
    group = FlaskGroup(create_app=lambda: app, load_dotenv=False)

    def flask(*args: str):
        return contextvars.Context().run(runner.invoke, group, args=list(args))

    listed = flask("--help")
    assert listed.exit_code == 0 and "Perform database migrations" in listed.output
    # (Alembic writes to the stdout it saw when first imported, so the output is not captured here.)
    for args in (("db", "heads"), ("db", "-x", "unused=1", "heads"), ("db", "current")):
        result = flask(*args)
        assert result.exit_code == 0, (args, result.output, result.exception)
    assert "migrate" in app.extensions
    unknown = flask("db", "no-such-command")
    assert unknown.exit_code == 2 and "No such command" in unknown.output
