"""What the capability journeys share: acme/infrajet mirrored in Gantry, people with access to it,
sign-in that lets the page settle, and webhooks delivered to the served app over real HTTP."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from tests.builds.conftest import build_body
from tests.conftest import PASSWORD
from tests.fakes.aws import fake_aws, moto_server  # noqa: F401  (fixtures)
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


@pytest.fixture
def demo(app: Any, make_user: Callable[..., Any], make_key: Callable[..., Any], client: Any) -> dict[str, str]:
    """`flask seed-demo`'s data and its people (admin, maintainer maria, viewer victor, who may read
    gantry-demo/infrajet). The month of demo builds is left out (seconds to load); two builds
    reported through the API stand in for it."""
    from webapp.builds.catalogue import load_default_catalogue
    from webapp.cli import SEEDERS_KEY

    admin = make_user("admin", username="admin")
    make_user("maintainer", username="maria")
    make_user("viewer", username="victor")
    for name, seed in app.extensions[SEEDERS_KEY]:
        if name != "builds":
            seed(admin)
    load_default_catalogue()
    writer = make_key(admin, "read", "builds:write")
    for build_id in ("concourse-images-1042", "concourse-images-1043"):
        answer = client.post("/api/v1/builds", json=build_body(build_id), headers=writer)
        assert answer.status_code == 201, answer.json
    done = client.post(f"/api/v1/builds/{answer.json['uuid']}/state", json={"state_code": 100}, headers=writer)
    assert done.status_code in (200, 201), done.json
    return {"admin": "admin", "maintainer": "maria", "viewer": "victor"}


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
    page.locator("header details.account summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(lambda url: "/login" in url or url.rstrip("/") == journey.base_url)
    page.wait_for_load_state("networkidle")


def deliver(server: str, event: str, payload: dict[str, Any]) -> None:
    """POST a delivery to the served app exactly as GitHub would: signed body, event headers."""
    body, headers = webhook_request(event, payload, DEFAULT_WEBHOOK_SECRET)
    answer = requests.post(f"{server}/webhooks/github", data=body, headers=headers, timeout=10)
    assert answer.status_code == 202, answer.text
