"""Operations through the `flask` command: accounts, keys, demo data, workers."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable
from datetime import UTC, datetime, time
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from webapp.auth import service
from webapp.core.errors import GantryError
from webapp.core.rq_worker import run_worker
from webapp.ops import retention
from webapp.schedule import PERIODIC_JOBS

SEEDERS_KEY = "gantry.seeders"


def add_seeder(app: Flask, name: str, seed: Callable[[Any], None]) -> None:
    """Let a capability add demo data to `flask seed-demo`; `seed` gets the admin user."""
    app.extensions.setdefault(SEEDERS_KEY, []).append((name, seed))


def register(app: Flask) -> None:
    app.cli.add_command(create_admin)
    app.cli.add_command(api_key_group)
    app.cli.add_command(seed_demo)
    app.cli.add_command(rq_group)
    app.cli.add_command(retention_group)


@click.command("create-admin")
@click.option("--username", required=True)
@click.option("--email", default=None)
@click.option("--password", default=None, help="Read from standard input when omitted.")
@click.option("--if-missing", is_flag=True, help="Do nothing if the username exists.")
def create_admin(username: str, email: str | None, password: str | None, if_missing: bool) -> None:
    """Create an admin (non-interactive)."""
    if if_missing and service.find_user(username) is not None:
        click.echo(f"User {username} exists; nothing to do.")
        return
    if password is None:
        password = sys.stdin.readline().rstrip("\n")
    try:
        user = service.create_user(username=username, email=email, password=password, role="admin", actor="cli")
    except GantryError as exc:
        details = "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in exc.errors.items())
        raise click.ClickException(f"{exc.message} {details}".strip()) from exc
    click.echo(f"Created admin {user.username}.")


api_key_group = AppGroup("api-key", help="Manage API keys.")


@api_key_group.command("create")
@click.option("--username", required=True)
@click.option("--name", required=True)
@click.option("--scopes", default="read", help="Comma-separated, e.g. read,builds:write")
@click.option("--expires", default=None, type=click.DateTime(formats=["%Y-%m-%d"]), help="Expiry date, YYYY-MM-DD")
def api_key_create(username: str, name: str, scopes: str, expires: datetime | None) -> None:
    """Create an API key and print it (the only time it is shown)."""
    user = service.find_user(username)
    if user is None:
        raise click.ClickException(f"No user named {username}.")
    expires_at = None
    if expires:
        expires_at = datetime.combine(expires.date(), time(23, 59, 59), tzinfo=UTC)
    try:
        _, secret = service.create_api_key(user, name=name, scopes=scopes.split(","), expires_at=expires_at,
                                           actor="cli")
    except GantryError as exc:
        raise click.ClickException(f"{exc.message} {exc.errors}") from exc
    click.echo(secret)


@click.command("seed-demo")
@click.option("--admin-username", default="admin")
@click.option("--admin-password", default=None, help="Generated and printed when omitted.")
def seed_demo(admin_username: str, admin_password: str | None) -> None:
    """Load demo data (idempotent) with an admin whose password is printed."""

    admin = service.find_user(admin_username)
    if admin is None:
        admin_password = admin_password or secrets.token_urlsafe(12)
        admin = service.create_user(username=admin_username, email=f"{admin_username}@example.com",
                                    password=admin_password, role="admin", display_name="Demo Admin", actor="seed")
        click.echo(f"Admin: {admin_username} / {admin_password}")
    elif admin_password:
        service.update_user(admin.id, {"password": admin_password}, actor="seed")
        click.echo(f"Admin: {admin_username} / {admin_password}")
    else:
        click.echo(f"Admin {admin_username} exists (password unchanged).")
    for username, role in (("maria", "maintainer"), ("victor", "viewer")):
        if service.find_user(username) is None:
            service.create_user(username=username, email=f"{username}@example.com",
                                password=secrets.token_urlsafe(16), role=role, actor="seed")
    for name, seed in current_app.extensions.get(SEEDERS_KEY, []):
        seed(admin)
        click.echo(f"Seeded {name}.")


rq_group = AppGroup("rq", help="Background workers.")


@rq_group.command("worker")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.argument("queues", nargs=-1)
def rq_worker(burst: bool, queues: tuple[str, ...]) -> None:
    """Run a worker with its scheduler and the periodic jobs."""
    run_worker(current_app._get_current_object(), PERIODIC_JOBS, queues or None,  # type: ignore[attr-defined]
                    burst=burst)


retention_group = AppGroup("retention", help="Purge data older than the RETENTION_* settings.")


@retention_group.command("purge")
@click.option("--dry-run", is_flag=True, help="Count what would go; change nothing.")
def retention_purge(dry_run: bool) -> None:
    """Purge expired data now, in small batches (what the hourly job does)."""
    summary = retention.purge(dry_run=dry_run)
    verb = "would remove or empty" if dry_run else "removed or emptied"
    for name, kind in summary["kinds"].items():
        if kind["days"] is None:
            click.echo(f"{name}: kept forever")
            continue
        line = f"{name}: {kind['rows']} rows older than {kind['days']} days"
        if not dry_run:
            line += f" in {kind['seconds']:.1f} s"
            if kind.get("stopped"):
                line += f" (stopped: {kind['stopped']}; the next run goes on)"
        click.echo(line)
    click.echo(f"{'Dry run: ' if dry_run else ''}{verb} {summary['rows']} rows.")
