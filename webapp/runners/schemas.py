"""Request and response shapes of the runners API."""

from __future__ import annotations

import marshmallow as ma

from webapp.core.pagination import PageArgsSchema, page_schema
from webapp.runners.models import CAPACITY_CHOICES, RUNNER_STATES


class PoolSettingsSchema(ma.Schema):
    """Settings of a pool; on update every field is optional."""

    name = ma.fields.String(metadata={"description": "1-30 lower-case letters, digits, dashes; runners are "
                                                     "named gantry-<name>-<id>"})
    labels = ma.fields.List(ma.fields.String(), metadata={"description": "Jobs whose labels are all in this list "
                                                                         "(case-insensitive; self-hosted implied) "
                                                                         "run here"})
    max_runners = ma.fields.Integer(metadata={"description": "Cap: runners alive at once"})
    min_idle = ma.fields.Integer(metadata={"description": "Registered runners kept warm (default 0)"})
    runner_group_id = ma.fields.Integer(allow_none=True, metadata={"description": "Organisation pools only"})
    idle_timeout_seconds = ma.fields.Integer()
    boot_timeout_seconds = ma.fields.Integer()
    region = ma.fields.String()
    cluster = ma.fields.String()
    task_definition = ma.fields.String(metadata={"description": "family, family:revision or ARN"})
    capacity = ma.fields.String(validate=ma.validate.OneOf(CAPACITY_CHOICES))
    subnets = ma.fields.List(ma.fields.String())
    security_groups = ma.fields.List(ma.fields.String())
    assign_public_ip = ma.fields.Boolean()
    container_name = ma.fields.String()
    cpu = ma.fields.Integer(allow_none=True, metadata={"description": "CPU units override (1024 = 1 vCPU)"})
    memory = ma.fields.Integer(allow_none=True, metadata={"description": "Memory override in MiB"})
    cost_per_vcpu_hour = ma.fields.Float(metadata={"description": "USD, for the cost figures"})
    cost_per_gb_hour = ma.fields.Float(metadata={"description": "USD, for the cost figures"})
    enabled = ma.fields.Boolean()


class RepoPoolCreateSchema(PoolSettingsSchema):
    """A new pool: labels and a cap; the name defaults to owner-label, ECS launch settings to ECS_*."""

    labels = ma.fields.List(ma.fields.String(), required=True)
    max_runners = ma.fields.Integer(required=True)


class PoolCreateSchema(RepoPoolCreateSchema):
    scope = ma.fields.String(required=True, validate=ma.validate.OneOf(("repository", "organization")))
    repository_id = ma.fields.Integer(load_default=None, allow_none=True)
    installation_id = ma.fields.Integer(load_default=None, allow_none=True,
                                        metadata={"description": "Organisation pools: the App installation"})


class PoolSchema(PoolSettingsSchema):
    id = ma.fields.Integer()
    scope = ma.fields.String()
    repository_id = ma.fields.Integer(allow_none=True)
    installation_id = ma.fields.Integer()
    owner = ma.fields.String(attribute="owner_label")
    status = ma.fields.String(metadata={"enum": ["ok", "degraded"]})
    degraded_reason = ma.fields.String(allow_none=True)
    task_cpu = ma.fields.Integer(allow_none=True)
    task_memory = ma.fields.Integer(allow_none=True)
    hourly_cost = ma.fields.Float(metadata={"description": "Estimated USD per runner-hour"})
    created_at = ma.fields.DateTime()
    updated_at = ma.fields.DateTime()


class RunnerSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    pool_id = ma.fields.Integer()
    pool = ma.fields.Function(lambda r: r.pool.name)
    state = ma.fields.String(metadata={"enum": list(RUNNER_STATES)})
    repository_id = ma.fields.Integer(allow_none=True)
    github_runner_id = ma.fields.Integer(allow_none=True)
    task_arn = ma.fields.String(allow_none=True)
    job_id = ma.fields.Integer(allow_none=True, metadata={"description": "Ledger id of the job it ran"})
    launch_attempts = ma.fields.Integer()
    requested_at = ma.fields.DateTime()
    launching_at = ma.fields.DateTime(allow_none=True)
    registered_at = ma.fields.DateTime(allow_none=True)
    busy_at = ma.fields.DateTime(allow_none=True)
    ended_at = ma.fields.DateTime(allow_none=True)
    stop_reason = ma.fields.String(allow_none=True)
    exit_code = ma.fields.Integer(allow_none=True)
    seconds = ma.fields.Float(metadata={"description": "Runner-seconds so far"})
    hourly_cost = ma.fields.Float()


class RunnerEventSchema(ma.Schema):
    at = ma.fields.DateTime()
    kind = ma.fields.String()
    reason = ma.fields.String(allow_none=True)
    message = ma.fields.String()


class RunnerDetailSchema(RunnerSchema):
    events = ma.fields.List(ma.fields.Nested(RunnerEventSchema))


class RunnerListArgs(PageArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf((*RUNNER_STATES, "alive")),
                              metadata={"description": "A state, or `alive` for requested/launching/idle/busy"})
    pool_id = ma.fields.Integer(load_default=None)
    repository_id = ma.fields.Integer(load_default=None)


class PoolListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(PoolSchema))


RunnerPageSchema = page_schema(RunnerSchema, "RunnerPage")
