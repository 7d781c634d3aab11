"""`python -m tests.webhooks.blocking_worker`: worker.py's worker (burst) whose gantry_test handler blocks.

The crash test starts it against the test database and Redis, waits until the handler has written
its row (not yet committed) and kills it with SIGKILL mid-job.
Environment: TEST_DATABASE_URL, TEST_REDIS_URL, GANTRY_ENCRYPTION_KEYS, BLOCKING_MARKER (a file
the handler creates once it is inside the transaction), plus the GitHub settings of the test app.
"""

from __future__ import annotations

import os
import time
from pathlib import Path


def main() -> None:
    from webapp import create_app
    from webapp.config import test_settings
    from webapp.core import audit
    from webapp.extensions import db
    from webapp.webhooks.router import register_handler
    from worker import run_worker

    settings = test_settings(os.environ["TEST_DATABASE_URL"], os.environ["TEST_REDIS_URL"])
    settings["ENCRYPTION_KEYS"] = os.environ["GANTRY_ENCRYPTION_KEYS"].split(",")
    settings["GITHUB_WEBHOOK_SECRET"] = os.environ.get("GITHUB_WEBHOOK_SECRET")
    app = create_app(settings)
    marker = Path(os.environ["BLOCKING_MARKER"])

    def block(event):
        audit.record("test.handled", "webhook_delivery", event.delivery_pk, details={"by": "blocking worker"})
        db.session.flush()
        marker.write_text(str(os.getpid()))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # killed long before this ends
            time.sleep(0.05)
        return "should never commit"

    register_handler(app, "gantry_test", block, name="tests.count")
    run_worker(app, burst=True)


if __name__ == "__main__":
    main()
