"""One object of every kind a URL can name, all in one repository, for the "no access" column.

The hidden repository is acme/widgets (1002) of the fake GitHub's default world, so routes that go
on to GitHub find it there too; acme/infrajet (1001), of the same installation, is the repository
the non-admin users of the access matrix may see. Every row has a fixed id, so `HIDDEN_URL_VALUES`
stays valid when `rebuild()` deletes and re-creates the objects after an admin changed them.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

INSTALLATION_ID = 101
VISIBLE_REPO_ID, VISIBLE_FULL_NAME = 1001, "acme/infrajet"
HIDDEN_REPO_ID, HIDDEN_OWNER, HIDDEN_NAME = 1002, "acme", "widgets"
HIDDEN_FULL_NAME = f"{HIDDEN_OWNER}/{HIDDEN_NAME}"

# Ids far above what the sequences hand out in one test, so nothing created meanwhile takes them.
BUILD_UUID = uuid.UUID("00000000-0000-4000-8000-00000000b111")
MAPPING_ID = 880_001
WEBHOOK_DELIVERY_ID = 880_002
TARGET_ID = 880_003
FORWARD_DELIVERY_ID = 880_004
POOL_ID = 880_005
RUNNER_ID = 880_006
ENVIRONMENT_ID = 880_007
RELEASE_ID = 880_008
DEPLOYMENT_ID = 880_009
PROJECT_ID = 880_010
FILE_PATH = "main.tf"
RUN_ID = 880_011
HOOK_ID = 880_012

# URL variable -> the value naming the hidden repository's object of that kind.
HIDDEN_URL_VALUES: dict[str, Any] = {
    "repo_id": HIDDEN_REPO_ID,  # /repos/<int:repo_id>/... and /api/v1/repos/<int:repo_id>/...
    "owner": HIDDEN_OWNER,  # /repos/<owner>/<name>, /api/v1/repos/<owner>/<repo>
    "name": HIDDEN_NAME,
    "repo": HIDDEN_NAME,
    "build_uuid": str(BUILD_UUID),
    "mapping_id": MAPPING_ID,  # a GitHub Actions -> catalogue mapping of the repository
    "delivery_pk": WEBHOOK_DELIVERY_ID,  # a stored GitHub delivery
    "target_id": TARGET_ID,  # a forward target limited to the repository
    "delivery_id": FORWARD_DELIVERY_ID,  # a forwarding delivery of that target
    "pool_id": POOL_ID,  # a repository runner pool
    "runner_id": RUNNER_ID,
    "environment_id": ENVIRONMENT_ID,
    "release_id": RELEASE_ID,
    "deployment_id": DEPLOYMENT_ID,  # of that release to that environment
    "project_id": PROJECT_ID,  # a sync project
    "path": FILE_PATH,  # a file of that project
    "run_id": RUN_ID,  # a sync run of that project
    "hook_id": HOOK_ID,  # a repository webhook Gantry created
}

# Request-body fields that refer to the hidden repository (by id, owner/name) or its objects.
HIDDEN_BODY_REFERENCES: dict[str, Any] = {
    **{name: value for name, value in HIDDEN_URL_VALUES.items() if name.endswith(("_id", "_pk", "_uuid"))},
    "repository_id": HIDDEN_REPO_ID,
    "repository": HIDDEN_FULL_NAME,
    "repository_full_name": HIDDEN_FULL_NAME,  # Infrajet's sync requests
    "repository_ids": [HIDDEN_REPO_ID],
    "build_uuids": [str(BUILD_UUID)],
}
# Other required body fields that need a particular value to pass validation.
BODY_EXAMPLES: dict[str, Any] = {
    "path": FILE_PATH,  # a file of the hidden project (its run has a conflict on it)
    "url": "https://127.0.0.1/hook",  # a forward target's receiver (the test allows 127.0.0.1)
    "paths": [FILE_PATH],  # files of the hidden project to sync
    "files": {"notes.txt": "hello\n"},  # files to push
    "platform": "aws-commercial",  # entries of the default catalogue
    "os_version": "rhel-8.8",
    "image_type": "base",
}


def openapi_path(rule: str) -> str:
    """/api/v1/projects/<int:project_id>/files/<path:path> -> /api/v1/projects/{project_id}/files/{path}"""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def _body_schema(spec: dict[str, Any], method: str, rule: str) -> dict[str, Any]:
    operation = spec["paths"].get(openapi_path(rule), {}).get(method.lower(), {})
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return _resolve(spec, content["schema"]) if content else {}


def naming_fields(spec: dict[str, Any], method: str, rule: str) -> set[str]:
    """The operation's request-body fields that can refer to the hidden repository or its objects."""
    return set(_body_schema(spec, method, rule).get("properties", {})) & HIDDEN_BODY_REFERENCES.keys()


