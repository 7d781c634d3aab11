"""/api/v1 for runner pools and runners. Writes need the maintainer role and the runners:write scope."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView

from webapp.auth.access import actor, api_requires
from webapp.extensions import Blueprint
from webapp.runners import pools, service
from webapp.runners.schemas import (
    PoolCreateSchema,
    PoolListSchema,
    PoolSchema,
    PoolSettingsSchema,
    RepoPoolCreateSchema,
    RunnerDetailSchema,
    RunnerListArgs,
    RunnerPageSchema,
)

blp = Blueprint("runners_api", __name__, url_prefix="/api/v1", description="Ephemeral runners on AWS ECS")


@blp.route("/repos/<int:repo_id>/runners")
class RepoRunnersView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, PoolListSchema)
    def get(self, repo_id: int) -> Any:
        """List a repository's runner pools (its own and its organisation's)"""
        return {"items": pools.pools_for_repository(g.principal, repo_id)}

    @api_requires("maintainer", "runners:write")
    @blp.arguments(RepoPoolCreateSchema)
    @blp.response(201, PoolSchema)
    def post(self, body: dict[str, Any], repo_id: int) -> Any:
        """Create a runner pool for a repository"""
        return pools.create_pool(g.principal, {**body, "scope": "repository", "repository_id": repo_id},
                                 actor=actor())


@blp.route("/runner-pools")
class PoolsView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, PoolListSchema)
    def get(self) -> Any:
        """List the runner pools you can see"""
        return {"items": pools.list_pools(g.principal)}

    @api_requires("maintainer", "runners:write")
    @blp.arguments(PoolCreateSchema)
    @blp.response(201, PoolSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a runner pool (repository, or organisation for admins)"""
        return pools.create_pool(g.principal, body, actor=actor())


@blp.route("/runner-pools/<int:pool_id>")
class PoolView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, PoolSchema)
    def get(self, pool_id: int) -> Any:
        """Show a runner pool"""
        return pools.get_visible_pool(g.principal, pool_id)

    @api_requires("maintainer", "runners:write")
    @blp.arguments(PoolSettingsSchema(partial=True))
    @blp.response(200, PoolSchema)
    def patch(self, body: dict[str, Any], pool_id: int) -> Any:
        """Change a runner pool's settings (checked against AWS again)"""
        return pools.update_pool(g.principal, pool_id, body, actor=actor())

    @api_requires("maintainer", "runners:write")
    @blp.response(204)
    def delete(self, pool_id: int) -> None:
        """Delete a runner pool that has no runner alive"""
        pools.delete_pool(g.principal, pool_id, actor=actor())


@blp.route("/runners")
class RunnersView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(RunnerListArgs, location="query")
    @blp.response(200, RunnerPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List runners, newest first (filter by status, pool, repository)"""
        return service.list_runners(g.principal, status=args["status"], pool_id=args["pool_id"],
                                    repository_id=args["repository_id"], cursor=args["cursor"], limit=args["limit"])


@blp.route("/runners/<int:runner_id>")
class RunnerView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, RunnerDetailSchema)
    def get(self, runner_id: int) -> Any:
        """Show a runner with its timeline"""
        return service.get_visible_runner(g.principal, runner_id)

    @api_requires("maintainer", "runners:write")
    @blp.response(200, RunnerDetailSchema)
    def delete(self, runner_id: int) -> Any:
        """Stop a runner: deregister it on GitHub, then stop its task (409 while it runs a job)"""
        return service.request_stop(g.principal, runner_id, actor=actor())
