"""Request and response shapes of the GitHub connection and repositories API."""

from __future__ import annotations

import marshmallow as ma

from webapp.core.pagination import PageArgsSchema, page_schema
from webapp.repos.models import PERMISSIONS

FULL_NAME = ma.validate.Regexp(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", error="owner/name")


class GitHubRepositorySchema(ma.Schema):
    id = ma.fields.Integer()
    full_name = ma.fields.String()
    owner = ma.fields.String()
    name = ma.fields.String()
    private = ma.fields.Boolean()
    archived = ma.fields.Boolean()
    default_branch = ma.fields.String()
    description = ma.fields.String(allow_none=True)
    html_url = ma.fields.String(allow_none=True)
    installation_id = ma.fields.Integer(allow_none=True)
    synced_at = ma.fields.DateTime(allow_none=True)


GitHubRepositoryPageSchema = page_schema(GitHubRepositorySchema, "GitHubRepositoryPage")


class GitHubRepositoryListArgs(PageArgsSchema):
    q = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200),
                         metadata={"description": "Search in names and descriptions"})


class GitHubCommitSchema(ma.Schema):
    sha = ma.fields.String()
    message = ma.fields.String()
    author = ma.fields.String(allow_none=True)
    author_login = ma.fields.String(allow_none=True)
    date = ma.fields.String(allow_none=True)
    html_url = ma.fields.String(allow_none=True)


class GitHubCommitArgs(ma.Schema):
    branch = ma.fields.String(load_default=None, validate=ma.validate.Length(max=255))
    limit = ma.fields.Integer(load_default=20, validate=ma.validate.Range(min=1, max=100))


class GitHubValidateAccessSchema(ma.Schema):
    repositories = ma.fields.List(ma.fields.String(validate=FULL_NAME), required=True,
                                  validate=ma.validate.Length(min=1, max=100))
    permission = ma.fields.String(load_default="read", validate=ma.validate.OneOf(PERMISSIONS))


class GitHubAccessResultSchema(ma.Schema):
    repository = ma.fields.String()
    accessible = ma.fields.Boolean()
    permission = ma.fields.String(allow_none=True)
    app_installed = ma.fields.Boolean()
    reason = ma.fields.String(allow_none=True)


class GitHubAccessResultsSchema(ma.Schema):
    results = ma.fields.List(ma.fields.Nested(GitHubAccessResultSchema))


class GitHubRepositoryCreateSchema(ma.Schema):
    owner = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[A-Za-z0-9-]{1,39}$"))
    name = ma.fields.String(required=True, validate=ma.validate.Regexp(r"^[A-Za-z0-9_.-]{1,100}$"))
    private = ma.fields.Boolean(load_default=True)
    description = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=350))
    auto_init = ma.fields.Boolean(load_default=True)


class GitHubInstallationSchema(ma.Schema):
    id = ma.fields.Integer()
    account_login = ma.fields.String()
    account_type = ma.fields.String()
    repository_selection = ma.fields.String()
    permissions = ma.fields.Dict()
    events = ma.fields.List(ma.fields.String())
    html_url = ma.fields.String(allow_none=True)
    suspended_at = ma.fields.DateTime(allow_none=True)
    synced_at = ma.fields.DateTime(allow_none=True)


class GitHubInstallationListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(GitHubInstallationSchema))


class GitHubTokenRequestSchema(ma.Schema):
    installation_id = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))
    repositories = ma.fields.List(ma.fields.String(validate=FULL_NAME), load_default=list,
                                  validate=ma.validate.Length(max=500))
    permissions = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.Regexp(r"^[a-z_]{1,60}$")),
                                 values=ma.fields.String(validate=ma.validate.OneOf(["read", "write", "admin"])),
                                 load_default=dict)


class GitHubTokenSchema(ma.Schema):
    token = ma.fields.String()
    expires_at = ma.fields.String()
    permissions = ma.fields.Dict()
    repositories = ma.fields.List(ma.fields.String())
    installation_id = ma.fields.Integer()


class GitHubConnectionSchema(ma.Schema):
    app_configured = ma.fields.Boolean()
    sign_in_enabled = ma.fields.Boolean()
    app_slug = ma.fields.String(allow_none=True)
    install_url = ma.fields.String(allow_none=True)
    connected = ma.fields.Boolean()
    login = ma.fields.String(allow_none=True)
    name = ma.fields.String(allow_none=True)
    avatar_url = ma.fields.String(allow_none=True)
    html_url = ma.fields.String(allow_none=True)
    scopes = ma.fields.List(ma.fields.String())
    access_synced_at = ma.fields.DateTime(allow_none=True)
    repositories = ma.fields.Integer()


class GitHubDisconnectSchema(ma.Schema):
    revoke = ma.fields.Boolean(load_default=False, metadata={"description": "Also revoke the grant on GitHub"})


class GitHubDisconnectedSchema(ma.Schema):
    disconnected = ma.fields.Boolean()
    revoked = ma.fields.Boolean()
    login = ma.fields.String()


class GitHubInstallUrlSchema(ma.Schema):
    url = ma.fields.String()
    app_slug = ma.fields.String(allow_none=True)


class GitHubProfileSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE

    login = ma.fields.String()
    id = ma.fields.Integer()
    name = ma.fields.String(allow_none=True)
    email = ma.fields.String(allow_none=True)
    avatar_url = ma.fields.String(allow_none=True)
    html_url = ma.fields.String(allow_none=True)
    company = ma.fields.String(allow_none=True)
    location = ma.fields.String(allow_none=True)
    type = ma.fields.String(allow_none=True)


class GitHubHealthSchema(ma.Schema):
    ok = ma.fields.Boolean()
    configured = ma.fields.Boolean()
    jwt = ma.fields.Boolean()
    api = ma.fields.Boolean()
    app_slug = ma.fields.String(allow_none=True)
    source = ma.fields.String(allow_none=True)
    error = ma.fields.String(allow_none=True)
    latency_ms = ma.fields.Float()
    quota = ma.fields.List(ma.fields.Dict())


class GitHubHookCreateSchema(ma.Schema):
    repository = ma.fields.String(required=True, validate=FULL_NAME)
    events = ma.fields.List(ma.fields.String(validate=ma.validate.Regexp(r"^[a-z_*]{1,60}$")), load_default=None,
                            validate=ma.validate.Length(min=1, max=50))


class GitHubHookSchema(ma.Schema):
    id = ma.fields.Integer()
    repository = ma.fields.String()
    repository_id = ma.fields.Integer()
    url = ma.fields.String()
    events = ma.fields.List(ma.fields.String())
    created_at = ma.fields.DateTime()
    pinged_at = ma.fields.DateTime(allow_none=True)
    ping_arrived = ma.fields.Boolean()
    removed_at = ma.fields.DateTime(allow_none=True)


class GitHubHookListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(GitHubHookSchema))


class GitHubJobSchema(ma.Schema):
    job_id = ma.fields.String()
