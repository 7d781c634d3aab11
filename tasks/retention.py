"""Retention job: purge expired data, a small batch at a time (scheduled hourly in webapp/schedule.py)."""

from __future__ import annotations

from typing import Any

from webapp.ops import retention


def purge_expired_data() -> dict[str, Any]:
    """Remove (or empty) every kind of row older than its RETENTION_* setting; see webapp.ops.retention."""
    return retention.purge()