def request_body(spec: dict[str, Any], method: str, rule: str, *, naming: bool = False) -> dict[str, Any]:
    """A body the operation's schema accepts: its required fields, referring to the hidden objects where
    they refer to anything. With `naming`, every field that can refer to them is sent too."""
    schema = _body_schema(spec, method, rule)
    required = set(schema.get("required", ()))
    values = {**BODY_EXAMPLES, **HIDDEN_BODY_REFERENCES}
    return {name: values[name] if name in values else _example(spec, field)
            for name, field in schema.get("properties", {}).items()
            if name in required or (naming and name in HIDDEN_BODY_REFERENCES)}


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _example(spec: dict[str, Any], field: dict[str, Any]) -> Any:
    field = _resolve(spec, field)
    if "example" in field:
        return field["example"]
    if "enum" in field:
        return field["enum"][0]
    kind = field.get("type")
    if kind == "integer":
        return max(1, field.get("minimum", 1))
    if kind == "boolean":
        return False
    if kind == "array":
        return [_example(spec, field.get("items", {})) for _ in range(field.get("minItems", 0))]
    if kind == "object":
        return {}
    if field.get("format") == "date-time":
        return datetime(2026, 1, 1, tzinfo=UTC).isoformat()
    return "x" * max(1, field.get("minLength", 1))


_head: dict[str, str] = {}  # the hidden repository's commit on the fake GitHub, which its release is cut at


def create_world(fake_github: Any) -> None:
    """Installation 101 with the visible and the hidden repository (with a commit on the fake GitHub),
    and the hidden repository's objects."""
    from sandbox.github.releases import make_history
    from webapp.extensions import db
    from webapp.repos.models import Installation, Repository

    _head["sha"] = make_history(fake_github, HIDDEN_OWNER, HIDDEN_NAME, ["feat: widgets"])[-1]
    db.session.add(Installation(id=INSTALLATION_ID, account_login=HIDDEN_OWNER, account_type="Organization"))
    db.session.add(Repository(id=VISIBLE_REPO_ID, installation_id=INSTALLATION_ID, owner="acme", name="infrajet",
                              full_name=VISIBLE_FULL_NAME, default_branch="main"))
    db.session.commit()
    rebuild()


def rebuild() -> None:
    """(Re-)create the hidden repository and one object of each kind in it, as they were at first."""
    from webapp.builds.models import Build
    from webapp.extensions import db
    from webapp.forwarding.models import ForwardTarget
    from webapp.repos.models import Repository
    from webapp.webhooks.models import WebhookDelivery

    db.session.remove()
    # Rows without a foreign key to the repository first; the repository's cascades take the rest.
    # Builds the walk registered in the hidden repository go too: the repository's delete would set
    # their repository to none, where a build_id must be unique among builds that name no repository.
    db.session.execute(delete(Build).where((Build.uuid == BUILD_UUID) | (Build.repository_id == HIDDEN_REPO_ID)))
    db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id == WEBHOOK_DELIVERY_ID))
    db.session.execute(delete(ForwardTarget).where(ForwardTarget.id == TARGET_ID))
    db.session.execute(delete(Repository).where(Repository.id == HIDDEN_REPO_ID))
    db.session.add(Repository(id=HIDDEN_REPO_ID, installation_id=INSTALLATION_ID, owner=HIDDEN_OWNER,
                              name=HIDDEN_NAME, full_name=HIDDEN_FULL_NAME, default_branch="main"))
    db.session.flush()
    for add in (_builds, _webhooks, _forwarding, _runners, _releases, _sync, _hooks):
        db.session.add_all(add())
        db.session.flush()
    db.session.commit()
    db.session.remove()


def _builds() -> list[Any]:
    from webapp.builds.models import Build, GithubBuildMapping, ImageType, OsVersion, Platform, StateCode
    from webapp.extensions import db

    first = {model: db.session.scalar(select(model.id).order_by(model.id).limit(1))
             for model in (Platform, OsVersion, ImageType)}
    state = db.session.scalar(select(StateCode.code).where(StateCode.terminal.is_(False)).order_by(StateCode.code))
    catalogue = {"platform_id": first[Platform], "os_version_id": first[OsVersion],
                 "image_type_id": first[ImageType]}
    return [
        Build(uuid=BUILD_UUID, build_id="hidden-widgets-1", repository_id=HIDDEN_REPO_ID, current_state_code=state,
              **catalogue),
        GithubBuildMapping(id=MAPPING_ID, repository_id=HIDDEN_REPO_ID, workflow_name="images", **catalogue),
    ]


