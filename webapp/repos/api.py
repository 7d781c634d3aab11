"""/api/v1 for the GitHub connection, installations, repositories and repository webhooks."""

from __future__ import annotations

from typing import Any

from flask import g
from flask.views import MethodView

from webapp.auth.access import api_requires
from webapp.extensions import Blueprint
from webapp.repos import accounts, hooks, service
from webapp.repos.schemas import (
    GitHubAccessResultsSchema,
    GitHubCommitArgs,
    GitHubCommitSchema,
    GitHubConnectionSchema,
    GitHubDisconnectedSchema,
    GitHubDisconnectSchema,
    GitHubHealthSchema,
    GitHubHookCreateSchema,
    GitHubHookListSchema,
    GitHubHookSchema,
    GitHubInstallationListSchema,
    GitHubInstallUrlSchema,
    GitHubJobSchema,
    GitHubProfileSchema,
    GitHubRepositoryCreateSchema,
    GitHubRepositoryListArgs,
    GitHubRepositoryPageSchema,
    GitHubRepositorySchema,
    GitHubTokenRequestSchema,
    GitHubTokenSchema,
    GitHubValidateAccessSchema,
)

blp = Blueprint("repos_api", __name__, url_prefix="/api/v1",
                description="GitHub connection, installations, repositories, repository webhooks")


@blp.route("/github/connection")
class ConnectionView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubConnectionSchema)
    def get(self) -> Any:
        """The caller's GitHub connection and the App's set-up"""
        return accounts.connection_status(g.principal.user)


@blp.route("/github/disconnect")
class DisconnectView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(GitHubDisconnectSchema)
    @blp.response(200, GitHubDisconnectedSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Forget the caller's GitHub token (and optionally revoke the grant on GitHub)"""
        return accounts.disconnect(g.principal.user, revoke=body["revoke"])


@blp.route("/github/install")
class InstallView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubInstallUrlSchema)
    def get(self) -> Any:
        """Where to install the GitHub App on an account"""
        return service.install_link()


@blp.route("/github/installations")
class InstallationsView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubInstallationListSchema)
    def get(self) -> Any:
        """The App's installations the caller can see"""
        return {"items": service.list_installations(g.principal)}


@blp.route("/github/installations/reconcile")
class ReconcileView(MethodView):
    @api_requires("admin", "admin")
    @blp.response(202, GitHubJobSchema)
    def post(self) -> Any:
        """Queue a full reconcile of installations and repositories against GitHub"""
        return {"job_id": service.request_reconcile()}


@blp.route("/github/installation/token")
class InstallationTokenView(MethodView):
    @api_requires("admin", "admin")
    @blp.arguments(GitHubTokenRequestSchema)
    @blp.response(201, GitHubTokenSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Mint an installation token scoped down to some repositories and permissions (audited)"""
        return service.scoped_installation_token(g.principal, installation_id=body["installation_id"],
                                                 repositories=body["repositories"], permissions=body["permissions"])


@blp.route("/github/user")
class GitHubUserView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubProfileSchema)
    def get(self) -> Any:
        """The caller's GitHub profile, read with their own token"""
        return accounts.github_profile(g.principal.user)


@blp.route("/github/health")
class HealthView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubHealthSchema)
    def get(self) -> Any:
        """Is the App configured, can it authenticate, does GitHub answer"""
        return service.github_health()


@blp.route("/github/repositories/validate-access")
class ValidateAccessView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(GitHubValidateAccessSchema)
    @blp.response(200, GitHubAccessResultsSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Check that the caller and the App can use each repository"""
        return {"results": service.validate_access(g.principal, body["repositories"], body["permission"])}


@blp.route("/github/repositories")
class CreateRepositoryView(MethodView):
    @api_requires("admin", "admin")
    @blp.arguments(GitHubRepositoryCreateSchema)
    @blp.response(201, GitHubRepositorySchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a repository through the App in an account it is installed on"""
        return service.create_repository(g.principal, **body)


@blp.route("/github/hooks")
class HooksView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubHookListSchema)
    def get(self) -> Any:
        """Repository webhooks Gantry set up on repositories the App is not installed on"""
        return {"items": [hooks.hook_view(h) for h in hooks.list_hooks(g.principal)]}

    @api_requires("maintainer", "webhooks:write")
    @blp.arguments(GitHubHookCreateSchema)
    @blp.response(201, GitHubHookSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a webhook on a repository (with your GitHub token) that delivers to Gantry, and ping it"""
        return hooks.hook_view(hooks.set_up_hook(g.principal, body["repository"], body["events"]))


@blp.route("/github/hooks/<int:hook_id>")
class HookView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubHookSchema)
    def get(self, hook_id: int) -> Any:
        """One repository webhook, with whether its ping arrived"""
        return hooks.hook_view(hooks.get_hook(g.principal, hook_id))

    @api_requires("maintainer", "webhooks:write")
    @blp.response(200, GitHubHookSchema)
    def delete(self, hook_id: int) -> Any:
        """Remove the webhook from GitHub and stop accepting its deliveries"""
        return hooks.hook_view(hooks.remove_hook(g.principal, hook_id))


@blp.route("/github/hooks/<int:hook_id>/ping")
class HookPingView(MethodView):
    @api_requires("maintainer", "webhooks:write")
    @blp.response(200, GitHubHookSchema)
    def post(self, hook_id: int) -> Any:
        """Ask GitHub to ping the webhook again"""
        return hooks.hook_view(hooks.ping_hook(g.principal, hook_id))


@blp.route("/repos")
class RepositoriesView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(GitHubRepositoryListArgs, location="query")
    @blp.response(200, GitHubRepositoryPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The repositories the caller may see (search, cursor pagination)"""
        return service.list_repositories(g.principal, search=args["q"], cursor=args["cursor"], limit=args["limit"])


@blp.route("/repos/<owner>/<repo>")
class RepositoryView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, GitHubRepositorySchema)
    def get(self, owner: str, repo: str) -> Any:
        """One repository the caller may see"""
        return service.get_repository(g.principal, owner, repo)


@blp.route("/repos/<owner>/<repo>/commits")
class CommitsView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(GitHubCommitArgs, location="query")
    @blp.response(200, GitHubCommitSchema(many=True))
    def get(self, args: dict[str, Any], owner: str, repo: str) -> Any:
        """Recent commits of a repository, from GitHub"""
        return service.recent_commits(g.principal, owner, repo, branch=args["branch"], limit=args["limit"])
