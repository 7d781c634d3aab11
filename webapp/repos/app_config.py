"""The GitHub App's settings: stored by the App-manifest flow, overridden field by field by the environment.

    from webapp.repos.app_config import get_app_settings
    settings = get_app_settings()      # None when no App is configured at all
    settings.webhook_secret            # for X-Hub-Signature-256 checks
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import select
from sqlalchemy.engine import make_url

from webapp.extensions import db
from webapp.repos.models import GitHubAppConfig


@dataclass(frozen=True)
class GitHubAppSettings:
    app_id: int | None
    slug: str | None
    client_id: str | None
    client_secret: str | None
    private_key: str | None
    webhook_secret: str | None
    html_url: str | None
    source: str  # "environment", "database" or "environment+database"

    @property
    def can_authenticate_app(self) -> bool:
        return bool(self.app_id and self.private_key)

    @property
    def can_sign_in(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @property
    def client_kind(self) -> str:
        """"app" (the GitHub App's own OAuth client) or "oauth_app" (a classic OAuth App).

        GITHUB_OAUTH_CLIENT_KIND says it; unset, a client id starting "Iv" (how GitHub names App
        clients: "Iv1.…", "Iv23li…") is an App's and any other is a classic OAuth App's."""
        configured = str(current_app.config.get("GITHUB_OAUTH_CLIENT_KIND") or "").strip().lower()
        if configured in CLIENT_KINDS:
            return configured
        return "app" if (self.client_id or "").startswith("Iv") else "oauth_app"

    @property
    def oauth_scopes(self) -> str:
        """The scopes sign-in asks for: GITHUB_OAUTH_SCOPES for a classic OAuth App (GitHub Apps have none)."""
        if self.client_kind == "app":
            return ""
        return str(current_app.config.get("GITHUB_OAUTH_SCOPES") or "")

    @property
    def install_url(self) -> str | None:
        if self.html_url:
            return f"{self.html_url.rstrip('/')}/installations/new"
        if self.slug:
            return f"{current_app.config['GITHUB_URL']}/apps/{self.slug}/installations/new"
        return None


CLIENT_KINDS = ("app", "oauth_app")

ENV_FIELDS = {
    "app_id": "GITHUB_APP_ID",
    "slug": "GITHUB_APP_SLUG",
    "client_id": "GITHUB_CLIENT_ID",
    "client_secret": "GITHUB_CLIENT_SECRET",
    "private_key": "GITHUB_APP_PRIVATE_KEY",
    "webhook_secret": "GITHUB_WEBHOOK_SECRET",
}


def stored_app_config() -> GitHubAppConfig | None:
    return db.session.scalar(select(GitHubAppConfig).order_by(GitHubAppConfig.id.desc()).limit(1))


def app_stored_in(database_url: str) -> bool:
    """Does the database at `database_url` hold an App the manifest flow stored (its id and private key)?

    Asked without an app context, before anything starts: `make run` decides from it whether a real
    App is configured. A database that does not exist yet, is not migrated or cannot be reached holds none."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return False  # connecting would create the file
    table = GitHubAppConfig.__table__
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(table.name):
                return False
            stored = select(table.c.id).where(table.c.app_id.is_not(None), table.c.private_key.is_not(None))
            return conn.scalar(stored.limit(1)) is not None
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def get_app_settings() -> GitHubAppSettings | None:
    """The App's settings, or None when neither the environment nor the database configures one."""
    stored = stored_app_config()
    values: dict[str, object | None] = {
        "app_id": stored.app_id if stored else None,
        "slug": stored.slug if stored else None,
        "client_id": stored.client_id if stored else None,
        "client_secret": stored.client_secret if stored else None,
        "private_key": stored.private_key if stored else None,
        "webhook_secret": stored.webhook_secret if stored else None,
        "html_url": stored.html_url if stored else None,
    }
    from_env = False
    for field, setting in ENV_FIELDS.items():
        value = current_app.config.get(setting)
        if value:
            values[field] = value
            from_env = True
    if not stored and not from_env:
        return None
    app_id = values["app_id"]
    source = "+".join(s for s, used in (("environment", from_env), ("database", stored is not None)) if used)
    slug = values["slug"]
    html_url = values["html_url"] or (f"{current_app.config['GITHUB_URL']}/apps/{slug}" if slug else None)
    return GitHubAppSettings(
        app_id=int(str(app_id)) if app_id else None,
        slug=str(slug) if slug else None,
        client_id=str(values["client_id"]) if values["client_id"] else None,
        client_secret=str(values["client_secret"]) if values["client_secret"] else None,
        private_key=str(values["private_key"]) if values["private_key"] else None,
        webhook_secret=str(values["webhook_secret"]) if values["webhook_secret"] else None,
        html_url=str(html_url) if html_url else None,
        source=source,
    )
