"""Infrajet's GitHub integration front door (seed 002) under /compat/infrajet/api/v1/github.

The OAuth JSON flow is the shared sign-in service (webapp.auth.oauth) linking GitHub to the
signed-in user; connection, installations, repositories, tokens and the install link answer from
webapp.repos' services; project sync from webapp.sync's (an Infrajet `project_id` is a Gantry
project's id or name; a sync names its repository and branch, and the project is bound to them);
the webhook is Gantry's intake. Only the request and answer shapes are Infrajet's.
"""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView

from webapp.auth import oauth
from webapp.auth.access import api_requires, public
from webapp.compat.blueprint import FrontDoorBlueprint as Blueprint
from webapp.compat.infrajet_schemas import (
    InfrajetAuthorizationSchema,
    InfrajetCallbackSchema,
    InfrajetConflictCheckResponseSchema,
    InfrajetConflictCheckSchema,
    InfrajetConnectionStatusSchema,
    InfrajetCreateRepositorySchema,
    InfrajetDisconnectSchema,
    InfrajetFilesSchema,
    InfrajetHealthSchema,
    InfrajetInstallArgs,
    InfrajetInstallationTokenSchema,
    InfrajetInstallUrlSchema,
    InfrajetLoginArgs,
    InfrajetManualTriggerSchema,
    InfrajetMetricsSchema,
    InfrajetPageArgs,
    InfrajetProjectSyncSchema,
    InfrajetPushResponseSchema,
    InfrajetRepositoryListSchema,
    InfrajetRetrySchema,
    InfrajetSyncHistorySchema,
    InfrajetSyncResponseSchema,
    InfrajetSyncStatusSchema,
    InfrajetTokenSchema,
    InfrajetValidateAccessResponseSchema,
    InfrajetValidateAccessSchema,
)
from webapp.core.errors import NotFound, ValidationFailed
from webapp.repos import accounts
from webapp.repos import service as repos
from webapp.repos.schemas import GitHubInstallationSchema, GitHubProfileSchema, GitHubRepositorySchema
from webapp.sync import runs as sync_runs
from webapp.sync.models import Project, SyncRun

blp = Blueprint("compat-infrajet", __name__, url_prefix="/compat/infrajet/api/v1/github",
                description="Infrajet GitHub integration (seed 002): OAuth, connection, installations, "
                            "repositories, project sync, push, install link, webhook, health")

PURPOSE = "infrajet"
LANDED = ("succeeded", "nothing_to_do", "pull_request")


# --- adapters --------------------------------------------------------------------------------


def _bound_project(project_ref: str, full_name: str, branch: str | None) -> Project:
    """The project named by Infrajet's project_id, bound to the repository (and branch) the request names."""
    owner, _, name = full_name.partition("/")
    repo = repos.get_repository(g.principal, owner, name)
    try:
        project = sync_runs.find_project(g.principal, project_ref)
    except NotFound:  # not known yet: Infrajet's own project ids become project names here
        if project_ref.strip().isdigit():  # a Gantry project's number names one that must exist
            raise
        return sync_runs.find_or_create_binding(g.principal, repo.id, branch, "", project_ref)
    if project.repository_id != repo.id or (branch and project.branch != branch):
        raise ValidationFailed(f"Project {project_ref} syncs to {project.repository.full_name}@{project.branch}, "
                               f"not {full_name}@{branch or project.branch}.",
                               errors={"repository_full_name": ["not this project's repository and branch"]})
    return project


