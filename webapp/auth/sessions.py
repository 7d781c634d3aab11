"""A browser's sign-in: started with a fresh CSRF token, ended with an empty session.

A CSRF token seen before sign-in (by a script on a shared machine, or planted in the page an
attacker had the victim open) must not carry over into the signed-in session, nor survive it.
"""

from __future__ import annotations

from flask import g, session
from flask_login import login_user, logout_user

from webapp.auth.models import User

# Where Flask-WTF keeps the token: in the session, and cached on `g` for the request.
CSRF_FIELD = "csrf_token"


def _forget_csrf_token() -> None:
    session.pop(CSRF_FIELD, None)
    g.pop(CSRF_FIELD, None)


def start_browser_session(user: User, *, remember: bool = False) -> None:
    """Sign this browser in as `user`, with a CSRF token it has never shown before."""
    _forget_csrf_token()
    login_user(user, remember=remember)


def end_browser_session() -> None:
    """Sign this browser out and forget everything its session held, the CSRF token included."""
    logout_user()
    session.clear()
