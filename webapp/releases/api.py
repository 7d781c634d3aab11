"""/api/v1/releases and /api/v1/repos/{repo_id}/environments: releases, deployments, approvals."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from webapp.auth.access import api_requires, signed_in
from webapp.auth.principal import Principal
from webapp.extensions import Blueprint
from webapp.releases import deployments, environments, figures, service
from webapp.releases.schemas import (
    ApproveSchema,
    BuildLinksSchema,
    DeploymentCreateSchema,
    DeploymentSchema,
    EnvironmentCreateSchema,
    EnvironmentSchema,
    EnvironmentWriteSchema,
    FiguresArgs,
    FiguresSchema,
    OverrideSchema,
    PreviewSchema,
    ReleaseCreateSchema,
    ReleaseListArgs,
    ReleasePageSchema,
    ReleaseSchema,
    RollbackSchema,
    StatusReportSchema,
)

blp = Blueprint("releases_api", __name__, url_prefix="/api/v1/releases",
                description="Releases, their publishing to GitHub, deployments and approvals")
environments_blp = Blueprint("environments_api", __name__, url_prefix="/api/v1/repos/<int:repo_id>",
                             description="A repository's environments, rollbacks and delivery figures")


def _who() -> Principal:
    return signed_in()


def _shown(release: Any) -> Any:
    """The release as its reader may see it: linked builds of hidden repositories left out."""
    return service.shown_to(_who(), [release])[0]


@blp.route("")
class ReleasesView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(ReleaseListArgs, location="query")
    @blp.response(200, ReleasePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List releases, newest first (optionally of one repository)"""
        page = service.list_releases(_who(), repository_id=args["repository_id"], cursor=args["cursor"],
                                     limit=args["limit"])
        service.shown_to(_who(), page.items)
        return page

    @api_requires("maintainer", "releases:write")
    @blp.arguments(ReleaseCreateSchema)
    @blp.response(201, ReleaseSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Cut a release (a draft: nothing is written to GitHub until it is published)"""
        return _shown(service.create_release(_who(), body["repository_id"], target=body["target"],
                                             version=body["version"], title=body["title"],
                                             build_uuids=body["build_uuids"], actor=_who().user))


@blp.route("/preview")
class PreviewView(MethodView):
    @api_requires("maintainer", "releases:write")
    @blp.arguments(ReleaseCreateSchema)
    @blp.response(200, PreviewSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Preview a release: version, notes and commit range; writes nothing"""
        preview = service.preview_release(_who(), body["repository_id"], body["target"], body["version"])
        return {**preview, "repository_id": body["repository_id"]}


@blp.route("/<int:release_id>")
class ReleaseView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, ReleaseSchema)
    def get(self, release_id: int) -> Any:
        """Get a release with its notes"""
        return _shown(service.get_release(_who(), release_id))


@blp.route("/<int:release_id>/publish")
class PublishView(MethodView):
    @api_requires("maintainer", "releases:write")
    @blp.response(202, ReleaseSchema)
    def post(self, release_id: int) -> Any:
        """Publish to GitHub (tag, then GitHub Release) in the background; safe to repeat"""
        return _shown(service.request_publish(_who(), release_id, actor=_who().user))


@blp.route("/<int:release_id>/builds")
class BuildLinksView(MethodView):
    @api_requires("maintainer", "releases:write")
    @blp.arguments(BuildLinksSchema)
    @blp.response(200, ReleaseSchema)
    def put(self, body: dict[str, Any], release_id: int) -> Any:
        """Set the builds (by uuid) linked to a release"""
        return _shown(service.update_release_builds(_who(), release_id, body["build_uuids"], actor=_who().user))


@blp.route("/<int:release_id>/deployments")
class ReleaseDeploymentsView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, DeploymentSchema(many=True))
    def get(self, release_id: int) -> Any:
        """A release's deployments, newest first"""
        return deployments.list_deployments(_who(), release_id=release_id)

    @api_requires("maintainer", "releases:write")
    @blp.arguments(DeploymentCreateSchema)
    @blp.response(201, DeploymentSchema)
    def post(self, body: dict[str, Any], release_id: int) -> Any:
        """Promote a release to an environment (it must have succeeded in the one before)"""
        return deployments.request_deployment(
            _who(), release_id, body["environment_id"], scheduled_for=body["scheduled_for"],
            override_freeze=body["override_freeze"], override_reason=body["override_reason"], actor=_who().user)


@blp.route("/deployments/<int:deployment_id>")
class DeploymentView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, DeploymentSchema)
    def get(self, deployment_id: int) -> Any:
        """Get a deployment with its approvals"""
        return deployments.get_deployment(_who(), deployment_id)


