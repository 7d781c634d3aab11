"""The admins' first-run checklist step that belongs to people and keys: a first API key."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from webapp.auth.models import ApiKey
from webapp.core.overview import SetupStep
from webapp.extensions import db


def api_key_step() -> SetupStep:
    exists = db.session.scalar(select(ApiKey.id).limit(1)) is not None
    return SetupStep("Create an API key", exists, url_for("auth.api_keys"),
                     "CI pipelines report builds and automation calls /api/v1 with a scoped key.")
