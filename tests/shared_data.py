"""Where the shared test data lives: `../shared` beside the checkout, or `GANTRY_SHARED_DIR`.

It holds GitHub's real webhook payloads and REST examples (`github/`). A git worktree's own
folder has nothing beside it, so the main checkout's neighbour is tried next.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _checkouts(root: Path) -> Iterator[Path]:
    """This checkout, then (for a linked git worktree) the main checkout it belongs to."""
    yield root
    dot_git = root / ".git"
    if dot_git.is_file():  # "gitdir: <main>/.git/worktrees/<name>"
        gitdir = Path(dot_git.read_text().split(":", 1)[1].strip())
        commondir = gitdir / "commondir"
        if commondir.is_file():
            yield (gitdir / commondir.read_text().strip()).resolve().parent


def find_shared_dir(root: Path = ROOT, environ: Mapping[str, str] = os.environ) -> Path:
    """GANTRY_SHARED_DIR if set, else the first `shared` folder beside a checkout of this repository."""
    if environ.get("GANTRY_SHARED_DIR"):
        return Path(environ["GANTRY_SHARED_DIR"])
    for checkout in _checkouts(root):
        if (checkout.parent / "shared").is_dir():
            return checkout.parent / "shared"
    return root.parent / "shared"  # missing: whatever reads it fails naming this path


SHARED_DIR = find_shared_dir()
GITHUB_DIR = SHARED_DIR / "github"
WEBHOOKS_DIR = GITHUB_DIR / "webhooks"


def webhook_payload(event: str, name: str = "default") -> dict[str, Any]:
    """A real webhook payload from ../shared/github/webhooks, e.g. webhook_payload("installation", "created")."""
    return json.loads((WEBHOOKS_DIR / event / f"{name}.json").read_text())
