"""How values read on a page: human labels, `—` for nothing, state colours and relative times.

Registered as Jinja filters; templates/macros/ui.html builds its components on them, so no page shows a
Python value (`None`, `False`, `{}`) or a snake_case key.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import Flask

NOTHING = "—"

# Words a label writes in a fixed way rather than capitalised.
WORDS = {
    "github": "GitHub", "ecs": "ECS", "os": "OS", "aws": "AWS", "api": "API", "id": "ID", "ids": "IDs",
    "url": "URL", "urls": "URLs", "ssm": "SSM", "jit": "JIT", "rq": "RQ", "sha": "SHA", "db": "DB",
    "cpu": "CPU", "vcpus": "vCPUs", "gb": "GB", "http": "HTTP", "https": "HTTPS", "ms": "ms", "oauth": "OAuth",
    "json": "JSON", "ssrf": "SSRF", "ip": "IP", "uuid": "UUID", "p95": "p95", "ttl": "TTL", "arn": "ARN",
}

# One colour per family of states; a state not listed is neutral.
STATE_FAMILIES = {
    "ok": {"ok", "succeeded", "success", "active", "handled", "delivered", "published", "processed", "completed",
           "idle", "approved", "synced", "connected", "enabled", "healthy", "done", "current", "deployed",
           "nothing_to_do", "up", "finished"},
    "failed": {"failed", "failure", "error", "errored", "revoked", "disabled", "conflict", "gave_up", "refused",
               "rolled_back", "down", "unavailable", "degraded", "rejected", "dead", "timed_out", "stopped"},
    "waiting": {"queued", "pending", "pending_approval", "waiting", "received", "retrying", "launching",
                "requested", "draft", "publishing", "expired", "stale", "scheduled", "suspended", "paused"},
    "running": {"in_progress", "running", "busy", "syncing", "deploying", "promoting", "starting"},
}
_FAMILY_OF = {state: family for family, states in STATE_FAMILIES.items() for state in states}


def human_label(key: Any) -> str:
    """`os_versions` → `OS versions`, `github_app` → `GitHub app`, `pending_seconds` → `Pending seconds`."""
    words = str(key).replace("-", " ").replace("_", " ").split()
    if not words:
        return NOTHING
    shown = [WORDS.get(w.lower(), w.lower() if i else w[:1].upper() + w[1:].lower()) for i, w in enumerate(words)]
    return " ".join(shown)


def humanize_value(value: Any) -> str:
    """A value as a person reads it: `—` for nothing, yes/no for booleans, lists and mappings spelled out."""
    if value is None or value == "" or (isinstance(value, Mapping | list | tuple | set) and not value):
        return NOTHING
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{human_label(k)}: {humanize_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return ", ".join(humanize_value(v) for v in value)
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".")
    return str(value)


def state_family(state: Any) -> str:
    """ok, failed, waiting, running or neutral: the colour a state's badge takes."""
    return _FAMILY_OF.get(str(state or "").lower(), "neutral")


def _aware(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_utc(value: datetime | str) -> str:
    return _aware(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def relative_time(value: datetime | str, now: datetime | None = None) -> str:
    """`just now`, `5 min ago`, `3 h ago`, `2 d ago`, `in 4 min`; older than 30 days is the date."""
    moment = _aware(value)
    seconds = int(((now or datetime.now(UTC)) - moment).total_seconds())
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    if seconds < 3600:
        amount = f"{max(1, round(seconds / 60))} min"
    elif seconds < 86400:
        amount = f"{round(seconds / 3600)} h"
    elif seconds < 30 * 86400:
        amount = f"{round(seconds / 86400)} d"
    else:
        return moment.astimezone(UTC).strftime("%Y-%m-%d")
    return f"in {amount}" if ahead else f"{amount} ago"


def iso_utc(value: datetime | str) -> str:
    return _aware(value).astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def http_url(value: Any) -> str | None:
    """`value` when it is an http(s) URL, else None: the only links a page makes from data it was sent.

    URLs from webhook payloads and API callers (`html_url`, `pipeline_url`) could be `javascript:` or
    `data:`; templates write `{% if x|http_url %}<a href="{{ x|http_url }}">`, and show text otherwise.
    """
    if not isinstance(value, str):
        return None
    url = value.strip()
    try:
        parts = urlsplit(url)  # drops tabs and newlines as browsers do, so "java\tscript:" is seen for what it is
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def init_app(app: Flask) -> None:
    app.add_template_filter(http_url, "http_url")
    app.add_template_filter(human_label, "label")
    app.add_template_filter(humanize_value, "show")
    app.add_template_filter(state_family, "state_family")
    app.add_template_filter(relative_time, "ago")
    app.add_template_filter(format_utc, "utc")
    app.add_template_filter(iso_utc, "iso_utc")
