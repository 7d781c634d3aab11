"""Installations, repositories and access: mirrored from GitHub, read by every capability."""

from __future__ import annotations

from webapp.extensions import db
from webapp.repos.models import RepositoryHook


def webhook_secret_for_hook(hook_id: int) -> str | None:
    """The secret of a repository hook Gantry created (for the intake's signature check); None if unknown."""
    hook = db.session.get(RepositoryHook, int(hook_id))
    if hook is None or hook.removed_at is not None:
        return None
    return hook.secret
