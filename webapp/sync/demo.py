"""Demo data for `flask seed-demo`: a Terraform project bound to the first installed repository,
with one run stopped on a conflict so the side-by-side diff has something to show."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from webapp.core.models import utcnow
from webapp.extensions import db
from webapp.repos.models import Repository
from webapp.sync import service
from webapp.sync.models import Project, SyncRun
from webapp.sync.plan import blob_sha

DEMO_FILES = {
    "main.tf": 'terraform {\n  required_version = ">= 1.6"\n}\n\nmodule "network" {\n  source = "./network"\n}\n',
    "variables.tf": 'variable "region" {\n  type    = string\n  default = "eu-west-1"\n}\n',
    "network/main.tf": 'resource "aws_vpc" "main" {\n  cidr_block = "10.0.0.0/16"\n}\n',
    "scripts/plan.sh": "#!/bin/sh\nset -eu\nterraform init -input=false\nterraform plan -input=false\n",
}
GITHUB_VARIABLES = 'variable "region" {\n  type    = string\n  default = "us-east-1"\n}\n'


def seed_demo_projects(admin: Any) -> None:
    """Idempotent: does nothing when the demo project exists or no installed repository is mirrored."""
    repo = db.session.scalar(select(Repository).where(Repository.installation_id.is_not(None))
                             .order_by(Repository.id).limit(1))
    if repo is None or db.session.scalar(select(Project).where(Project.name == "infrastructure")) is not None:
        return
    project = service.create_project(admin, {
        "name": "infrastructure", "description": "Terraform for the shared network (demo)",
        "repository_id": repo.id, "branch": repo.default_branch, "base_path": "infra",
    })
    service.put_files(admin, project.id, {
        path: (text.encode(), path.endswith(".sh")) for path, text in DEMO_FILES.items()
    })
    here = DEMO_FILES["variables.tf"].encode()
    db.session.add(SyncRun(
        project_id=project.id, repository_id=repo.id, branch=project.branch, sync_id=uuid.uuid4().hex,
        status="conflict", trigger="manual", requested_by_id=admin.id, conflicts=1, api_calls=3, attempts=1,
        duration_ms=420, started_at=utcnow(), finished_at=utcnow(),
        files=[{
            "path": "variables.tf", "action": "conflict", "detail": "added here and added on GitHub",
            "forced": False, "base": None,
            "here": {"sha": blob_sha(here), "mode": "100644"},
            "there": {"sha": blob_sha(GITHUB_VARIABLES.encode()), "mode": "100644"},
            "here_text": DEMO_FILES["variables.tf"], "there_text": GITHUB_VARIABLES,
        }],
    ))
    db.session.commit()
