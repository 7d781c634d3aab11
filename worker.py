"""Run an RQ worker with its scheduler inside the app context: `python worker.py [--burst] [queue ...]`.

The same as `flask rq worker`. Tasks are named by their dotted path, so RQ imports `tasks/` here,
in the worker, and nowhere else.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from flask import Flask

from webapp import create_app
from webapp.core import rq_worker
from webapp.schedule import PERIODIC_JOBS


def run_worker(app: Flask, queues: Sequence[str] | None = None, burst: bool = False, name: str | None = None) -> None:
    rq_worker.run_worker(app, PERIODIC_JOBS, queues, burst=burst, name=name)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("queues", nargs="*", help="queues to listen on (default: high, default, low)")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    parser.add_argument("--name", default=None, help="worker name (default: generated)")
    args = parser.parse_args(argv)
    run_worker(create_app(), args.queues or None, burst=args.burst, name=args.name)


if __name__ == "__main__":
    main()