def _sync_answer(run: SyncRun, project_ref: str, conflicts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    landed = run.status in LANDED
    return {
        "success": run.status not in ("failed", "conflict"),
        "sync_id": run.sync_id, "status": run.status,
        "message": run.error or ("Synced." if landed else f"Sync {run.status}."),
        "project_id": project_ref, "repository": run.project.repository.full_name, "branch": run.branch,
        "commit_sha": run.commit_sha, "files_synced": run.files_written + run.files_deleted,
        "conflicts": conflicts if conflicts is not None else run.conflict_files,
    }


def _plan_conflicts(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in plan.get("files", []) if f.get("action") == "conflict"]


def _start(body: dict[str, Any], paths: list[str] | None) -> dict[str, Any]:
    project = _bound_project(body["project_id"], body["repository_full_name"], body["branch"])
    if body["check_conflicts"]:
        plan = sync_runs.check_conflicts(g.principal, project.id, paths)
        conflicts = _plan_conflicts(plan)
        if conflicts:  # Infrajet stops before syncing when asked to check: nothing is written
            return {"success": False, "sync_id": "", "status": "conflict",
                    "message": f"{len(conflicts)} file(s) changed on GitHub too; resolve or sync without the check.",
                    "project_id": body["project_id"], "repository": project.repository.full_name,
                    "branch": project.branch, "commit_sha": None, "files_synced": 0, "conflicts": conflicts}
    run = sync_runs.start_sync(g.principal, project.id, paths=paths, message=body["commit_message"], trigger="api")
    return _sync_answer(run, body["project_id"])


# --- OAuth -----------------------------------------------------------------------------------


@blp.route("/auth/login")
class LoginView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(InfrajetLoginArgs, location="query")
    @blp.response(200, InfrajetAuthorizationSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Initiate GitHub OAuth authentication flow (links GitHub to the signed-in user)"""
        return oauth.begin(oauth.client_redirect_uri(args["redirect_uri"]), purpose=PURPOSE,
                           client_state=args["state"], user_id=g.principal.user.id)


@blp.route("/auth/callback")
class CallbackView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(InfrajetCallbackSchema)
    @blp.response(200, GitHubProfileSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Handle GitHub OAuth callback and connect account: the GitHub profile"""
        return oauth.finish(body["code"], body["state"], purpose=PURPOSE, link_to=g.principal.user).profile


# --- connection ------------------------------------------------------------------------------


@blp.route("/connection/status")
class ConnectionStatusView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, InfrajetConnectionStatusSchema)
    def get(self) -> Any:
        """Get GitHub connection status for the current user"""
        status = accounts.connection_status(g.principal.user)
        return {"connected": status["connected"], "username": status["login"],
                "connected_at": status["connected_at"], "repositories_count": status["repositories"],
                "permissions": status["scopes"]}


@blp.route("/disconnect")
class DisconnectView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(InfrajetDisconnectSchema)
    @blp.response(200)
    def post(self, body: dict[str, Any]) -> Any:
        """Disconnect GitHub account from the current user"""
        done = accounts.disconnect(g.principal.user, revoke=body["revoke_token"])
        return {"success": True, "message": f"GitHub account {done['login']} disconnected.",
                "token_revoked": done["revoked"]}


# --- repositories ----------------------------------------------------------------------------


@blp.route("/repositories")
class RepositoriesView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(InfrajetPageArgs, location="query")
    @blp.response(200, InfrajetRepositoryListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Get user's GitHub repositories"""
        items, total = repos.numbered_page_of_repositories(g.principal, page=args["page"], per_page=args["per_page"])
        return {"repositories": items, "total_count": total, "page": args["page"], "per_page": args["per_page"]}

    @api_requires("admin", "admin")
    @blp.arguments(InfrajetCreateRepositorySchema)
    @blp.response(200, GitHubRepositorySchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a new repository using GitHub App"""
        return repos.create_repository(g.principal, owner=body["owner"], name=body["name"],
                                       private=body["private"], description=body["description"])


@blp.route("/repositories/<owner>/<repo>")
class RepositoryView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubRepositorySchema)
    def get(self, owner: str, repo: str) -> Any:
        """Get a specific repository by owner and name"""
        return repos.get_repository(g.principal, owner, repo)


# --- sync ------------------------------------------------------------------------------------


@blp.route("/sync/project")
class SyncProjectView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(InfrajetProjectSyncSchema)
    @blp.response(200, InfrajetSyncResponseSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Sync an entire project to a GitHub repository"""
        return _start(body, None)


@blp.route("/sync/manual-trigger")
class ManualTriggerView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(InfrajetManualTriggerSchema)
    @blp.response(200, InfrajetSyncResponseSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Manually trigger a synchronization operation with custom parameters"""
        if not body["sync_all_files"] and not body["file_paths"]:
            raise ValidationFailed("Name file_paths, or set sync_all_files.", errors={"file_paths": ["empty"]})
        return _start({**body, "check_conflicts": body.get("check_conflicts", False)},
                      None if body["sync_all_files"] else body["file_paths"])


@blp.route("/sync/history/<project_id>")
class SyncHistoryView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(InfrajetPageArgs, location="query")
    @blp.response(200, InfrajetSyncHistorySchema)
    def get(self, args: dict[str, Any], project_id: str) -> Any:
        """Get synchronization history for a project, newest first"""
        project = sync_runs.find_project(g.principal, project_id)
        page = sync_runs.run_history(g.principal, project.id, None, args["per_page"])
        return {"project_id": project_id, "syncs": page.items,
                "total": sync_runs.sync_status(g.principal, project.id)["total_syncs"]}


@blp.route("/sync/status/<project_id>")
class SyncStatusView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, InfrajetSyncStatusSchema)
    def get(self, project_id: str) -> Any:
        """Get current synchronization status for a project"""
        status = sync_runs.sync_status(g.principal, sync_runs.find_project(g.principal, project_id).id)
        return {"project_id": project_id, "status": status["state"], "repository": status["repository"],
                "last_sync_at": status["last_synced_at"], "last_commit_sha": status["last_commit_sha"],
                "total_syncs": status["total_syncs"], "last_successful_sync": status["last_successful_sync"]}


@blp.route("/sync/check-conflicts")
class CheckConflictsView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(InfrajetConflictCheckSchema)
    @blp.response(200, InfrajetConflictCheckResponseSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Check for potential conflicts before syncing a project (writes nothing)"""
        project = sync_runs.find_project(g.principal, body["project_id"])
        plan = sync_runs.check_conflicts(g.principal, project.id, body["file_paths"])
        conflicts = _plan_conflicts(plan)
        return {"project_id": body["project_id"], "has_conflicts": bool(conflicts), "conflicts": conflicts,
                "files": plan.get("files", []), "head_sha": plan.get("head_sha")}


@blp.route("/sync/retry")
class RetryView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(InfrajetRetrySchema)
    @blp.response(200, InfrajetSyncResponseSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Retry a failed synchronization operation (same sync_id, so no commit is made twice)"""
        if body["sync_id"]:
            run = sync_runs.get_run_by_sync_id(g.principal, body["sync_id"])
        elif body["project_id"]:
            run = sync_runs.latest_failed_run(g.principal, sync_runs.find_project(g.principal, body["project_id"]).id)
        else:
            raise ValidationFailed("Name the sync_id to retry (or the project_id).", errors={"sync_id": ["missing"]})
        run = sync_runs.retry_run(g.principal, run.id)
        return _sync_answer(run, body["project_id"] or str(run.project_id))


@blp.route("/sync/metrics")
class MetricsView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, InfrajetMetricsSchema)
    def get(self) -> Any:
        """Get synchronization metrics and statistics for the user"""
        figures = sync_runs.sync_metrics(g.principal)
        duration = figures["average_duration_ms"]
        return {"user_id": g.principal.user.id, "total_syncs": figures["syncs"],
                "successful_syncs": figures["successes"], "failed_syncs": figures["failures"],
                "total_files_synced": figures["files"], "total_conflicts_resolved": figures["conflicts"],
                "average_sync_duration": round(duration / 1000, 3) if duration is not None else None,
                "last_sync_at": figures["last_sync"],
                "connected_repositories": repos.count_repositories(g.principal)}


# --- GitHub App ------------------------------------------------------------------------------


@blp.route("/installations")
class InstallationsView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubInstallationSchema(many=True))
    def get(self) -> Any:
        """Get GitHub App installations accessible to a user (X-GitHub-Token is not needed)"""
        return repos.list_installations(g.principal)


@blp.route("/installation/token")
class InstallationTokenView(MethodView):
    @api_requires("admin", "admin")
    @blp.arguments(InfrajetInstallationTokenSchema)
    @blp.response(200, InfrajetTokenSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Get installation access token for repository operations (admins; audited)"""
        return repos.scoped_installation_token(g.principal, installation_id=body["installation_id"])


def _files_map(body: dict[str, Any]) -> dict[str, Any]:
    repo = repos.get_repository(g.principal, body["repo_owner"], body["repo_name"])
    return {"repository_id": repo.id, "branch": body["branch"], "base_path": "", "project_name": None,
            "message": body["commit_message"], "overwrite": False, "files": body["files"]}


def _push_answer(run: SyncRun) -> dict[str, Any]:
    url = run.project.repository.html_url or f"https://github.com/{run.project.repository.full_name}"
    return {"success": run.status in LANDED, "commit_sha": run.commit_sha,
            "files_pushed": run.files_written + run.files_deleted, "repository_url": url,
            "commit_url": f"{url}/commit/{run.commit_sha}" if run.commit_sha else None, "branch": run.branch,
            "status": run.status, "sync_id": run.sync_id, "conflicts": run.conflict_files, "error": run.error}


@blp.route("/repositories/push")
class PushView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(InfrajetFilesSchema)
    @blp.response(200, InfrajetPushResponseSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Push files to a repository using GitHub App: one commit, its sha and URL in the answer"""
        run = sync_runs.push_files_map(g.principal, _files_map(body), replace_all=False)
        return _push_answer(sync_runs.sync_now(g.principal, run))


@blp.route("/repositories/sync")
class RepositorySyncView(MethodView):
    @api_requires("maintainer", "sync:write")
    @blp.arguments(InfrajetFilesSchema)
    @blp.response(200, InfrajetPushResponseSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Sync files to repository with conflict detection (the repository's project becomes exactly these)"""
        run = sync_runs.push_files_map(g.principal, _files_map(body), replace_all=True)
        return _push_answer(sync_runs.sync_now(g.principal, run))


@blp.route("/repositories/validate-access")
class ValidateAccessView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(InfrajetValidateAccessSchema)
    @blp.response(200, InfrajetValidateAccessResponseSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Validate user access to repository through GitHub App installation"""
        full_name = f"{body['repo_owner']}/{body['repo_name']}"
        result = repos.validate_access(g.principal, [full_name])[0]
        return {"has_access": result["accessible"], "repository": full_name, "permission": result["permission"],
                "app_installed": result["app_installed"], "reason": result["reason"]}


@blp.route("/install")
class InstallView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(InfrajetInstallArgs, location="query")
    @blp.response(200, InfrajetInstallUrlSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Generate GitHub App installation URL (honours state and suggested_target_id)"""
        link = repos.install_link(state=args["state"], suggested_target_id=args["suggested_target_id"])
        return {"installation_url": link["url"], "app_name": link["app_slug"], "state": link["state"],
                "github_app_url": link["app_url"]}


blp.webhook_intake_at("/webhook")


@blp.route("/health")
class HealthView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.response(200, InfrajetHealthSchema)
    def get(self) -> Any:
        """GitHub App service health check"""
        health = repos.github_health()
        return {"service": "GitHub App", "status": "healthy" if health["ok"] else "unhealthy", "checks": {
            "configuration": "✓ Valid" if health["configured"] else "✗ Not configured",
            "jwt_generation": "✓ Working" if health["jwt"] else "✗ Failing",
            "api_connectivity": "✓ Connected" if health["api"] else "✗ Not connected",
        }}

