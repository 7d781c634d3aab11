"""`python -m tests.drills.drill_worker`: worker.py's worker (not burst) whose only handler counts deliveries.

The delivery drill starts two of these against the test database and a private redis-server and
kills one with SIGKILL while it works. The handler's effect is an audit row per delivery, written
in the processing transaction: a delivery handled twice would leave two rows.
Environment: TEST_DATABASE_URL, DRILL_REDIS_URL, GANTRY_ENCRYPTION_KEYS, DRILL_EVENT, DRILL_ACTION.
"""

from __future__ import annotations

import os


def main() -> None:
    from webapp import create_app
    from webapp.config import test_settings
    from webapp.core import audit
    from webapp.webhooks.router import EXTENSION_KEY, register_handler
    from worker import run_worker

    settings = test_settings(os.environ["TEST_DATABASE_URL"], os.environ["DRILL_REDIS_URL"])
    settings["ENCRYPTION_KEYS"] = os.environ["GANTRY_ENCRYPTION_KEYS"].split(",")
    app = create_app(settings)
    app.extensions[EXTENSION_KEY] = {}  # only the drill's handler, as the `handlers` fixture does
    pid = os.getpid()

    def count(event):
        audit.record(os.environ["DRILL_ACTION"], "webhook_delivery", event.delivery_pk, details={"pid": pid})
        return "counted"

    register_handler(app, os.environ["DRILL_EVENT"], count, name="drills.count")
    run_worker(app, ["high"], burst=False)


if __name__ == "__main__":
    main()
