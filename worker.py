"""Run an RQ worker with its scheduler inside the app context: `python worker.py [--burst] [queue ...]`."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from flask import Flask

log = logging.getLogger("gantry.worker")


def run_worker(app: Flask, queues: Sequence[str] | None = None, burst: bool = False, name: str | None = None) -> None:
    from tasks.schedule import PERIODIC_JOBS
    from webapp.core import jobs

    with app.app_context():
        worker = jobs.make_worker(app, queues or jobs.QUEUE_NAMES, name=name)
        ticker = jobs.PeriodicTicker(PERIODIC_JOBS, jobs.redis_connection(app))
        if not burst:
            ticker.start()
        try:
            worker.work(burst=burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"])
        finally:
            ticker.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("queues", nargs="*", help="queues to listen on (default: high, default, low)")
    parser.add_argument("--burst", action="store_true", help="stop when the queues are empty")
    parser.add_argument("--name", default=None, help="worker name (default: generated)")
    args = parser.parse_args(argv)

    from webapp import create_app

    run_worker(create_app(), args.queues or None, burst=args.burst, name=args.name)


if __name__ == "__main__":
    main()
