"""/api/v1 for people, API keys, tokens and the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import current_app, g, request
from flask.views import MethodView

from webapp.auth import oauth, service, tokens
from webapp.auth.access import api_requires, public
from webapp.auth.models import ROLE_SCOPES, ApiKey
from webapp.auth.schemas import (
    ApiKeyCreatedSchema,
    ApiKeyCreateSchema,
    ApiKeyListArgs,
    ApiKeySchema,
    AuditArgsSchema,
    AuditPageSchema,
    GitHubAuthorizationSchema,
    GitHubAuthorizeArgs,
    GitHubCodeSchema,
    HandoffSchema,
    LogoutRequestSchema,
    RefreshRequestSchema,
    TokenPairSchema,
    TokenRequestSchema,
    UserCreateSchema,
    UserPageSchema,
    UserSchema,
    UserUpdateSchema,
)
from webapp.core import audit
from webapp.core.errors import Forbidden, Unauthorized
from webapp.core.pagination import PageArgsSchema
from webapp.extensions import Blueprint, limiter

blp = Blueprint("auth_api", __name__, url_prefix="/api/v1", description="People, API keys, tokens, audit log")


def _login_rate_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


def _username_key() -> str:
    body = request.get_json(silent=True) if request.is_json else None
    username = (body or {}).get("username") if isinstance(body, dict) else None
    return f"login-user:{str(username or request.form.get('username', '')).strip().lower()}"


# Every password sign-in endpoint (here and in the front doors) is limited per address and per username.
LOGIN_LIMITS: list[Callable[..., Any]] = [
    limiter.limit(_login_rate_limit, methods=["POST"]),
    limiter.limit(_login_rate_limit, key_func=_username_key, methods=["POST"]),
]


@blp.route("/auth/token")
class TokenView(MethodView):
    decorators = LOGIN_LIMITS

    @public
    @blp.doc(security=[])
    @blp.arguments(TokenRequestSchema)
    @blp.response(200, TokenPairSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Exchange a username and password for an access and a refresh token"""
        return tokens.sign_in(body["username"], body["password"])


# The Release Manager's clients sign in at /auth/login: the same view, rate limits and answers.
blp.route("/auth/login", endpoint="login")(TokenView)


