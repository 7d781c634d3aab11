"""Migrations: up, down and up again on fresh databases, and the models match what they create."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from tests.conftest import TEST_DATABASE_URL
from tests.core.conftest import build_app  # noqa: F401  (fixture)

SCRATCH = "gantry_scratch_foundation_migrations"


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
        upgrade(revision="heads")
        assert tables(db.engine) >= model_tables()
        downgrade(revision="base")
        assert tables(db.engine) == set()
        upgrade(revision="heads")
        assert tables(db.engine) >= model_tables()
        db.session.remove()


def test_postgresql_upgrade_downgrade_upgrade(build_app, scratch_url):  # noqa: F811
    up_down_up(build_app(SQLALCHEMY_DATABASE_URI=scratch_url))


def test_sqlite_upgrade_downgrade_upgrade(build_app, tmp_path):  # noqa: F811
    """`make run` migrates the SQLite default, so every migration must run there too (batch mode)."""
    up_down_up(build_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'gantry.db'}",
                         SQLALCHEMY_ENGINE_OPTIONS={}))


def test_models_match_the_migrations(app):
    """Autogenerate would find nothing to do: every model change has its migration."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from webapp.extensions import db

    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": False})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_migration_files_have_single_parents_and_no_duplicate_ids():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from webapp.config import PROJECT_ROOT

    config = Config()
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    scripts = ScriptDirectory.from_config(config)
    revisions = list(scripts.walk_revisions())
    assert len({r.revision for r in revisions}) == len(revisions)
    bases = [r.revision for r in revisions if r.down_revision is None]
    assert bases == ["0001_foundation"]
