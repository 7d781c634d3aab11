"""The guards every untrusted input passes before any view sees it.

JSON bodies (the API's argument parser and Flask's `request.get_json` both decode through
`loads_json`), query strings, form fields and paths are checked once here, not per endpoint:
nesting that would exhaust the stack, integers too long to convert, NaN/Infinity, and NUL
characters, which PostgreSQL's text and JSONB cannot hold.
"""

from __future__ import annotations

import json
import math
from typing import Any, NoReturn

import flask
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import missing
from webargs.flaskparser import FlaskParser, abort, is_json_request

from webapp.core.errors import GantryError, ValidationFailed

MAX_JSON_DEPTH = 100  # no request body Gantry takes comes near; a GitHub payload is ~10 deep
MAX_INT_DIGITS = 100  # far past any id or count; Python refuses 4,300 digits with an error of its own
NUL = "\x00"


class HostileJSON(json.JSONDecodeError):
    """JSON that parses, but that no caller of Gantry sends: refused like malformed JSON."""

    def __init__(self, message: str) -> None:
        super().__init__(message, message, 0)  # a non-empty doc: webargs reads an empty one as "no body"
        self.msg = message

    def __str__(self) -> str:
        return self.msg


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise HostileJSON(f"Numbers may have at most {MAX_INT_DIGITS} digits.")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise HostileJSON("Numbers must be finite.")
    return value


def _refuse_constant(name: str) -> NoReturn:
    raise HostileJSON(f"{name} is not JSON.")


def check_structure(value: Any, *, max_depth: int = MAX_JSON_DEPTH, refuse_nul: bool = True) -> None:
    """Raise HostileJSON when `value` nests deeper than `max_depth` or (optionally) holds a NUL.

    Iterative, so a hostile document cannot exhaust the stack of the code that checks it.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if refuse_nul and NUL in item:
                raise HostileJSON("Text may not contain NUL characters.")
            continue
        if not isinstance(item, dict | list):
            continue
        if depth > max_depth:
            raise HostileJSON(f"JSON may be nested at most {max_depth} levels deep.")
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        else:
            stack.extend((child, depth + 1) for child in item)


def loads_json(data: str | bytes, *, max_depth: int = MAX_JSON_DEPTH, refuse_nul: bool = True) -> Any:
    """Decode untrusted JSON; HostileJSON (a JSONDecodeError) for what no client of Gantry sends."""
    try:
        value = json.loads(data, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_refuse_constant)
    except RecursionError as exc:
        raise HostileJSON(f"JSON may be nested at most {max_depth} levels deep.") from exc
    check_structure(value, max_depth=max_depth, refuse_nul=refuse_nul)
    return value


class GuardedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, decoding request bodies through `loads_json` (`request.get_json()` answers 400)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_json(s)


class GuardedRequest(flask.Request):
    """Flask's request, answering a body `get_json()` cannot decode with the API's JSON error."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        if e is None:  # not a JSON content type: Flask's 415
            return super().on_json_loading_failed(e)
        reason = e.msg if isinstance(e, json.JSONDecodeError) else str(e)
        raise GantryError("The request body is not valid JSON.", errors={"json": [reason]}) from e


class GuardedParser(FlaskParser):
    """The API's argument parser: JSON bodies decoded through `loads_json`, with its reason on refusal."""

    def _raw_load_json(self, req: flask.Request) -> Any:
        if not is_json_request(req) or not req.get_data(cache=True):
            return missing
        return req.get_json()  # decoded once, by refuse_hostile_request, through GuardedJSONProvider

    def _handle_invalid_json_error(self, error: Any, req: flask.Request, *args: Any, **kwargs: Any) -> NoReturn:
        reason = error.msg if isinstance(error, HostileJSON) else "Invalid JSON body."
        abort(400, exc=error, messages={"json": [reason]})


def _refuse_nul(where: str, name: str) -> NoReturn:
    raise ValidationFailed("Text may not contain NUL characters.",
                           errors={where: {name.replace(NUL, "\\0"): ["may not contain NUL characters"]}})


WEBHOOKS_PREFIX = "/webhooks/"
COMPAT_PREFIX = "/compat/"


def is_webhook_intake(path: str) -> bool:
    """The webhook intake, or a front door's alias of it (/compat/<system>/.../webhook): its body, JSON or
    form-encoded as the hook was set up, is read, bounded, verified and parsed by the intake itself."""
    return path.startswith(WEBHOOKS_PREFIX) or (path.startswith(COMPAT_PREFIX) and path.endswith("/webhook"))


def refuse_hostile_request() -> None:
    """Refuse NUL in the path, query string and form fields, and hostile JSON bodies, before any view runs.

    An API body is decoded here even when the operation takes none: what a route ignores today
    it may read tomorrow, and the answer to hostile input should not depend on the route.
    """
    # The webhook intake reads its body itself: bounded while read, signed, and parsed with orjson.
    if request.is_json and not is_webhook_intake(request.path) and request.get_data(cache=True):
        request.get_json()  # a 400 when loads_json refuses it; cached for the view and the API parser
    if NUL in request.path:
        _refuse_nul("path", "path")
    for name, value in request.args.items(multi=True):
        if NUL in name or NUL in value:
            _refuse_nul("query", name)
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") and \
            not is_webhook_intake(request.path):
        for name, value in request.form.items(multi=True):
            if NUL in name or NUL in value:
                _refuse_nul("form", name)


def init_app(app: Flask) -> None:
    app.json = GuardedJSONProvider(app)
    app.request_class = GuardedRequest
    app.before_request_funcs.setdefault(None, []).insert(0, refuse_hostile_request)
