"""The catalogue Gantry ships with, and its idempotent loader (`flask catalog load`, `flask seed-demo`).

Migration 0016 loads it into a fresh database, so builds can be reported without an operator step.
Aliases are the other names pipelines send for an entry (the Build State API's `aws`).

State codes climb a ladder from created (10) to completed (100); 900-950 are failures, 990 is a
cancellation. Every code at or above 100 is terminal.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from webapp.builds.models import ImageType, OsVersion, Platform, StateCode
from webapp.extensions import db

DEFAULT_PLATFORMS: tuple[dict[str, Any], ...] = (
    {"slug": "aws-commercial", "name": "AWS (commercial regions)", "cloud": "aws", "aliases": ["aws"]},
    {"slug": "aws-govcloud", "name": "AWS GovCloud (US)", "cloud": "aws", "aliases": ["aws-gov", "govcloud"]},
    {"slug": "azure", "name": "Microsoft Azure", "cloud": "azure"},
    {"slug": "azure-government", "name": "Azure Government", "cloud": "azure", "aliases": ["azure-gov"]},
    {"slug": "gcp", "name": "Google Cloud", "cloud": "gcp", "aliases": ["google", "google-cloud"]},
)

DEFAULT_OS_VERSIONS: tuple[dict[str, Any], ...] = (
    {"slug": "rhel-8.8", "name": "Red Hat Enterprise Linux 8.8", "family": "rhel", "aliases": ["rhel8.8"]},
    {"slug": "rhel-9.2", "name": "Red Hat Enterprise Linux 9.2", "family": "rhel", "aliases": ["rhel9.2"]},
    {"slug": "ubuntu-20.04", "name": "Ubuntu 20.04 LTS", "family": "ubuntu", "aliases": ["ubuntu-focal"]},
    {"slug": "ubuntu-22.04", "name": "Ubuntu 22.04 LTS", "family": "ubuntu", "aliases": ["ubuntu-jammy"]},
    {"slug": "sles-15-sp5", "name": "SUSE Linux Enterprise Server 15 SP5", "family": "sles"},
    {"slug": "windows-2022", "name": "Windows Server 2022", "family": "windows"},
)

DEFAULT_IMAGE_TYPES: tuple[dict[str, Any], ...] = (
    {"slug": "base", "name": "Base", "description": "Hardened OS image every other image starts from",
     "aliases": ["base-image"]},
    {"slug": "sap-hana", "name": "SAP HANA", "description": "Base plus SAP HANA prerequisites and tuning",
     "aliases": ["hana"]},
    {"slug": "web-server", "name": "Web server", "description": "Base plus nginx and TLS defaults",
     "aliases": ["webserver"]},
    {"slug": "database", "name": "Database", "description": "Base plus PostgreSQL and backup agents"},
    {"slug": "kubernetes-node", "name": "Kubernetes node", "description": "Base plus container runtime and kubelet"},
)

DEFAULT_STATE_CODES: tuple[dict[str, Any], ...] = (
    {"code": 10, "name": "Build created", "phase": "created", "description": "The pipeline registered the build."},
    {"code": 15, "name": "Queued", "phase": "queued", "description": "Waiting for a worker or runner."},
    {"code": 20, "name": "Packer build started", "phase": "build",
     "description": "Packer is launching the builder instance."},
    {"code": 22, "name": "Provisioning", "phase": "build",
     "description": "Provisioners (shell, Ansible) are configuring the instance."},
    {"code": 25, "name": "Packer build completed", "phase": "build",
     "description": "Packer captured the image; it is not yet tested."},
    {"code": 30, "name": "Image tests started", "phase": "test",
     "description": "Acceptance tests run on a test instance."},
    {"code": 35, "name": "Image tests passed", "phase": "test", "description": "Every acceptance test passed."},
    {"code": 40, "name": "Security scan started", "phase": "scan",
     "description": "CIS benchmark and vulnerability scan running."},
    {"code": 45, "name": "Security scan passed", "phase": "scan", "description": "No finding above the threshold."},
    {"code": 50, "name": "Publishing", "phase": "publish",
     "description": "Copying and sharing the image to regions and accounts."},
    {"code": 55, "name": "Image published", "phase": "publish", "description": "The image is available everywhere."},
    {"code": 100, "name": "Build completed", "phase": "completed", "terminal": True,
     "description": "The build finished successfully."},
    {"code": 900, "name": "Build failed", "phase": "failed", "terminal": True, "failure": True,
     "description": "The build failed (no more specific code given)."},
    {"code": 910, "name": "Packer build failed", "phase": "failed", "terminal": True, "failure": True,
     "description": "Packer or a provisioner failed."},
    {"code": 920, "name": "Image tests failed", "phase": "failed", "terminal": True, "failure": True,
     "description": "An acceptance test failed."},
    {"code": 930, "name": "Security scan failed", "phase": "failed", "terminal": True, "failure": True,
     "description": "The scan found issues above the threshold."},
    {"code": 940, "name": "Publishing failed", "phase": "failed", "terminal": True, "failure": True,
     "description": "Copying or sharing the image failed."},
    {"code": 950, "name": "Timed out", "phase": "failed", "terminal": True, "failure": True,
     "description": "The build took longer than its pipeline allows."},
    {"code": 990, "name": "Cancelled", "phase": "cancelled", "terminal": True,
     "description": "Someone or something stopped the build."},
)

# GitHub Actions run status/conclusion -> state code (see README, "Builds from GitHub Actions").
GITHUB_STATUS_CODES: dict[str, int] = {
    "requested": 15, "queued": 15, "waiting": 15, "pending": 15, "in_progress": 20,
}
GITHUB_CONCLUSION_CODES: dict[str, int] = {
    "success": 100, "neutral": 100, "failure": 900, "startup_failure": 900, "action_required": 900,
    "timed_out": 950, "cancelled": 990, "skipped": 990, "stale": 990,
}


def load_default_catalogue() -> dict[str, int]:
    """Add every default entry that is missing (existing ones are left as admins changed them)."""
    added = {"platforms": 0, "os_versions": 0, "image_types": 0, "state_codes": 0}
    for key, model, rows in (
        ("platforms", Platform, DEFAULT_PLATFORMS),
        ("os_versions", OsVersion, DEFAULT_OS_VERSIONS),
        ("image_types", ImageType, DEFAULT_IMAGE_TYPES),
    ):
        existing = set(db.session.scalars(select(model.slug)))
        for row in rows:
            if row["slug"] not in existing:
                db.session.add(model(**row))
                added[key] += 1
    codes = set(db.session.scalars(select(StateCode.code)))
    for row in DEFAULT_STATE_CODES:
        if row["code"] not in codes:
            db.session.add(StateCode(**{"terminal": False, "failure": False, **row}))
            added["state_codes"] += 1
    db.session.commit()
    return added
