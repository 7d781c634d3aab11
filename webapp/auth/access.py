"""Who is asking and what they may do: one principal per request, checked by route decorators.

The API authenticates machines by API key (`X-API-Key` or `Authorization: Bearer gty_...`) or
by an access token from /api/v1/auth/token; pages use the Flask-Login session. Either way the
request gets a Principal whose scopes never exceed its user's role.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import g, redirect, request, url_for
from flask_login import current_user

from webapp.auth import service, tokens
from webapp.auth.models import ROLE_RANK, User
from webapp.auth.principal import Principal
from webapp.core.errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])


def _presented_credential() -> str | None:
    key = request.headers.get("X-API-Key", "").strip()
    if key:
        return key
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def authenticate_api_request() -> Principal | None:
    """The principal behind the request's API key or access token, or None if nothing valid was sent."""
    credential = _presented_credential()
    if credential is None:
        return None
    found = service.user_for_api_key(credential)
    if found is not None:
        user, key = found
        return Principal(user, service.effective_scopes(user, key.scopes), "api_key", key.id)
    token_user = tokens.user_for_access_token(credential)
    if token_user is not None:
        return Principal(token_user, service.effective_scopes(token_user, None), "token")
    raise Unauthorized("The API key or token is invalid, expired or revoked.", code="invalid_credentials")


def current_principal() -> Principal | None:
    if "principal" in g:
        return cast(Principal | None, g.principal)
    principal = None
    if current_user.is_authenticated:
        principal = Principal(current_user._get_current_object(), service.effective_scopes(current_user, None),
                              "session")
    g.principal = principal
    return principal


def signed_in() -> Principal:
    """The principal of a route that `page_requires` or `api_requires` guards (401 if there is none)."""
    principal = g.get("principal") or current_principal()
    if principal is None:
        raise Unauthorized("Sign in, or send an API key or a bearer token.")
    return principal


def _check(principal: Principal, role: str, scope: str | None) -> None:
    if ROLE_RANK.get(principal.user.role, -1) < ROLE_RANK[role]:
        raise Forbidden(f"This needs the {role} role.", code="role_required")
    if scope and not principal.has_scope(scope):
        raise Forbidden(f"This needs the {scope!r} scope.", code="scope_required")


def api_requires(role: str = "viewer", scope: str | None = "read") -> Callable[[F], F]:
    """Guard an API view: 401 without valid credentials, 403 without the role or the scope."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = authenticate_api_request()
            if principal is None:
                raise Unauthorized(
                    "Send an API key in X-API-Key (or Authorization: Bearer) or a bearer token.",
                    headers={"WWW-Authenticate": 'Bearer realm="gantry"'},
                )
            _check(principal, role, scope)
            g.principal = principal
            return view(*args, **kwargs)

        wrapper._gantry_access = {"role": role, "scope": scope, "kind": "api"}  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator


def page_requires(role: str = "viewer") -> Callable[[F], F]:
    """Guard a page: anonymous people go to the login page, others need the role (403 otherwise)."""

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal is None:
                target = url_for("auth.login", next=request.full_path if request.method == "GET" else None)
                if request.headers.get("HX-Request"):
                    return "", 401, {"HX-Redirect": target}
                return redirect(target)
            _check(principal, role, None)
            return view(*args, **kwargs)

        wrapper._gantry_access = {"role": role, "scope": None, "kind": "page"}  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorator


def public(view: F) -> F:
    """Mark a route as open to anyone (login page, health, webhooks with their own verification)."""
    view._gantry_access = {"role": None, "scope": None, "kind": "public"}  # type: ignore[attr-defined]
    return view


def actor() -> User | None:
    """The user acting in this request, for the audit log."""
    principal = g.get("principal") or current_principal()
    return principal.user if principal else None
