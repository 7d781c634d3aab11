"""Registering the GitHub App without reading a manual: GitHub's App-manifest flow.

An admin posts a manifest (name, permissions, events, webhook and callback URLs) to GitHub, from
their browser; GitHub registers the App and sends them back with a code, which Gantry exchanges
(`POST /app-manifests/{code}/conversions`) for the App's id, slug, client id/secret, private key
and webhook secret, stored encrypted.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from flask import current_app
from sqlalchemy import delete

from webapp.auth.principal import Actor
from webapp.core import audit
from webapp.core.errors import ValidationFailed
from webapp.extensions import db
from webapp.integrations.github import GitHubError, github
from webapp.repos.models import GitHubAppConfig

ORG_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$")
DEFAULT_PERMISSIONS = {
    "metadata": "read", "contents": "write", "administration": "write", "actions": "write",
    "deployments": "write", "pull_requests": "read", "checks": "read",
    "organization_self_hosted_runners": "write", "members": "read",
}
DEFAULT_EVENTS = ["push", "repository", "workflow_job", "workflow_run", "release", "deployment",
                  "deployment_status", "create", "delete", "pull_request", "check_run", "check_suite"]


def build_manifest(name: str) -> dict[str, Any]:
    base = current_app.config["BASE_URL"]
    return {
        "name": name,
        "url": base,
        "hook_attributes": {"url": f"{base}/webhooks/github", "active": True},
        "redirect_url": f"{base}/github/app/manifest/callback",
        "callback_urls": [f"{base}/auth/github/callback"],
        "setup_url": f"{base}/repos",
        "request_oauth_on_install": False,
        "public": False,
        "default_permissions": DEFAULT_PERMISSIONS,
        "default_events": DEFAULT_EVENTS,
    }


def manifest_form(*, state: str, organization: str | None = None, name: str = "Gantry") -> dict[str, str]:
    """Where the browser posts the manifest (a user's or an organisation's App settings) and what."""
    web = current_app.config["GITHUB_URL"]
    name = (name or "Gantry").strip()[:34] or "Gantry"
    if organization:
        organization = organization.strip()
        if not ORG_RE.match(organization):
            raise ValidationFailed("That is not a GitHub organisation name.",
                                   errors={"organization": ["letters, digits and '-' only"]})
        action = f"{web}/organizations/{quote(organization)}/settings/apps/new"
    else:
        action = f"{web}/settings/apps/new"
    return {"action": f"{action}?{urlencode({'state': state})}", "manifest": json.dumps(build_manifest(name))}


def complete_manifest(code: str, *, actor: Actor) -> GitHubAppConfig:
    """Exchange the manifest code for the App's credentials and store them (replacing any earlier App)."""
    if not code or not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", code):
        raise ValidationFailed("GitHub did not send a valid code.", errors={"code": ["missing or malformed"]})
    try:
        data = github().public_request("POST", f"/app-manifests/{code}/conversions")
    except GitHubError as exc:
        if exc.status in (404, 422):
            raise ValidationFailed("GitHub did not accept the code: it expired or was already used.",
                                   errors={"code": [exc.message]}) from exc
        raise
    db.session.execute(delete(GitHubAppConfig))
    config = GitHubAppConfig(
        app_id=int(data["id"]), slug=str(data["slug"]), name=str(data.get("name") or data["slug"]),
        owner_login=(data.get("owner") or {}).get("login"), html_url=data.get("html_url"),
        client_id=data.get("client_id"), client_secret=data.get("client_secret"), private_key=data.get("pem"),
        webhook_secret=data.get("webhook_secret"),
    )
    db.session.add(config)
    audit.record("github.app.register", "github_app", config.app_id, actor=actor,
                 details={"slug": config.slug, "owner": config.owner_login})
    db.session.commit()
    return config
