"""Users, their API keys and refresh tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from webapp.core.models import TimestampMixin, utcnow
from webapp.extensions import db

ROLES = ("viewer", "maintainer", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
WRITE_SCOPES = ("builds:write", "runners:write", "releases:write", "sync:write", "webhooks:write")
SCOPES = ("read", *WRITE_SCOPES, "admin")
# What each scope lets a key do, as the API-key page explains it (never more than the owner's role).
SCOPE_HELP = {
    "read": "read what you can see: builds, runners, releases, projects, deliveries",
    "builds:write": "report builds and their states (CI pipelines)",
    "runners:write": "create and change runner pools, stop runners",
    "releases:write": "create, promote, approve and publish releases",
    "sync:write": "edit project files and start syncs",
    "webhooks:write": "manage repository webhooks, forwarding targets and redeliveries",
    "admin": "everything an admin may do, users and settings included",
}
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "viewer": frozenset({"read"}),
    "maintainer": frozenset({"read", *WRITE_SCOPES}),
    "admin": frozenset(SCOPES),
}
API_KEY_PREFIX = "gty_"


class User(UserMixin, TimestampMixin, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    email: Mapped[str | None] = mapped_column(String(255), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20), default="viewer")
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None]
    # Part of the id in session and remember cookies: raising it ends every sign-in made before.
    session_generation: Mapped[int] = mapped_column(default=0, server_default="0")

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user", cascade="all, delete-orphan")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses sessions of inactive users
        return bool(self.active)

    def get_id(self) -> str:
        """The id Flask-Login keeps in the session and the remember cookie: it changes when sign-ins end."""
        return f"{self.id}:{self.session_generation}"

    def has_role(self, role: str) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role]

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def __repr__(self) -> str:
        return f"<User {self.username} ({self.role})>"


class ApiKey(db.Model):  # type: ignore[name-defined]
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[Any]] = mapped_column(default=list)
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="api_keys")

    def is_usable(self, now: datetime) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now

    @property
    def status(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= utcnow():
            return "expired"
        return "active"


class RefreshToken(db.Model):  # type: ignore[name-defined]
    """One refresh token of a login; tokens of one login share a family, revoked together on reuse."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    jti: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(64), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
