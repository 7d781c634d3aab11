"""Pages: sign in and out, your API keys, users admin, the audit log."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Blueprint, current_app, flash, g, redirect, request, session, url_for
from flask_login import login_user, logout_user
from werkzeug.urls import iri_to_uri
from werkzeug.wrappers import Response

from webapp.auth import service
from webapp.auth.access import actor, current_principal, page_requires, public
from webapp.auth.models import ROLE_SCOPES, ROLES, SCOPE_HELP, SCOPES, User
from webapp.core import audit
from webapp.core.errors import GantryError, ValidationFailed
from webapp.core.htmx import render
from webapp.core.models import UTC
from webapp.extensions import limiter

bp = Blueprint("auth", __name__)

# Where Flask-WTF keeps the CSRF token: in the session, and cached on `g` for the request.
CSRF_FIELD = "csrf_token"


def start_browser_session(user: User, *, remember: bool = False) -> None:
    """Sign this browser in as `user`, with a CSRF token it has never shown before.

    A token seen before sign-in (by a script on a shared machine, or planted in a page the victim
    opened) must not carry over into the signed-in session.
    """
    session.pop(CSRF_FIELD, None)
    g.pop(CSRF_FIELD, None)
    login_user(user, remember=remember)


def end_browser_session() -> None:
    """Sign this browser out and forget everything its session held, the CSRF token included."""
    logout_user()
    session.clear()


def _login_limit() -> str:
    return str(current_app.config["RATELIMIT_LOGIN"])


def _form_username_key() -> str:
    return "login-user:" + request.form.get("username", "").strip().lower()


def _safe_next(target: str | None) -> str:
    """Only same-site relative paths, URI-encoded: never send a signed-in browser to another host.

    Browsers read `\\` as `/` and drop tabs and newlines, and some proxies decode `%2F` and `%5C`,
    so the target is judged in every decoding; htmx follows HX-Redirect as sent, so what is
    returned is already encoded.
    """
    home = url_for("ops.home")
    if not target:
        return home
    decoded, previous = target, None
    while decoded != previous:  # %252F -> %2F -> /
        previous, decoded = decoded, unquote(decoded)
    for form in (target, decoded):
        parts = urlsplit(form)
        if (parts.scheme or parts.netloc or not form.startswith("/") or form.startswith("//")
                or "\\" in form or any(ord(c) < 0x20 or ord(c) == 0x7F for c in form)):
            return home
    return iri_to_uri(target)


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
@limiter.limit(_login_limit, key_func=_form_username_key, methods=["POST"])
def login() -> Any:
    if current_principal() is not None and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    error = None
    if request.method == "POST":
        user = service.authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            error = "Wrong username or password."
        else:
            start_browser_session(user, remember=bool(request.form.get("remember")))
            service.record_login(user)
            destination = _safe_next(request.form.get("next"))
            if request.headers.get("HX-Request"):
                return Response("", 204, {"HX-Redirect": destination})
            return redirect(destination)
    status = 401 if error else 200
    return render("auth/login.html", "login_form", status_code=status, error=error, next=request.values.get("next", ""))


@bp.route("/logout", methods=["POST"])
@public
def logout() -> Any:
    user = actor()
    if user is not None:
        service.sign_out(user.id)  # every browser and API login of this person, copies included
    end_browser_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


# --- API keys ------------------------------------------------------------------------------


def _parse_expiry(raw: str) -> datetime | None:
    if not raw:
        return None
    try:
        day = datetime.strptime(raw, "%Y-%m-%d").date()
    except ValueError as exc:
        raise ValidationFailed("Give the expiry as a date.", errors={"expires_at": ["YYYY-MM-DD"]}) from exc
    return datetime.combine(day, time(23, 59, 59), tzinfo=UTC)


@bp.route("/account/api-keys", methods=["GET", "POST"])
@page_requires("viewer")
def api_keys() -> Any:
    user = actor()
    assert user is not None
    created_key = None
    error = None
    errors: dict[str, Any] = {}
    if request.method == "POST":
        try:
            _, created_key = service.create_api_key(
                user,
                name=request.form.get("name", ""),
                scopes=request.form.getlist("scopes"),
                expires_at=_parse_expiry(request.form.get("expires_at", "")),
            )
        except GantryError as exc:
            error, errors = exc.message, exc.errors
    status = 422 if error else (201 if created_key else 200)
    return render(
        "auth/api_keys.html", "keys_panel", status_code=status,
        keys=service.list_api_keys(user), created_key=created_key, error=error, errors=errors,
        scopes=[s for s in SCOPES if s in ROLE_SCOPES[user.role]], scope_help=SCOPE_HELP,
        form={} if created_key else request.form,
    )


@bp.route("/account/api-keys/<int:key_id>/revoke", methods=["POST"])
@page_requires("viewer")
def revoke_api_key(key_id: int) -> Any:
    user = actor()
    assert user is not None
    service.revoke_api_key(key_id, actor=user)
    return render(
        "auth/api_keys.html", "keys_panel", keys=service.list_api_keys(user), created_key=None, error=None,
        errors={}, scopes=[s for s in SCOPES if s in ROLE_SCOPES[user.role]], scope_help=SCOPE_HELP, form={},
    )


# --- users admin ---------------------------------------------------------------------------


def _users_page(status: int = 200, error: str | None = None, errors: dict[str, Any] | None = None,
                form: Any = None) -> Any:
    return render("auth/users.html", "users_panel", status_code=status, users=service.list_users(), roles=ROLES,
                  error=error, errors=errors or {}, form=form or {})


@bp.route("/admin/users", methods=["GET", "POST"])
@page_requires("admin")
def users() -> Any:
    if request.method == "POST":
        try:
            service.create_user(
                username=request.form.get("username", ""),
                email=request.form.get("email") or None,
                password=request.form.get("password", ""),
                role=request.form.get("role", "viewer"),
                display_name=request.form.get("display_name", ""),
                actor=actor(),
            )
        except GantryError as exc:
            return _users_page(exc.status, exc.message, exc.errors, request.form)
        flash("User created.", "success")
        return _users_page(201)
    return _users_page()


@bp.route("/admin/users/<int:user_id>", methods=["POST"])
@page_requires("admin")
def update_user(user_id: int) -> Any:
    changes: dict[str, Any] = {}
    if "role" in request.form:
        changes["role"] = request.form["role"]
    if "active" in request.form:
        changes["active"] = request.form["active"] == "true"
    try:
        service.update_user(user_id, changes, actor=actor())
    except GantryError as exc:
        return _users_page(exc.status, exc.message, exc.errors)
    return _users_page()


@bp.route("/admin/users/<int:user_id>/delete", methods=["POST"])
@page_requires("admin")
def delete_user(user_id: int) -> Any:
    try:
        service.delete_user(user_id, actor=actor())
    except GantryError as exc:
        return _users_page(exc.status, exc.message, exc.errors)
    return _users_page()


@bp.route("/admin/audit")
@page_requires("admin")
def audit_log() -> Any:
    page = audit.list_events(cursor=request.args.get("cursor") or None, limit=50,
                             action=request.args.get("action") or None, actor=request.args.get("actor") or None)
    return render("auth/audit.html", "audit_rows", page=page, filters=request.args)
