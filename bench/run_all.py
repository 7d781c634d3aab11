"""Run every benchmark in bench/ one after another (`make bench`); each prints its own figures.

Benchmarks use their own databases (named in each script) and local servers only.
Pass names to run a subset: `python bench/run_all.py webhook_intake builds_scale`. The 30-minute soak
(`soak`) runs only when named.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ONLY_WHEN_NAMED = {"soak"}  # half an hour on its own


def main(argv: list[str]) -> int:
    scripts = sorted(p for p in HERE.glob("*.py") if p.name not in {"run_all.py", "__init__.py"}
                     and not p.name.startswith("_"))
    scripts = [p for p in scripts if p.stem in argv] if argv else [p for p in scripts
                                                                   if p.stem not in ONLY_WHEN_NAMED]
    failures = []
    for script in scripts:
        print(f"\n=== {script.stem} ===", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        print(f"--- {script.stem}: exit {result.returncode} in {time.perf_counter() - started:.1f} s", flush=True)
        if result.returncode != 0:
            failures.append(script.stem)
    if failures:
        print(f"\nFailed: {', '.join(failures)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
