"""Request and response shapes of the people, keys and tokens API."""

from __future__ import annotations

import marshmallow as ma

from webapp.auth.models import ROLES, SCOPES
from webapp.core.pagination import PageArgsSchema, page_schema


class UserSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    username = ma.fields.String()
    email = ma.fields.String(allow_none=True)
    display_name = ma.fields.String()
    role = ma.fields.String(metadata={"enum": list(ROLES)})
    active = ma.fields.Boolean()
    last_login_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class UserCreateSchema(ma.Schema):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    email = ma.fields.Email(load_default=None, allow_none=True)
    display_name = ma.fields.String(load_default="", validate=ma.validate.Length(max=200))
    role = ma.fields.String(load_default="viewer", validate=ma.validate.OneOf(ROLES))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=10, max=1000))


class UserUpdateSchema(ma.Schema):
    email = ma.fields.Email(allow_none=True)
    display_name = ma.fields.String(validate=ma.validate.Length(max=200))
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    active = ma.fields.Boolean()
    password = ma.fields.String(load_only=True, validate=ma.validate.Length(min=10, max=1000))


class ApiKeySchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    prefix = ma.fields.String(metadata={"description": "The first characters of the key, to recognise it"})
    scopes = ma.fields.List(ma.fields.String())
    status = ma.fields.String(metadata={"enum": ["active", "expired", "revoked"]})
    owner = ma.fields.Function(lambda key: key.user.username)
    expires_at = ma.fields.DateTime(allow_none=True)
    last_used_at = ma.fields.DateTime(allow_none=True)
    revoked_at = ma.fields.DateTime(allow_none=True)
    created_at = ma.fields.DateTime()


class ApiKeyCreateSchema(ma.Schema):
    name = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=100))
    scopes = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(SCOPES)), required=True,
                            validate=ma.validate.Length(min=1))
    expires_at = ma.fields.AwareDateTime(load_default=None, allow_none=True, default_timezone=None)


class ApiKeyCreatedSchema(ApiKeySchema):
    key = ma.fields.String(metadata={"description": "The secret key. Shown once: store it now."})


class ApiKeyListArgs(ma.Schema):
    all = ma.fields.Boolean(load_default=False, metadata={"description": "Admins: every user's keys"})


class TokenRequestSchema(ma.Schema):
    username = ma.fields.String(required=True)
    password = ma.fields.String(required=True, load_only=True)


class RefreshRequestSchema(ma.Schema):
    refresh_token = ma.fields.String(required=True)


class LogoutRequestSchema(ma.Schema):
    token = ma.fields.String(load_default=None, metadata={"description": "Refresh or access token; "
                                                                          "defaults to the bearer token"})


class TokenPairSchema(ma.Schema):
    access_token = ma.fields.String()
    refresh_token = ma.fields.String()
    token_type = ma.fields.String()
    expires_in = ma.fields.Integer()


class AuditEventSchema(ma.Schema):
    id = ma.fields.Integer()
    created_at = ma.fields.DateTime()
    actor = ma.fields.String()
    actor_id = ma.fields.Integer(allow_none=True)
    action = ma.fields.String()
    target_type = ma.fields.String()
    target_id = ma.fields.String(allow_none=True)
    details = ma.fields.Dict()
    ip = ma.fields.String(allow_none=True)
    request_id = ma.fields.String(allow_none=True)


class AuditArgsSchema(PageArgsSchema):
    action = ma.fields.String(load_default=None)
    actor = ma.fields.String(load_default=None)
    target_type = ma.fields.String(load_default=None)


UserPageSchema = page_schema(UserSchema, "UserPage")
AuditPageSchema = page_schema(AuditEventSchema, "AuditPage")


class GitHubAuthorizeArgs(ma.Schema):
    redirect_uri = ma.fields.String(load_default=None, metadata={"description": "your page that receives GitHub's "
                                                                               "code (default: FRONTEND_URL)"})
    state = ma.fields.String(load_default=None, metadata={"description": "your own one-time state (8-200 chars)"})


class GitHubAuthorizationSchema(ma.Schema):
    authorization_url = ma.fields.String()
    state = ma.fields.String()


class GitHubCodeSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    state = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))


class HandoffSchema(ma.Schema):
    code = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
