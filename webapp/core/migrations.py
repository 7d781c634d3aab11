"""Flask-Migrate, loaded only when migrations are used.

Importing Flask-Migrate loads Alembic (about 12 MB and 0.1 s of start-up) which a web or queue
worker never needs. `flask db ...` and `flask_migrate.upgrade()` (tests, scripts) find it all the
same: the `db` command group and `app.extensions["migrate"]` set Flask-Migrate up on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import click
from flask import Flask, current_app

from webapp.config import PROJECT_ROOT
from webapp.extensions import db

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
MIGRATE_OPTIONS: dict[str, Any] = {"render_as_batch": True, "compare_type": True}


def set_up(app: Flask) -> None:
    """Bind Flask-Migrate to `app`: app.extensions["migrate"] and the real `flask db` group."""
    # Alembic announces each plugin it loads at INFO; that is noise on every `flask db` command.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # Imported on first use: Flask-Migrate brings alembic, mako and pygments (0.29 s, 149 modules; 2026-12-05).
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(MIGRATIONS_DIR), **MIGRATE_OPTIONS)


class _Extensions(dict[str, Any]):
    """app.extensions, setting Flask-Migrate up the first time something asks for "migrate"."""

    def __init__(self, app: Flask, existing: Mapping[str, Any]) -> None:
        super().__init__(existing)
        self._app = app

    def __missing__(self, key: str) -> Any:
        if key != "migrate":
            raise KeyError(key)
        set_up(self._app)
        return dict.__getitem__(self, key)


class _DbCommands(click.Group):
    """Stands in for Flask-Migrate's `db` group and hands the command line over to it."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        if "migrate" not in current_app.extensions:
            set_up(current_app._get_current_object())  # type: ignore[attr-defined]
        # Imported on first use, as in set_up: Flask-Migrate costs 0.29 s of start-up.
        from flask_migrate.cli import db as real

        return real.make_context(info_name, args, parent=parent, **extra)


def init_app(app: Flask) -> None:
    app.extensions = _Extensions(app, app.extensions)
    app.cli.add_command(_DbCommands("db", help="Perform database migrations (Flask-Migrate)."))
