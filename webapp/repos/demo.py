"""Demo data for `flask seed-demo`: an installation with Infrajet, and Webhook Manager without the App."""

from __future__ import annotations

from typing import Any

from flask import current_app
from sqlalchemy import select

from webapp.auth.models import User
from webapp.extensions import db
from webapp.repos.mirror import reconcile_installations, upsert_installation, upsert_repository
from webapp.repos.models import Repository, RepositoryAccess

DEMO_ORG = "gantry-demo"
DEMO_INSTALLATION = {
    "id": 900001,
    "account": {"login": DEMO_ORG, "id": 900000, "type": "Organization"},
    "repository_selection": "selected",
    "permissions": {"contents": "write", "metadata": "read", "actions": "write", "deployments": "write",
                    "administration": "write"},
    "events": ["push", "workflow_job", "release", "repository"],
    "html_url": f"https://github.com/organizations/{DEMO_ORG}/settings/installations/900001",
}
DEMO_REPOSITORIES = [
    ({"id": 900101, "name": "infrajet", "full_name": f"{DEMO_ORG}/infrajet", "private": True,
      "description": "Infrastructure as code for the delivery platform", "default_branch": "main",
      "html_url": f"https://github.com/{DEMO_ORG}/infrajet"}, True),
    ({"id": 900102, "name": "webhook-manager", "full_name": f"{DEMO_ORG}/webhook-manager", "private": False,
      "description": "Receives repository webhooks (the App is not installed here)", "default_branch": "main",
      "html_url": f"https://github.com/{DEMO_ORG}/webhook-manager"}, False),
]


def seed_repositories(admin: Any) -> None:
    """Idempotent: the same rows however often it runs; maria and victor may see Infrajet.

    In sandbox mode the GitHub simulator holds the same organisation: Gantry then also reconciles
    with it, as it does with GitHub, and learns the sandbox's other repositories.
    """
    installation = upsert_installation(DEMO_INSTALLATION)
    for data, installed in DEMO_REPOSITORIES:
        upsert_repository(data, installation.id if installed else None)
    if current_app.config.get("SANDBOX"):
        reconcile_installations()
    infrajet = db.session.get(Repository, DEMO_REPOSITORIES[0][0]["id"])
    for username, permission in (("maria", "write"), ("victor", "read")):
        user = db.session.scalar(select(User).where(User.username == username))
        if user is not None and infrajet is not None:
            db.session.merge(RepositoryAccess(user_id=user.id, repository_id=infrajet.id, permission=permission))
    db.session.commit()
