"""What the capability journeys share: acme/infrajet mirrored in Gantry, people with access to it,
sign-in that lets the page settle, and webhooks delivered to the served app over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests

from tests.conftest import PASSWORD
from tests.fakes.aws import fake_aws, moto_server  # noqa: F401  (fixtures)
from tests.fakes.github import DEFAULT_WEBHOOK_SECRET
from tests.webhooks.helpers import webhook_request

OWNER, NAME, REPO_ID, INSTALLATION_ID = "acme", "infrajet", 1001, 101


@pytest.fixture
def infrajet(db: Any, fake_github: Any) -> int:
    """acme/infrajet (1001, installation 101) as Gantry mirrors it from the fake GitHub's world."""
    from webapp.repos.models import Installation, Repository

    db.session.add(Installation(id=INSTALLATION_ID, account_login=OWNER, account_type="Organization"))
    db.session.flush()
    db.session.add(Repository(id=REPO_ID, installation_id=INSTALLATION_ID, owner=OWNER, name=NAME,
                              full_name=f"{OWNER}/{NAME}", default_branch="main"))
    db.session.commit()
    return REPO_ID


@pytest.fixture
def member(db: Any, make_user: Callable[..., Any], infrajet: int) -> Callable[..., Any]:
    """A user GitHub lets into acme/infrajet: member("maintainer", username="alice")."""
    from webapp.repos.models import RepositoryAccess

    def make(role: str, *, username: str | None = None, permission: str = "write") -> Any:
        user = make_user(role, username=username)
        db.session.add(RepositoryAccess(user_id=user.id, repository_id=infrajet, permission=permission))
        db.session.commit()
        return user

    return make


def sign_in(journey: Any, username: str) -> None:
    """Sign in through the login page and let the overview finish loading before moving on."""
    journey.sign_in(username, PASSWORD)
    journey.page.wait_for_load_state("networkidle")


def field(page: Any, label: str) -> Any:
    """The input whose label starts with `label` (Gantry's labels wrap the input and its help text)."""
    return page.get_by_label(re.compile("^" + re.escape(label)))


def sign_out(journey: Any) -> None:
    """Sign out from the account menu in the header, as a person would."""
    page = journey.page
    page.locator("header details.dropdown summary").last.click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: "/login" in url or url.rstrip("/") == journey.base_url)
    page.wait_for_load_state("networkidle")


def deliver(server: str, event: str, payload: dict[str, Any]) -> None:
    """POST a delivery to the served app exactly as GitHub would: signed body, event headers."""
    body, headers = webhook_request(event, payload, DEFAULT_WEBHOOK_SECRET)
    answer = requests.post(f"{server}/webhooks/github", data=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
