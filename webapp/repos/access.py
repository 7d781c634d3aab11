"""Who sees which repository: admins see all; everyone else only what GitHub says they can access.

Every list, count, search and lookup of anything that belongs to a repository goes through
these helpers, so a non-admin can never reach another repository's data by guessing ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

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


MAX_ID = 2**63 - 1  # BIGINT: a larger id in a URL or a body matches nothing


class InRepository(Protocol):
    """A row that belongs to one repository."""

    @property
    def repository_id(self) -> int | None: ...


Row = TypeVar("Row")
RepositoryRow = TypeVar("RepositoryRow", bound=InRepository)


def not_visible(what: str) -> NotFound:
    """The one answer for something that does not exist and for something the asker may not see."""
    return NotFound(f"{what} does not exist or you have no access to it.")


def _in_range(ident: object) -> bool:
    return not isinstance(ident, int) or 0 < ident <= MAX_ID


def visible_or_404(row: Row | None, what: str) -> Row:
    """`row` as loaded by a query that applied the visibility rules itself, or 404 if there was none."""
    if row is None:
        raise not_visible(what)
    return row


def get_visible_or_404(who: Who, model: type[RepositoryRow], ident: object, what: str, *,
                       visible: Callable[[RepositoryRow], bool] | None = None) -> RepositoryRow:
    """The `model` row with primary key `ident`, or 404 — the same answer whether it does not exist
    or `who` may not see it.

    A row is visible to whoever may see its repository, unless `visible` gives another rule (a row
    seen through its parent, say). `what` names the kind of row in the answer ("Release").
    """
    row = db.session.get(model, ident) if _in_range(ident) else None
    if row is None or not (visible(row) if visible is not None else can_see_repository(who, row.repository_id)):
        raise not_visible(f"{what} {ident}")
    return row


def get_visible_repository(who: Who, repository_id: int) -> Repository:
    """The repository, or 404 — the same answer whether it does not exist or is not yours to see."""
    return get_visible_or_404(who, Repository, repository_id, "Repository",
                              visible=lambda repo: can_see_repository(who, repo.id))


def get_visible_repository_by_name(who: Who, full_name: str) -> Repository:
    """The repository named owner/name (exact spelling first, by its unique index; then any case), or 404."""
    repo = db.session.scalar(select(Repository).where(Repository.full_name == full_name))
    if repo is None:
        repo = db.session.scalar(select(Repository).where(func.lower(Repository.full_name) == full_name.lower()))
    if repo is None or not can_see_repository(who, repo.id):
        raise not_visible(f"Repository {full_name}")
    return repo
