"""`flask catalog load` and the demo history `flask seed-demo` loads: a month of builds on three clouds."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from webapp.builds import cache
from webapp.builds.catalogue import load_default_catalogue
from webapp.builds.models import Build
from webapp.builds.service import add_build, add_failure, apply_state
from webapp.core.models import utcnow
from webapp.extensions import db

DEMO_PREFIX = "demo-"
DEMO_BUILDS = 240
LADDER = (15, 20, 22, 25, 30, 35, 40, 45, 50, 55)
FAILURES = {  # state reached -> (failure state code, component, error code, message)
    22: (910, "ansible-provisioner", "ANSIBLE_TASK_FAILED", "Task 'Install SAP prerequisites' failed on host"),
    20: (910, "packer", "PACKER_TIMEOUT", "Timeout waiting for SSH on the builder instance"),
    35: (920, "inspec-tests", "CIS_1_1_1", "Control cis-1.1.1 (cramfs disabled) failed"),
    45: (930, "trivy-scan", "CVE_THRESHOLD", "3 critical vulnerabilities above the threshold"),
    55: (940, "image-copy", "AMI_COPY_LIMIT", "ResourceLimitExceeded copying the image to us-gov-east-1"),
}
DEMO_PLATFORMS = ("aws-commercial", "aws-govcloud", "azure", "gcp")
DEMO_OS = ("rhel-8.8", "rhel-9.2", "ubuntu-22.04", "ubuntu-20.04", "sles-15-sp5")
DEMO_TYPES = ("base", "sap-hana", "web-server", "database")

catalog_group = AppGroup("catalog", help="The builds catalogue.")


@catalog_group.command("load")
def catalog_load() -> None:
    """Add the default platforms, OS versions, image types and state codes that are missing."""
    added = load_default_catalogue()
    cache.bump_generation()
    click.echo("Catalogue loaded: " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in added.items()) + " added.")


def seed_demo_builds(admin: Any) -> None:
    """The default catalogue and, once, a realistic month of builds with states and failures."""
    load_default_catalogue()
    if db.session.scalar(select(Build.id).where(Build.build_id.startswith(DEMO_PREFIX)).limit(1)) is not None:
        return
    rng = random.Random(20261125)  # the same history every time
    now = utcnow()
    starts = sorted(now - timedelta(days=30) + timedelta(seconds=rng.uniform(0, 30 * 86400 - 3600))
                    for _ in range(DEMO_BUILDS))
    for number, started in enumerate(starts, start=1):
        platform = rng.choice(DEMO_PLATFORMS)
        data = {
            "build_id": f"{DEMO_PREFIX}{number:04d}",
            "platform": platform,
            "os_version": rng.choice(DEMO_OS),
            "image_type": rng.choice(DEMO_TYPES),
            "pipeline_url": f"https://concourse.example.com/teams/images/pipelines/{platform}/jobs/build/builds/"
                            f"{number}",
            "commit_hash": f"{rng.getrandbits(160):040x}",
            "metadata": {"packer_version": "1.11.2", "triggered_by": rng.choice(["schedule", "commit", "manual"])},
        }
        build, _ = add_build(data, admin, created_at=started)
        _walk(build, started, now, rng)
    db.session.commit()
    cache.bump_generation()


def _walk(build: Build, started: Any, now: Any, rng: random.Random) -> None:
    """Report the ladder's states until the build ends (or until now, for builds still running)."""
    at = started
    outcome = rng.random()
    fail_at = rng.choice(list(FAILURES)) if outcome < 0.16 else None
    cancel_at = rng.choice(LADDER[:4]) if 0.16 <= outcome < 0.2 else None
    for code in LADDER:
        at += timedelta(seconds=rng.randint(60, 900) * (4 if code == 25 else 1))
        if at > now:
            return  # still in flight
        apply_state(build, code, "", at, "concourse")
        if code == cancel_at:
            apply_state(build, 990, "Cancelled from the Concourse UI", at + timedelta(seconds=30), "concourse")
            return
        if code == fail_at:
            state, component, error_code, message = FAILURES[code]
            failed_at = at + timedelta(seconds=rng.randint(30, 600))
            if failed_at > now:
                return
            add_failure(build, {"error_message": message, "error_code": error_code, "component": component,
                                "details": {"step": code}, "occurred_at": failed_at}, "concourse")
            apply_state(build, state, message, failed_at, "concourse")
            return
    at += timedelta(seconds=rng.randint(30, 120))
    if at <= now:
        apply_state(build, 100, "Image available in every region", at, "concourse")
