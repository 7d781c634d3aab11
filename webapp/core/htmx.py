"""Pages and fragments from one template: the named block for HTMX swaps, the page otherwise."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, make_response, render_template, request
from jinja2 import nodes
from jinja2_fragments import render_block


def is_htmx() -> bool:
    """An HTMX request that wants a fragment (a history restore wants the whole page)."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-History-Restore-Request") != "true"


def _top_level_imports(template_name: str) -> dict[str, Any]:
    """The macros a template imports outside its blocks (`{% from "macros/forms.html" import csrf %}`).

    Rendering one block skips the template's top level, where those imports run, so a fragment
    would fail on the first macro it calls; they are handed to the block as context instead.
    """
    env = current_app.jinja_env
    template = env.get_template(template_name)
    cached: dict[str, Any] | None = getattr(template, "_gantry_imports", None)
    if cached is not None:
        return cached
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, template_name)
    imported: dict[str, Any] = {}
    for node in env.parse(source).body:
        if not isinstance(node, nodes.FromImport | nodes.Import) or not isinstance(node.template, nodes.Const):
            continue
        module = env.get_template(node.template.value).module
        if isinstance(node, nodes.Import):
            imported[node.target] = module
            continue
        for name in node.names:
            original, alias = name if isinstance(name, tuple) else (name, name)
            imported[alias] = getattr(module, original)
    template._gantry_imports = imported  # type: ignore[attr-defined]
    return imported


def render(template: str, block: str | None = None, status_code: int = 200, **context: Any) -> Response:
    """Render `block` of `template` for HTMX requests and the whole page for everything else."""
    if block and is_htmx():
        values = {**_top_level_imports(template), **context}
        current_app.update_template_context(values)
        # The context goes in as one dict, not as keywords: a variable named like one of the
        # renderer's own parameters (`environment`, `template_name`) must not collide with it.
        body = render_block(current_app.jinja_env, template, block, values)
    else:
        body = render_template(template, **context)
    response = make_response(body, status_code)
    response.headers["Vary"] = "HX-Request"
    return response
