"""Installations of the GitHub App, repositories, and each user's access to them.

Ids are GitHub's own (installation id, repository id), so webhooks map to rows without lookups.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.crypto import EncryptedText
from webapp.core.models import TimestampMixin, utcnow
from webapp.extensions import db

PERMISSIONS = ("read", "triage", "write", "maintain", "admin")
PERMISSION_RANK = {p: i for i, p in enumerate(PERMISSIONS)}


class Installation(TimestampMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "github_installations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_login: Mapped[str] = mapped_column(String(200), index=True)
    account_id: Mapped[int | None] = mapped_column(BigInteger)
    account_type: Mapped[str] = mapped_column(String(20), default="Organization")  # "User" or "Organization"
    repository_selection: Mapped[str] = mapped_column(String(20), default="selected")
    permissions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    events: Mapped[list[Any]] = mapped_column(default=list)
    html_url: Mapped[str | None] = mapped_column(String(500))
    suspended_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]  # uninstalled; kept for history
    synced_at: Mapped[datetime | None]

    repositories: Mapped[list[Repository]] = relationship(back_populates="installation")

    @property
    def active(self) -> bool:
        return self.removed_at is None and self.suspended_at is None


class Repository(TimestampMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    installation_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("github_installations.id", ondelete="SET NULL"), index=True
    )
    owner: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(400), unique=True)
    private: Mapped[bool] = mapped_column(default=False)
    archived: Mapped[bool] = mapped_column(default=False)
    default_branch: Mapped[str] = mapped_column(String(255), default="main")
    html_url: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(String(1000))
    removed_at: Mapped[datetime | None]  # deleted on GitHub or removed from the installation
    synced_at: Mapped[datetime | None] = mapped_column(default=utcnow)

    installation: Mapped[Installation | None] = relationship(back_populates="repositories")


# Substring search on name and description (visible_repositories_query) is served by trigram
# indexes on PostgreSQL (migration 0011, where pg_trgm can be created).
Index("ix_repositories_full_name_trgm", func.lower(Repository.full_name).label("full_name_lower"),
      postgresql_using="gin", postgresql_ops={"full_name_lower": "gin_trgm_ops"})
Index("ix_repositories_description_trgm",
      func.lower(func.coalesce(Repository.description, "")).label("description_lower"),
      postgresql_using="gin", postgresql_ops={"description_lower": "gin_trgm_ops"})


class RepositoryAccess(db.Model):  # type: ignore[name-defined]
    """What GitHub says a user may do in a repository (from /user/installations/.../repositories)."""

    __tablename__ = "repository_access"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    repository_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("repositories.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    permission: Mapped[str] = mapped_column(String(20), default="read")
    synced_at: Mapped[datetime] = mapped_column(default=utcnow)


class GitHubAppConfig(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """The GitHub App registered through the App-manifest flow (one row); secrets encrypted.

    Settings in the environment (GITHUB_APP_ID, ...) override these field by field.
    """

    __tablename__ = "github_app_config"

    id: Mapped[int] = mapped_column(primary_key=True)
    app_id: Mapped[int] = mapped_column(BigInteger)
    slug: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    owner_login: Mapped[str | None] = mapped_column(String(200))
    html_url: Mapped[str | None] = mapped_column(String(500))
    client_id: Mapped[str | None] = mapped_column(String(100))
    client_secret: Mapped[str | None] = mapped_column(EncryptedText())
    private_key: Mapped[str | None] = mapped_column(EncryptedText())
    webhook_secret: Mapped[str | None] = mapped_column(EncryptedText())


class GitHubAccount(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """A Gantry user's GitHub identity and OAuth token (encrypted), from "Sign in with GitHub"."""

    __tablename__ = "github_accounts"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    github_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    login: Mapped[str] = mapped_column(String(200), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    avatar_url: Mapped[str | None] = mapped_column(String(500))
    html_url: Mapped[str | None] = mapped_column(String(500))
    access_token: Mapped[str | None] = mapped_column(EncryptedText())
    token_scopes: Mapped[str] = mapped_column(String(500), default="")
    # who issued the token: "app" (the GitHub App's OAuth client) or "oauth_app" (a classic OAuth App)
    token_kind: Mapped[str] = mapped_column(String(20), default="app", server_default="app")
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    access_synced_at: Mapped[datetime | None]


class RepositoryHook(TimestampMixin, db.Model):  # type: ignore[name-defined]
    """A webhook Gantry created on a repository the App is not installed on, with its own secret."""

    __tablename__ = "repository_hooks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # GitHub's hook id
    repository_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("repositories.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(500))
    events: Mapped[list[Any]] = mapped_column(default=list)
    secret: Mapped[str] = mapped_column(EncryptedText())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    pinged_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]

    repository: Mapped[Repository] = relationship()
