"""DESIGN.md's one-way house, checked over the import graph (every import, in functions too).

view / API / compat / task -> service -> models + integrations: webapp never imports tasks/;
services never import front doors nor Flask's `request` or `g`; integrations and core import no
capability; a capability's plugin (what it registers on the app) is imported by the app factory
alone; no module imports itself round a circle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CAPABILITIES = ("auth", "repos", "webhooks", "forwarding", "runners", "builds", "releases", "sync", "ops")
# Modules that answer HTTP themselves: they may read request and g, and nothing below them imports them.
FRONT_DOOR_NAMES = ("views", "api", "endpoint", "dashboard")
FRONT_DOOR_MODULES = ("webapp.auth.access", "webapp.auth.github")
FLASK_REQUEST_STATE = {"request", "g"}
# A capability's plugin module wires its front doors and services into the app: it may import any of
# them, and only the app factory (`webapp`, which lists the plugins in CAPABILITIES) imports it.
PLUGIN_NAME = "plugin"
APP_FACTORY = "webapp"


def _module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(module -> project modules it imports, module -> names it takes from flask), for webapp and tasks."""
    paths = {_module_name(root, p): p for top in ("webapp", "tasks") for p in (root / top).rglob("*.py")}

    def resolve(name: str) -> str | None:
        while name and name not in paths:
            name = name.rpartition(".")[0]
        return name or None

    edges: dict[str, set[str]] = defaultdict(set)
    from_flask: dict[str, set[str]] = defaultdict(set)
    for module, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module in ("flask", "flask.globals"):
                    from_flask[module] |= {a.name for a in node.names}
                targets = [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for target in filter(None, map(resolve, targets)):
                if target != module:
                    edges[module].add(target)
    for module in paths:
        edges.setdefault(module, set())
    return edges, from_flask


def is_front_door(module: str) -> bool:
    return (module.startswith("webapp.compat") or module in FRONT_DOOR_MODULES
            or module.rpartition(".")[2] in FRONT_DOOR_NAMES)


def is_plugin(module: str) -> bool:
    parts = module.split(".")
    return len(parts) == 3 and parts[0] == "webapp" and parts[1] in CAPABILITIES and parts[2] == PLUGIN_NAME


def is_service(module: str) -> bool:
    """Capability code below the front doors: services, models, handlers, helpers."""
    parts = module.split(".")
    return (len(parts) >= 3 and parts[0] == "webapp" and parts[1] in CAPABILITIES
            and not is_front_door(module) and not is_plugin(module))


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def violations(root: Path) -> list[str]:
    edges, from_flask = import_graph(root)
    broken = [f"import circle: {' -> '.join(c)}" for c in cycles(edges)]
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            if module.startswith("webapp") and target.startswith("tasks"):
                broken.append(f"{module} imports {target}: only the worker runs tasks (jobs.defer names them)")
            if is_service(module) and is_front_door(target):
                broken.append(f"{module} imports the front door {target}")
            if module.startswith(("webapp.integrations", "webapp.core")) and is_service(target):
                broken.append(f"{module} imports the capability module {target}")
            if is_plugin(target) and module != APP_FACTORY:
                broken.append(f"{module} imports the plugin {target}: only the app factory registers capabilities")
        if (is_service(module) or is_plugin(module)) and from_flask.get(module, set()) & FLASK_REQUEST_STATE:
            names = ", ".join(sorted(from_flask[module] & FLASK_REQUEST_STATE))
            broken.append(f"{module} imports flask's {names}: take the value from the front door")
    return broken


def test_the_house_is_one_way():
    assert violations(ROOT) == []


def test_the_graph_sees_the_house():
    edges, _ = import_graph(ROOT)
    assert "webapp.runners.service" in edges["tasks.runners"]
    assert "webapp.runners.launcher" in edges["webapp.runners.service"]
    assert is_service("webapp.runners.service") and is_front_door("webapp.runners.views")
    assert is_plugin("webapp.runners.plugin") and not is_service("webapp.runners.plugin")
    assert "webapp.runners.plugin" in edges["webapp"]
    assert "webapp.runners.views" in edges["webapp.runners.plugin"]


BAD_HOUSE = {
    "webapp/__init__.py": "",
    "webapp/integrations/__init__.py": "",
    "webapp/integrations/ecs.py": "from webapp.runners.service import scale\n",
    "webapp/runners/__init__.py": "",
    "webapp/runners/plugin.py": "from flask import request\n",
    "webapp/runners/views.py": "from flask import g, request\nfrom webapp.runners import service\n",
    "webapp/runners/launcher.py": "from webapp.runners.service import scale\nfrom webapp.runners import plugin\n",
    "webapp/runners/service.py": (
        "from flask import current_app, g\n"
        "from webapp.runners import launcher\n"
        "from webapp.runners.views import bp\n"
        "def scale():\n"
        "    from tasks.runners import launch_runner\n"
    ),
    "tasks/__init__.py": "",
    "tasks/runners.py": "from webapp.runners import service\n",
}


@pytest.fixture
def bad_house(tmp_path: Path) -> Path:
    """A deliberately bad copy of the house: a service that imports tasks, g and a view; a circle."""
    for name, text in BAD_HOUSE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("expected", [
    "webapp.runners.service imports tasks.runners",
    "webapp.runners.service imports flask's g",
    "webapp.runners.service imports the front door webapp.runners.views",
    "webapp.runners.launcher imports the plugin webapp.runners.plugin",
    "webapp.runners.plugin imports flask's request",
    "webapp.integrations.ecs imports the capability module webapp.runners.service",
    "import circle: tasks.runners -> webapp.runners.launcher -> webapp.runners.service",
])
def test_a_bad_house_fails_the_check(bad_house, expected):
    found = violations(bad_house)
    assert any(v.startswith(expected) for v in found), found
    assert not any("webapp.runners.views imports flask" in v for v in found)  # front doors may


def test_the_app_factory_leaves_webapp_dot_capability_the_package():
    """`from webapp.runners import plugin as runners` in webapp/__init__.py would rebind webapp.runners."""
    import webapp

    for name in CAPABILITIES:
        assert getattr(webapp, name).__name__ == f"webapp.{name}"
