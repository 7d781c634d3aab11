"""The admins' first-run checklist steps that belong to runners: AWS credentials and a first pool."""

from __future__ import annotations

from flask import url_for
from sqlalchemy import select

from webapp.core.overview import SetupStep
from webapp.extensions import db
from webapp.integrations import ecs
from webapp.runners.models import RunnerPool


def aws_step() -> SetupStep:
    return SetupStep("Give Gantry AWS credentials", ecs.credentials_configured(), url_for("runners.pools"),
                     "Runners launch as ECS tasks with the credentials boto3 finds (environment, shared file or "
                     "container role). Pools with launching off work without them.")


def pool_step() -> SetupStep:
    exists = db.session.scalar(select(RunnerPool.id).limit(1)) is not None
    return SetupStep("Create a runner pool", exists, url_for("runners.new_pool"),
                     "A pool says which repositories' jobs get runners, with which labels, and how many at most.")
