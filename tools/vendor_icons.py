"""Write the Tabler icons Gantry's pages use into one small SVG sprite (webapp/static/vendor/tabler-icons/).

    npm pack @tabler/icons-sprite@3.48.0 && tar xzf tabler-icons-sprite-3.48.0.tgz
    .venv/bin/python tools/vendor_icons.py package/dist/tabler-sprite.svg

The full sprite is 2 MB; every page would fetch it, so only the symbols named in ICONS are kept.
Add a name here (and re-run) before using a new icon in a template.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

ICONS = sorted({
    "activity", "alert-triangle", "api", "arrow-left", "book", "brand-github", "category", "chart-bar", "check",
    "chevron-down", "circle-check", "circle-dashed", "circle-x", "clock", "cloud", "copy", "external-link",
    "folder", "git-branch", "hourglass", "info-circle", "key", "layout-dashboard", "list-check", "list-details",
    "logout", "menu-2", "package", "player-pause", "plug", "refresh", "rocket", "send", "server-2", "settings",
    "stack-2", "tag", "user-circle", "users", "webhook", "x",
})
TARGET = Path(__file__).resolve().parent.parent / "webapp" / "static" / "vendor" / "tabler-icons"


def subset(sprite: str) -> str:
    symbols = []
    for name in ICONS:
        match = re.search(rf'<symbol id="tabler-{re.escape(name)}".*?</symbol>', sprite, re.S)
        if match is None:
            raise SystemExit(f"no icon named {name} in this sprite")
        symbols.append(match.group(0))
    return '<svg xmlns="http://www.w3.org/2000/svg"><defs>' + "".join(symbols) + "</defs></svg>\n"


def main(source: str) -> None:
    path = Path(source)
    TARGET.mkdir(parents=True, exist_ok=True)
    (TARGET / "sprite.svg").write_text(subset(path.read_text()))
    shutil.copy(path.parent.parent / "LICENSE", TARGET / "LICENSE")


if __name__ == "__main__":
    main(sys.argv[1])
