"""Extension objects, created unbound here and bound to an app in create_app()."""

from __future__ import annotations

import marshmallow as ma
from authlib.integrations.flask_client import OAuth
from flask import request
from flask_cors import CORS
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_smorest import Api as SmorestApi
from flask_smorest import Blueprint as SmorestBlueprint
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from webapp.core.inputs import GuardedParser
from webapp.core.models import Base


class ErrorSchema(ma.Schema):
    """The body of every API error."""

    code = ma.fields.String(metadata={"description": "Stable machine-readable error code"})
    message = ma.fields.String(metadata={"description": "What went wrong, for people"})
    errors = ma.fields.Dict(metadata={"description": "Per-field details, when there are any"})


class Api(SmorestApi):
    """smorest Api whose errors are rendered by webapp.core.errors, once for every front door."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        # webapp.core.errors registers the app-wide handlers (JSON under /api and /webhooks,
        # HTML elsewhere); smorest's own handler would turn every page error into JSON.
        return None


class Blueprint(SmorestBlueprint):
    """smorest Blueprint whose JSON bodies are decoded by the guarded parser (webapp.core.inputs)."""

    ARGUMENTS_PARSER = GuardedParser()


def _client_ip() -> str:
    return get_remote_address() or request.remote_addr or "unknown"


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
api = Api()
oauth = OAuth()
csrf = CSRFProtect()
limiter = Limiter(key_func=_client_ip, default_limits=[], headers_enabled=True)
cors = CORS()
