"""The navigation every page shows; capabilities add their entries when they register.

Entries are grouped by job (Delivery, Events, GitHub, Admin) in the left navigation. The Admin group
is shown to admins only, whatever the roles of its entries.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, request, url_for

from webapp.auth.access import current_principal


class Viewer(Protocol):
    """Whoever looks at a page, as plumbing sees them: a request's principal or a user."""

    def has_role(self, role: str) -> bool: ...

    @property
    def is_admin(self) -> bool: ...


EXTENSION_KEY = "gantry.nav"
GROUPS = ("", "Delivery", "Events", "GitHub", "Admin")


@dataclass(frozen=True)
class NavItem:
    label: str
    endpoint: str
    role: str = "viewer"
    group: str = ""  # one of GROUPS; "" is the top of the navigation (Overview)
    order: int = 50
    icon: str = "circle-dashed"  # a Tabler icon kept in tools/vendor_icons.py


@dataclass(frozen=True)
class NavLink:
    label: str
    url: str
    icon: str
    current: bool


def add_nav(app: Flask, item: NavItem) -> None:
    if item.group not in GROUPS:
        raise ValueError(f"navigation group {item.group!r} is not one of {GROUPS}")
    app.extensions.setdefault(EXTENSION_KEY, []).append(item)


def _is_current(url: str, path: str) -> bool:
    if url == "/":
        return path == "/"
    return path == url or path.startswith(url.rstrip("/") + "/")


def navigation_for(app: Flask, principal: Viewer | None, path: str) -> list[tuple[str, list[NavLink]]]:
    """The groups of links this principal may follow, in order; the longest matching link is current."""
    if principal is None:
        return []
    items = sorted(app.extensions.get(EXTENSION_KEY, []), key=lambda i: (i.order, i.label))
    visible = [i for i in items if principal.has_role(i.role) and (i.group != "Admin" or principal.is_admin)]
    urls = {i.endpoint: url_for(i.endpoint) for i in visible}
    best = max((u for u in urls.values() if _is_current(u, path)), key=len, default=None)
    groups = []
    for group in GROUPS:
        links = [NavLink(i.label, urls[i.endpoint], i.icon, urls[i.endpoint] == best)
                 for i in visible if i.group == group]
        if links:
            groups.append((group, links))
    return groups


def init_app(app: Flask) -> None:
    add_nav(app, NavItem("Overview", "ops.home", order=0, icon="layout-dashboard"))
    add_nav(app, NavItem("Users", "auth.users", role="admin", group="Admin", order=10, icon="users"))
    add_nav(app, NavItem("Audit log", "auth.audit_log", role="admin", group="Admin", order=20, icon="list-details"))
    add_nav(app, NavItem("Status", "ops.status_page", role="admin", group="Admin", order=30, icon="activity"))
    add_nav(app, NavItem("Queues", "rq_dashboard.queues_overview", role="admin", group="Admin", order=90,
                         icon="stack-2"))

    @app.context_processor
    def navigation() -> dict[str, Any]:
        principal = current_principal()
        return {"nav_groups": navigation_for(app, principal, request.path), "principal": principal}
