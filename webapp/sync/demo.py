"""Demo data for `flask seed-demo`: one Terraform project bound to the first repository."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from webapp.extensions import db
from webapp.repos.models import Repository
from webapp.sync import service
from webapp.sync.models import Project

DEMO_FILES = {
    "main.tf": 'terraform {\n  required_version = ">= 1.6"\n}\n\nmodule "network" {\n  source = "./network"\n}\n',
    "variables.tf": 'variable "region" {\n  type    = string\n  default = "eu-west-1"\n}\n',
    "network/main.tf": 'resource "aws_vpc" "main" {\n  cidr_block = "10.0.0.0/16"\n}\n',
    "scripts/plan.sh": "#!/bin/sh\nset -eu\nterraform init -input=false\nterraform plan -input=false\n",
}


def seed_demo_projects(admin: Any) -> None:
    repo = db.session.scalar(select(Repository).order_by(Repository.id).limit(1))
    if repo is None:
        return  # no repository mirrored yet: nothing to bind a project to
    if db.session.scalar(select(Project).where(Project.name == "infrastructure")) is not None:
        return
    project = service.create_project(admin, {
        "name": "infrastructure", "description": "Terraform for the shared network (demo)",
        "repository_id": repo.id, "branch": repo.default_branch, "base_path": "infra",
    })
    service.put_files(admin, project.id, {
        path: (text.encode(), path.endswith(".sh")) for path, text in DEMO_FILES.items()
    })
