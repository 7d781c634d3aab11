"""Pages and fragments from one template: the named block for HTMX swaps, the page otherwise."""

from __future__ import annotations

from typing import Any

from flask import Response, make_response, render_template, request
from jinja2_fragments.flask import render_block


def is_htmx() -> bool:
    """An HTMX request that wants a fragment (a history restore wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def render(template: str, block: str | None = None, status_code: int = 200, **context: Any) -> Response:
    """Render `block` of `template` for HTMX requests and the whole page for everything else."""
    if block and is_htmx():
        body = render_block(template, block, **context)
    else:
        body = render_template(template, **context)
    response = make_response(body, status_code)
    response.headers["Vary"] = "HX-Request"
    return response
