"""Security headers, CSRF for pages, and CORS for the API."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Request, Response, current_app, request
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface
from werkzeug.exceptions import Forbidden
from werkzeug.middleware.proxy_fix import ProxyFix

from webapp.config import STRICT_ENVIRONMENTS
from webapp.core.errors import UnsupportedMediaType
from webapp.core.inputs import is_webhook_intake
from webapp.extensions import cors, csrf

# Pages use only Gantry's own scripts and styles. The API docs (Swagger UI, ReDoc) style
# themselves inline and run a worker from a blob, so their pages get a slightly wider policy.
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self' data:; worker-src 'self' blob:; object-src 'none'; "
    "base-uri 'self'; frame-ancestors 'none'"
)
DOCS_PATHS = ("/api/docs", "/api/redoc")
WEBHOOKS_PREFIX = "/webhooks/"
COMPAT_PREFIX = "/compat/"  # the front doors for the systems Gantry replaces: APIs like /api/
CSRF_EXEMPT_PREFIXES = ("/api/", WEBHOOKS_PREFIX, COMPAT_PREFIX, "/admin/rq/")
UNSAFE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class SessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions for people; none for webhook deliveries, which never carry one.

    A delivery gets Flask's read-only null session: its cookie (if anything sent one) is not read
    or verified, and nothing can be stored in it.
    """

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if request.path.startswith(WEBHOOKS_PREFIX):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    proxies = app.config.get("TRUSTED_PROXIES", 0)
    if proxies:
        # Behind a load balancer every request comes from its address: without this the per-IP
        # login limit would be shared by everyone and the audit log would record the proxy.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)  # type: ignore[method-assign]
    app.config["WTF_CSRF_CHECK_DEFAULT"] = False
    csrf.init_app(app)
    cors.init_app(
        app,
        resources={r"/api/*": {"origins": app.config["CORS_ORIGINS"] or []},
                   r"/compat/*": {"origins": app.config["CORS_ORIGINS"] or []}},
        methods=app.config["CORS_ALLOW_METHODS"],
        allow_headers=app.config["CORS_ALLOW_HEADERS"],
        expose_headers=["X-Request-ID"],
        supports_credentials=app.config["CORS_ALLOW_CREDENTIALS"],
    )
    app.before_request(protect_forms)
    app.before_request(api_bodies_are_json)
    app.after_request(security_headers)


def protect_forms() -> Any:
    # The API and webhooks authenticate with headers, never cookies, so a forged cross-site
    # request carries nothing; pages (and HTMX requests) must show the session's CSRF token.
    if request.method not in UNSAFE_METHODS:
        return None
    if request.path.startswith(CSRF_EXEMPT_PREFIXES[:3]):
        return None
    if request.path.startswith(CSRF_EXEMPT_PREFIXES[3]):
        return _same_origin_only()
    csrf.protect()
    return None


def api_bodies_are_json() -> None:
    # Without this a form or text body would parse as "no fields" and answer a misleading 422.
    if request.method not in {"POST", "PUT", "PATCH"} or not request.path.startswith(("/api/", COMPAT_PREFIX)):
        return
    if is_webhook_intake(request.path):  # GitHub sends what the hook was set up with: JSON or a form
        return
    has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")
    if has_body and not request.is_json:
        raise UnsupportedMediaType(
            f"The API takes JSON bodies (Content-Type: application/json), not {request.mimetype or 'untyped data'}."
        )


def security_headers(response: Response) -> Response:
    csp = DOCS_CSP if request.path.startswith(DOCS_PATHS) else PAGE_CSP
    if request.path.startswith("/admin/rq"):
        csp = _dashboard_csp(response)
    response.headers.setdefault("Content-Security-Policy", csp)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    # Answers show new API keys and signing secrets, audit rows, people: no browser or proxy keeps a
    # copy. Files that set their own caching (static assets, docs bundles) keep it.
    if "Cache-Control" not in response.headers and not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    if current_app.config["ENVIRONMENT"] in STRICT_ENVIRONMENTS:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


# rq-dashboard renders its page logic as an inline <script> and compiles underscore templates
# (new Function), so its pages need those two allowances; the inline script is allowed by its
# hash, never 'unsafe-inline', so an injected script still cannot run.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*text/template)[^>]*>(.*?)</script>", re.S | re.I)


def _dashboard_csp(response: Response) -> str:
    hashes = ""
    if response.mimetype == "text/html" and not response.direct_passthrough:
        found = INLINE_SCRIPT.findall(response.get_data(as_text=True))
        hashes = "".join(
            f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'" for script in found
        )
    return DOCS_CSP.replace("script-src 'self';", f"script-src 'self' 'unsafe-eval'{hashes};")


def _same_origin_only() -> None:
    """rq-dashboard's own scripts send no CSRF token: require the browser's Origin to be ours."""
    origin = urlsplit(request.headers.get("Origin") or request.headers.get("Referer") or "")
    # Scheme and host compared whole: a prefix test would let https://gantry.example.com.evil.net in.
    if (origin.scheme, origin.netloc) != (request.scheme, request.host):
        raise Forbidden("Cross-site requests to the queue dashboard are refused.")