@blp.route("/deployments/<int:deployment_id>/approvals")
class ApprovalsView(MethodView):
    @api_requires("maintainer", "releases:write")
    @blp.arguments(ApproveSchema)
    @blp.response(201, DeploymentSchema)
    def post(self, body: dict[str, Any], deployment_id: int) -> Any:
        """Approve a deployment as yourself (not the release's author; expires after 72 h by default)"""
        return deployments.approve(_who(), deployment_id, comment=body["comment"])


@blp.route("/deployments/<int:deployment_id>/freeze-override")
class FreezeOverrideView(MethodView):
    @api_requires("admin", "releases:write")
    @blp.arguments(OverrideSchema)
    @blp.response(200, DeploymentSchema)
    def post(self, body: dict[str, Any], deployment_id: int) -> Any:
        """Let a deployment through a freeze window (admins, with a reason; audited)"""
        return deployments.override_freeze(_who(), deployment_id, body["reason"], actor=_who().user)


@blp.route("/deployments/<int:deployment_id>/status")
class StatusView(MethodView):
    @api_requires("maintainer", "releases:write")
    @blp.arguments(StatusReportSchema)
    @blp.response(200, DeploymentSchema)
    def post(self, body: dict[str, Any], deployment_id: int) -> Any:
        """Report a deployment's progress or outcome (also sent to GitHub)"""
        return deployments.report_status(_who(), deployment_id, body["state"], description=body["description"],
                                         actor=_who().user)


@environments_blp.route("/environments")
class EnvironmentsView(MethodView):
    @api_requires("viewer", "read")
    @environments_blp.response(200, EnvironmentSchema(many=True))
    def get(self, repo_id: int) -> Any:
        """A repository's environments in promotion order"""
        return environments.list_environments(_who(), repo_id)

    @api_requires("maintainer", "releases:write")
    @environments_blp.arguments(EnvironmentCreateSchema)
    @environments_blp.response(201, EnvironmentSchema)
    def post(self, body: dict[str, Any], repo_id: int) -> Any:
        """Add an environment (after the last one unless a position is given)"""
        return environments.create_environment(_who(), repo_id, body, actor=_who().user)


@environments_blp.route("/environments/<int:environment_id>")
class EnvironmentView(MethodView):
    @api_requires("viewer", "read")
    @environments_blp.response(200, EnvironmentSchema)
    def get(self, repo_id: int, environment_id: int) -> Any:
        """Get an environment's settings"""
        return environments.get_environment(_who(), environment_id, repo_id)

    @api_requires("maintainer", "releases:write")
    @environments_blp.arguments(EnvironmentWriteSchema)
    @environments_blp.response(200, EnvironmentSchema)
    def patch(self, body: dict[str, Any], repo_id: int, environment_id: int) -> Any:
        """Change an environment's order, approvals, approvers or freeze windows"""
        return environments.update_environment(_who(), environment_id, body, actor=_who().user, repository_id=repo_id)

    @api_requires("maintainer", "releases:write")
    @environments_blp.response(204)
    def delete(self, repo_id: int, environment_id: int) -> None:
        """Delete an environment that has never been deployed to"""
        environments.delete_environment(_who(), environment_id, actor=_who().user, repository_id=repo_id)


@environments_blp.route("/environments/<int:environment_id>/deployments")
class EnvironmentDeploymentsView(MethodView):
    @api_requires("viewer", "read")
    @environments_blp.response(200, DeploymentSchema(many=True))
    def get(self, repo_id: int, environment_id: int) -> Any:
        """An environment's deployments, newest first"""
        environments.get_environment(_who(), environment_id, repo_id)
        return deployments.list_deployments(_who(), environment_id=environment_id)


@environments_blp.route("/environments/<int:environment_id>/rollback")
class RollbackView(MethodView):
    @api_requires("maintainer", "releases:write")
    @environments_blp.arguments(RollbackSchema)
    @environments_blp.response(201, DeploymentSchema)
    def post(self, body: dict[str, Any], repo_id: int, environment_id: int) -> Any:
        """Redeploy the last release that succeeded here before the current one (audited)"""
        environments.get_environment(_who(), environment_id, repo_id)
        return deployments.rollback(_who(), environment_id, reason=body["reason"], actor=_who().user)


@environments_blp.route("/delivery-figures")
class FiguresView(MethodView):
    @api_requires("viewer", "read")
    @environments_blp.arguments(FiguresArgs, location="query")
    @environments_blp.response(200, FiguresSchema)
    def get(self, args: dict[str, Any], repo_id: int) -> Any:
        """Deployment frequency, lead time, change failure rate, time to restore (12 weeks)"""
        return figures.delivery_figures(_who(), repo_id, args["environment_id"])
