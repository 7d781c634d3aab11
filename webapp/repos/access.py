"""Who sees which repository: admins see all; everyone else only what GitHub says they can access.

Every list, count, search and lookup of anything that belongs to a repository goes through
these helpers, so a non-admin can never reach another repository's data by guessing ids.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute

from webapp.auth.principal import Who, user_of
from webapp.core.errors import NotFound
from webapp.extensions import db
from webapp.repos.models import Repository, RepositoryAccess


def _user_and_admin(who: Who) -> tuple[int, bool]:
    """Accept a Principal (API/page) or a User."""
    return user_of(who).id, bool(who.is_admin)


def visible_repository_ids(who: Who) -> set[int] | None:
    """The repository ids `who` may see, or None meaning every repository (admins)."""
    user_id, is_admin = _user_and_admin(who)
    if is_admin:
        return None
    return set(db.session.scalars(select(RepositoryAccess.repository_id).where(RepositoryAccess.user_id == user_id)))


def restrict_to_visible(stmt: Select[Any], repository_id_column: InstrumentedAttribute[Any], who: Who) -> Select[Any]:
    """Add "only repositories `who` may see" to a query over anything with a repository id."""
    user_id, is_admin = _user_and_admin(who)
    if is_admin:
        return stmt
    visible = select(RepositoryAccess.repository_id).where(RepositoryAccess.user_id == user_id)
    return stmt.where(repository_id_column.in_(visible))


def can_see_repository(who: Who, repository_id: int | None) -> bool:
    if repository_id is None:
        return _user_and_admin(who)[1]
    user_id, is_admin = _user_and_admin(who)
    if is_admin:
        return db.session.get(Repository, repository_id) is not None
    return db.session.get(RepositoryAccess, (user_id, repository_id)) is not None


def get_visible_repository(who: Who, repository_id: int) -> Repository:
    """The repository, or 404 — the same answer whether it does not exist or is not yours to see."""
    repo = db.session.get(Repository, repository_id)
    if repo is None or not can_see_repository(who, repository_id):
        raise NotFound(f"Repository {repository_id} does not exist or you have no access to it.")
    return repo


def get_visible_repository_by_name(who: Who, full_name: str) -> Repository:
    """The repository named owner/name (exact spelling first, by its unique index; then any case), or 404."""
    repo = db.session.scalar(select(Repository).where(Repository.full_name == full_name))
    if repo is None:
        repo = db.session.scalar(select(Repository).where(func.lower(Repository.full_name) == full_name.lower()))
    if repo is None or not can_see_repository(who, repo.id):
        raise NotFound(f"Repository {full_name} does not exist or you have no access to it.")
    return repo