@blp.route("/auth/github/authorize")
class GitHubAuthorizeView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.arguments(GitHubAuthorizeArgs, location="query")
    @blp.response(200, GitHubAuthorizationSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Start signing in with GitHub from an API client or front end: the URL to send the person to"""
        return oauth.begin(oauth.client_redirect_uri(args["redirect_uri"]), purpose="json",
                           client_state=args["state"])


@blp.route("/auth/github/token")
class GitHubTokenView(MethodView):
    decorators = [limiter.limit(_login_rate_limit, methods=["POST"])]

    @public
    @blp.doc(security=[])
    @blp.arguments(GitHubCodeSchema)
    @blp.response(200, TokenPairSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Exchange GitHub's code and the state (once) for an access and a refresh token"""
        return tokens.issue_tokens(oauth.finish(body["code"], body["state"], purpose="json").user)


@blp.route("/auth/github/handoff")
class GitHubHandoffView(MethodView):
    decorators = [limiter.limit(_login_rate_limit, methods=["POST"])]

    @public
    @blp.doc(security=[])
    @blp.arguments(HandoffSchema)
    @blp.response(200, TokenPairSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Trade the one-time code a redirect sign-in put in FRONTEND_URL's fragment for tokens"""
        return oauth.redeem_handoff(body["code"])


@blp.route("/auth/refresh")
class RefreshView(MethodView):
    @public
    @blp.doc(security=[])
    @blp.arguments(RefreshRequestSchema)
    @blp.response(200, TokenPairSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Rotate a refresh token; a reused one revokes the whole login"""
        return tokens.refresh_tokens(body["refresh_token"])


@blp.route("/auth/logout")
class LogoutView(MethodView):
    @public
    @blp.arguments(LogoutRequestSchema)
    @blp.response(204)
    def post(self, body: dict[str, Any]) -> None:
        """Sign the token's user out of everything: every token family, browser session and remember cookie"""
        token = body.get("token")
        if not token:
            scheme, _, value = request.headers.get("Authorization", "").partition(" ")
            token = value.strip() if scheme.lower() == "bearer" else None
        if not token:
            raise Unauthorized("Send the token to revoke in the body or as a bearer token.")
        service.sign_out(tokens.user_id_of(token))


@blp.route("/me")
class MeView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, UserSchema)
    def get(self) -> Any:
        """The user behind the credentials"""
        return g.principal.user


@blp.route("/users")
class UsersView(MethodView):
    @api_requires("admin", "admin")
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, UserPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """List users (cursor pagination, by id descending)"""
        return service.page_users(cursor=args["cursor"], limit=args["limit"])

    @api_requires("admin", "admin")
    @blp.arguments(UserCreateSchema)
    @blp.response(201, UserSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create a user"""
        return service.create_user(**body, actor=g.principal.user)


@blp.route("/users/<int:user_id>")
class UserView(MethodView):
    @api_requires("admin", "admin")
    @blp.response(200, UserSchema)
    def get(self, user_id: int) -> Any:
        """Get a user"""
        return service.get_user(user_id)

    @api_requires("admin", "admin")
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    def patch(self, body: dict[str, Any], user_id: int) -> Any:
        """Change a user's role, active flag, name, email or password"""
        return service.update_user(user_id, body, actor=g.principal.user)

    @api_requires("admin", "admin")
    @blp.arguments(UserUpdateSchema)
    @blp.response(200, UserSchema)
    def put(self, body: dict[str, Any], user_id: int) -> Any:
        """Change a user (as PATCH: the fields sent change, the others stay)"""
        return service.update_user(user_id, body, actor=g.principal.user)

    @api_requires("admin", "admin")
    @blp.response(204)
    def delete(self, user_id: int) -> None:
        """Delete a user (not the last active admin)"""
        service.delete_user(user_id, actor=g.principal.user)


class _NewApiKey:
    """A key just created, with its secret: the one answer that ever carries it."""

    def __init__(self, key: ApiKey, secret: str) -> None:
        self._key = key
        self.key = secret

    def __getattr__(self, name: str) -> Any:
        return getattr(self._key, name)


@blp.route("/api-keys")
class ApiKeysView(MethodView):
    @api_requires("viewer", "read")
    @blp.arguments(ApiKeyListArgs, location="query")
    @blp.response(200, ApiKeySchema(many=True))
    def get(self, args: dict[str, Any]) -> Any:
        """List your API keys (admins: everyone's with all=true)"""
        user = g.principal.user
        if args["all"] and g.principal.is_admin:
            return service.list_api_keys()
        return service.list_api_keys(user)

    @api_requires("viewer", "read")
    @blp.arguments(ApiKeyCreateSchema)
    @blp.response(201, ApiKeyCreatedSchema)
    def post(self, body: dict[str, Any]) -> Any:
        """Create an API key for yourself; the key is in this answer only"""
        user = g.principal.user
        # A key may only hand on scopes it holds itself, or a read-only key could mint a write key.
        lacking = sorted(s for s in body["scopes"] if s in ROLE_SCOPES[user.role] and not g.principal.has_scope(s))
        if lacking:
            raise Forbidden(f"These credentials cannot grant scopes they do not hold: {', '.join(lacking)}.",
                            code="scope_required")
        key, secret = service.create_api_key(user, name=body["name"], scopes=body["scopes"],
                                             expires_at=body["expires_at"])
        return _NewApiKey(key, secret)


@blp.route("/api-keys/<int:key_id>")
class ApiKeyView(MethodView):
    @api_requires("viewer", "read")
    @blp.response(200, ApiKeySchema)
    def get(self, key_id: int) -> Any:
        """Get one of your API keys (admins: anyone's, with the admin scope)"""
        return service.get_api_key(key_id, visible_to=g.principal)

    @api_requires("viewer", "read")
    @blp.response(200, ApiKeySchema)
    def delete(self, key_id: int) -> Any:
        """Revoke an API key: yours with a token, the presenting key itself, or anyone's with the admin scope"""
        return service.revoke_api_key(key_id, actor=g.principal)


@blp.route("/audit")
class AuditView(MethodView):
    @api_requires("admin", "admin")
    @blp.arguments(AuditArgsSchema, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The audit log, newest first"""
        return audit.list_events(**args)
