"""The navigation every page shows; capabilities add their entries when they register."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

EXTENSION_KEY = "gantry.nav"


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    role: str = "viewer"
    section: str = "main"  # "main" or "admin"
    order: int = 50


def add_nav(app: Flask, item: NavItem) -> None:
    app.extensions.setdefault(EXTENSION_KEY, []).append(item)


def init_app(app: Flask) -> None:
    add_nav(app, NavItem("Overview", "ops.home", order=0))
    add_nav(app, NavItem("Users", "auth.users", role="admin", section="admin", order=10))
    add_nav(app, NavItem("Audit log", "auth.audit_log", role="admin", section="admin", order=20))
    add_nav(app, NavItem("Status", "ops.status_page", role="viewer", section="admin", order=30))

    @app.context_processor
    def navigation() -> dict[str, Any]:
        from webapp.auth.access import current_principal

        principal = current_principal()
        items = sorted(app.extensions.get(EXTENSION_KEY, []), key=lambda i: (i.order, i.label))
        visible = [i for i in items if principal is not None and principal.has_role(i.role)]
        return {
            "nav_main": [i for i in visible if i.section == "main"],
            "nav_admin": [i for i in visible if i.section == "admin"],
            "principal": principal,
        }