def _webhooks() -> list[Any]:
    from webapp.webhooks.models import WebhookDelivery

    return [WebhookDelivery(id=WEBHOOK_DELIVERY_ID, delivery_id=str(uuid.uuid4()), event="push",
                            installation_id=INSTALLATION_ID, repository_id=HIDDEN_REPO_ID,
                            repository_full_name=HIDDEN_FULL_NAME, payload={"ref": "refs/heads/main"},
                            status="failed", attempts=3, error="boom")]


def _forwarding() -> list[Any]:
    from webapp.forwarding import signing
    from webapp.forwarding.models import FAILED, ForwardDelivery, ForwardTarget, ForwardTargetRepository

    target = ForwardTarget(id=TARGET_ID, name="widgets-deploy", url="https://deploy.example.test/hook",
                           secret=signing.new_secret(), events=["push"],
                           repositories=[ForwardTargetRepository(repository_id=HIDDEN_REPO_ID)])
    delivery = ForwardDelivery(id=FORWARD_DELIVERY_ID, message_id=f"msg_{uuid.uuid4().hex}", target=target,
                               github_delivery_id=str(uuid.uuid4()), event="push", repository_id=HIDDEN_REPO_ID,
                               repository_full_name=HIDDEN_FULL_NAME, received_at=datetime.now(UTC),
                               payload={"ref": "refs/heads/main"}, status=FAILED, attempt_count=1)
    return [target, delivery]


def _runners() -> list[Any]:
    from webapp.runners.models import FINISHED, Runner, RunnerPool

    pool = RunnerPool(id=POOL_ID, name="widgets-linux", scope="repository", repository_id=HIDDEN_REPO_ID,
                      installation_id=INSTALLATION_ID, labels=["self-hosted", "linux"], region="us-east-1",
                      cluster="gantry-runners", task_definition="gantry-runner", capacity="FARGATE")
    # ended: stopping it (as the admin) touches neither GitHub nor AWS
    runner = Runner(id=RUNNER_ID, pool=pool, name="widgets-linux-1", state=FINISHED, repository_id=HIDDEN_REPO_ID)
    return [pool, runner]


def _releases() -> list[Any]:
    from webapp.releases.models import PENDING_APPROVAL, Deployment, Environment, Release

    environment = Environment(id=ENVIRONMENT_ID, repository_id=HIDDEN_REPO_ID, name="production", position=0,
                              required_approvals=1)
    release = Release(id=RELEASE_ID, repository_id=HIDDEN_REPO_ID, version="9.9.9", tag_name="v9.9.9",
                      target="main", target_sha=_head["sha"], status="published")
    deployment = Deployment(id=DEPLOYMENT_ID, repository_id=HIDDEN_REPO_ID, release=release,
                            environment=environment, status=PENDING_APPROVAL)
    return [environment, release, deployment]


def _sync() -> list[Any]:
    from webapp.sync.models import Project, ProjectFile, SyncRun
    from webapp.sync.plan import blob_sha

    content = b'module "secret" {}\n'
    project = Project(id=PROJECT_ID, name="widgets-infra", repository_id=HIDDEN_REPO_ID, branch="main",
                      base_path="infra")
    file = ProjectFile(project=project, path=FILE_PATH, content=content, size=len(content),
                       blob_sha=blob_sha(content))
    run = SyncRun(id=RUN_ID, project=project, repository_id=HIDDEN_REPO_ID, branch="main",
                  sync_id=f"sync-{uuid.uuid4().hex}", status="conflict",
                  files=[{"path": FILE_PATH, "action": "conflict"}], conflicts=1,
                  finished_at=datetime.now(UTC) - timedelta(minutes=1))
    return [project, file, run]


def _hooks() -> list[Any]:
    from webapp.repos.models import RepositoryHook

    return [RepositoryHook(id=HOOK_ID, repository_id=HIDDEN_REPO_ID, url="https://gantry.example.test/webhooks/github",
                           events=["push"], secret="s" * 32)]


def missing(value: Any) -> Any:
    """A value of the same kind as `value` that names nothing."""
    if isinstance(value, list):
        return [missing(item) for item in value]
    if isinstance(value, int):
        return 999_999
    if "/" in value:
        return "nope/nope"
    try:
        return str(uuid.UUID(int=uuid.UUID(value).int + 1))
    except ValueError:
        return "nope"
