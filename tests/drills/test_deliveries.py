"""Drill: webhook deliveries through Redis being stopped and workers being killed, then the sweep.

N = 10,000 deliveries (8,000 distinct, 2,000 repeats = 20 %) are posted through the real
`POST /webhooks/github` (Flask test clients, POSTERS threads at once, so a repeat may arrive while
its original is being stored). Two worker subprocesses (worker.py's `run_worker`, with a handler
that writes one audit row per delivery in the processing transaction) work a private
redis-server. During the run:

- the redis-server is stopped once 20 % are answered (without persistence: every queued job is
  lost) and started again, empty, after at least REDIS_DOWN_SECONDS and half the posts; intake
  keeps answering 202 meanwhile (stored, `"queued": false`), as issue 9 asks, for 30 s;
- worker A is killed with SIGKILL twice while it is busy with a job (after 15 % and 80 % of the
  posts, or while the backlog is worked if the posts outran it), and restarted each time.

An RQ worker whose Redis goes away exits (rq raises ConnectionError from the job heartbeat or
from its start-up), so the drill acts as the process supervisor production has (Procfile /
container restart policy): a worker found dead is started again.

Then the sweep (`enqueue_pending`, what the periodic `webhooks.sweep` job runs) queues whatever was
stored but not processed (a job that runs meanwhile also claims such deliveries in its batches).
Every distinct delivery must end up stored once (one 202, 200 for every repeat), handled once,
with exactly one handler effect.

N is 10,000: on a 2-CPU machine the posts take about 15 s and the backlog about 20 s more (35-50 s
in all; up to about 80 s when other test runs share the machine). DRILL_DELIVERIES=<n> runs a
smaller drill while working on it.
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from collections import Counter

import pytest
import redis
import sqlalchemy as sa

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from tests.conftest import TEST_DATABASE_URL, make_test_app
from tests.drills.conftest import WorkerProcess, wait_for
from tests.webhooks.helpers import post_webhook
from webapp.core import jobs
from webapp.core.audit import AuditEvent
from webapp.webhooks import service
from webapp.webhooks.models import WebhookDelivery

DELIVERIES = int(os.environ.get("DRILL_DELIVERIES", 10_000))
DUPLICATE_SHARE = 0.20
REDIS_DOWN_SECONDS = 30
SWEEP_EVERY = 5  # seconds between sweeps once every delivery is posted
POSTERS = 4  # concurrent senders: a repeat may arrive while its original is being stored
EVENT = "gantry_drill"  # no capability handles it: the drill's counting handler is the only one
EFFECT = "drill.handled"
# When (after how many posts) each fault happens.
KILL_A_AT = (int(DELIVERIES * 0.15), int(DELIVERIES * 0.8))
REDIS_STOP_AT, REDIS_START_AT = int(DELIVERIES * 0.2), int(DELIVERIES * 0.5)


def delivery_plan(seed: int = 9) -> list[str]:
    """Delivery ids in posting order: 80 % new ones, 20 % repeats of ids already posted."""
    rng = random.Random(seed)
    repeats = set(rng.sample(range(1, DELIVERIES), int(DELIVERIES * DUPLICATE_SHARE)))
    plan: list[str] = []
    seen: list[str] = []
    for k in range(DELIVERIES):
        if k in repeats:
            plan.append(rng.choice(seen))
        else:
            seen.append(str(uuid.UUID(int=rng.getrandbits(128))))
            plan.append(seen[-1])
    return plan


def pending_count(db) -> int:
    db.session.expire_all()
    return int(db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)
                                 .where(WebhookDelivery.status != "handled")) or 0)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_delivery_is_processed_exactly_once_through_redis_loss_and_killed_workers(
        app, db, redis_server, tmp_path):
    started = time.monotonic()
    intake = make_test_app(REDIS_URL=redis_server.url, GITHUB_WEBHOOK_SECRET=DEFAULT_WEBHOOK_SECRET,
                           RATELIMIT_ENABLED=False)
    env = {**os.environ, "TEST_DATABASE_URL": TEST_DATABASE_URL, "DRILL_REDIS_URL": redis_server.url,
           "GANTRY_ENCRYPTION_KEYS": ",".join(app.config["ENCRYPTION_KEYS"]), "DRILL_EVENT": EVENT,
           "DRILL_ACTION": EFFECT}
    workers = {name: WorkerProcess("tests.drills.drill_worker", env, tmp_path / f"worker-{name}.log")
               for name in ("a", "b")}
    plan = delivery_plan()
    distinct = set(plan)
    answers: list[tuple[str, int, bool | None]] = []  # (delivery id, status, queued) in answer order
    errors: list[BaseException] = []
    unexpected_exits = 0
    redis_stopped_at = 0.0
    kills_left = list(KILL_A_AT)
    queue_redis = redis.Redis.from_url(redis_server.url, socket_connect_timeout=1)

    def busy(worker: WorkerProcess) -> bool:
        pid = worker.process.pid if worker.process is not None else None
        try:
            return any(w["pid"] == pid and w["state"] == "busy" for w in jobs.workers_seen(queue_redis))
        except redis.exceptions.ConnectionError:
            return False

    def maybe_kill(done: int) -> None:
        if kills_left and done >= kills_left[0] and redis_server.process is not None and busy(workers["a"]):
            workers["a"].kill()  # in the middle of a job: its transaction dies with it
            workers["a"].start()
            kills_left.pop(0)

    def post_share(share: list[tuple[int, str]]) -> None:
        client = intake.test_client()
        try:
            for k, delivery_id in share:
                response = post_webhook(client, EVENT, {"action": "drilled", "n": k}, DEFAULT_WEBHOOK_SECRET,
                                        delivery_id)
                body = response.get_json(silent=True) or {}
                answers.append((delivery_id, response.status_code, body.get("queued")))
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    numbered = list(enumerate(plan))
    posters = [threading.Thread(target=post_share, args=(numbered[i::POSTERS],), daemon=True)
               for i in range(POSTERS)]
    try:
        for worker in workers.values():
            worker.start()
        for poster in posters:
            poster.start()
        deadline = time.monotonic() + 100
        supervised_at = 0.0
        while any(p.is_alive() for p in posters) and time.monotonic() < deadline:
            done = len(answers)
            if not redis_stopped_at and done >= REDIS_STOP_AT:
                redis_server.stop()
                redis_stopped_at = time.monotonic()
            elif (redis_server.process is None and done >= REDIS_START_AT
                  and time.monotonic() - redis_stopped_at >= REDIS_DOWN_SECONDS):
                redis_server.start()
            maybe_kill(done)
            # A supervisor restarts a worker that died on its own, once Redis answers again.
            if time.monotonic() - supervised_at > 0.2 and redis_server.process is not None:
                supervised_at = time.monotonic()
                for worker in workers.values():
                    if not worker.alive():
                        unexpected_exits += 1
                        worker.start()
            time.sleep(0.01)
        assert not errors, errors[:3]
        assert len(answers) == DELIVERIES
        if redis_server.process is None:  # the posts outran the outage
            time.sleep(max(0.0, REDIS_DOWN_SECONDS - (time.monotonic() - redis_stopped_at)))
            redis_server.start()
        posted = time.monotonic()

        # The sweep queues what Redis lost and what the killed worker held; workers finish the rest.
        # It locks the rows it looks at (as the periodic job does every 60 s), so it runs every few
        # seconds here rather than in a tight loop that would keep the workers waiting on it.
        swept: list[int] = []
        swept_at = 0.0

        def all_handled() -> bool:
            nonlocal swept_at
            if time.monotonic() - swept_at >= SWEEP_EVERY:
                swept_at = time.monotonic()
                with intake.app_context():
                    swept.append(service.enqueue_pending(older_than=0, limit=DELIVERIES))
            maybe_kill(DELIVERIES)  # a kill the posts outran happens while the backlog is worked
            for worker in workers.values():
                if not worker.alive():
                    worker.start()
            return pending_count(db) == 0 and not kills_left

        wait_for(all_handled, 90, "every stored delivery to be handled", every=0.1)
        finished = time.monotonic()
    finally:
        for worker in workers.values():
            worker.stop()

    statuses = Counter(status for _, status, _ in answers)
    assert statuses == {202: len(distinct), 200: DELIVERIES - len(distinct)}, statuses
    accepted = Counter(delivery_id for delivery_id, status, _ in answers if status == 202)
    assert set(accepted) == distinct and set(accepted.values()) == {1}  # one 202 per delivery, 200 for repeats
    stored_while_down = sum(1 for _, status, queued in answers if status == 202 and queued is False)
    assert len(distinct) == int(DELIVERIES * (1 - DUPLICATE_SHARE))
    # Some were stored while Redis was down; they (and what Redis lost) were processed in the
    # batches of jobs queued later, or by the jobs the sweep queued: the rows below say all were.
    assert stored_while_down > 0
    assert kills_left == [], "worker A was never seen busy to be killed"
    assert workers["a"].starts >= 3 and workers["b"].starts >= 1
    db.session.expire_all()
    rows = db.session.execute(sa.select(WebhookDelivery.id, WebhookDelivery.delivery_id, WebhookDelivery.status,
                                        WebhookDelivery.attempts, WebhookDelivery.result)).all()
    # Stored once each: no duplicate rows, none missing, none extra.
    assert len(rows) == len(distinct)
    assert {row.delivery_id for row in rows} == distinct
    assert {(row.status, row.attempts) for row in rows} == {("handled", 1)}
    assert {str(row.result) for row in rows} == {str({"handlers": {"drills.count": "counted"}})}
    # Handled once each: exactly one effect per delivery, none for anything else.
    effects = Counter(db.session.scalars(sa.select(AuditEvent.target_id).where(AuditEvent.action == EFFECT)))
    assert len(effects) == len(distinct)
    assert set(effects.values()) == {1}, [target for target, n in effects.items() if n > 1][:5]
    assert set(effects) == {str(row.id) for row in rows}
    print(f"\n{DELIVERIES} posts ({len(distinct)} distinct) in {posted - started:.1f} s; all handled "
          f"{finished - posted:.1f} s later; {stored_while_down} stored while Redis was down, the sweep queued "
          f"{sum(swept)}; worker A started {workers['a'].starts}x, B {workers['b'].starts}x, "
          f"{unexpected_exits} unexpected worker exit(s)")
