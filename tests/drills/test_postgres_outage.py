"""Drill: PostgreSQL stops and restarts while deliveries arrive.

The intake runs against a private PostgreSQL cluster (initdb + pg_ctl, see conftest.py) that the
drill stops with a fast shutdown (open sessions are cut) and starts again. While it is down,
`POST /webhooks/github` answers 503 with the JSON error body, stores nothing and queues nothing
(GitHub records the failure; the redelivery job asks for it again). Once it is back, the pool's
stale connections are replaced and deliveries are answered 202 again; GitHub's redeliveries of the
refused ones are stored once. A second phase restarts PostgreSQL while requests are in flight:
every answer is 202 or 503 (never a 500), and every 202 has its complete row.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from tests.conftest import make_test_app
from tests.webhooks.helpers import post_webhook
from webapp.core import jobs
from webapp.core.rq_worker import run_jobs_now
from webapp.extensions import db
from webapp.webhooks import service
from webapp.webhooks.intake import intake_engine, job_id_for
from webapp.webhooks.models import WebhookDelivery

EVENT = "gantry_drill"


def payload_for(delivery_id: str) -> dict[str, Any]:
    return {"action": "drilled", "delivery": delivery_id, "repository": {"id": 1001, "full_name": "acme/infrajet"}}


def stored(intake) -> dict[str, dict[str, Any]]:
    """Every stored delivery by delivery id: its payload, status and event."""
    with intake.app_context():
        rows = db.session.execute(sa.select(WebhookDelivery.delivery_id, WebhookDelivery.payload,
                                            WebhookDelivery.status, WebhookDelivery.event,
                                            WebhookDelivery.repository_id)).all()
        db.session.remove()
    return {row.delivery_id: {"payload": row.payload, "status": row.status, "event": row.event,
                              "repository_id": row.repository_id} for row in rows}


def queued(intake, delivery_ids) -> set[str]:
    with intake.app_context():
        return {d for d in delivery_ids if jobs.job_status(job_id_for(d)) is not None}


def test_a_server_lost_while_the_connection_returns_to_the_pool_is_a_503_not_a_500(app, db, client):
    """The moment the drill below once hit: the INSERT answered, then the server went away.

    Returning the connection to the pool raises the driver's error unwrapped; the intake must
    still answer 503 (and GitHub's redelivery is answered 200: the row was stored).
    """
    raised: list[str] = []

    def server_gone(dbapi_connection: Any, record: Any) -> None:
        if not raised:
            raised.append("once")
            raise psycopg2.OperationalError("server closed the connection unexpectedly")

    pool = intake_engine().pool  # deliveries are written through a pool of their own
    sa.event.listen(pool, "checkin", server_gone)
    try:
        delivery_id = str(uuid.uuid4())
        response = post_webhook(client, EVENT, payload_for(delivery_id), DEFAULT_WEBHOOK_SECRET, delivery_id)
    finally:
        sa.event.remove(pool, "checkin", server_gone)
    assert raised == ["once"]
    assert response.status_code == 503 and response.json["code"] == "unavailable", response.get_data(as_text=True)
    again = post_webhook(client, EVENT, payload_for(delivery_id), DEFAULT_WEBHOOK_SECRET, delivery_id)
    assert again.status_code == 200, again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 1


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_intake_answers_503_while_postgresql_is_down_stores_nothing_half_and_recovers(app, postgres_cluster):
    intake = make_test_app(SQLALCHEMY_DATABASE_URI=postgres_cluster.url, DATABASE_URL=postgres_cluster.url,
                           GITHUB_WEBHOOK_SECRET=DEFAULT_WEBHOOK_SECRET, RATELIMIT_ENABLED=False)
    with intake.app_context():
        upgrade()
        db.session.remove()
    client = intake.test_client()

    def post(delivery_id: str) -> Any:
        return post_webhook(client, EVENT, payload_for(delivery_id), DEFAULT_WEBHOOK_SECRET, delivery_id)

    before = [str(uuid.uuid4()) for _ in range(20)]
    assert {post(d).status_code for d in before} == {202}

    postgres_cluster.stop()
    refused = [str(uuid.uuid4()) for _ in range(20)]
    for delivery_id in refused + before[:5]:  # new deliveries, and repeats of stored ones
        response = post(delivery_id)
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.is_json and response.json["code"] == "unavailable", response.get_data(as_text=True)
        assert "redelivered" in response.json["message"]
    assert queued(intake, refused) == set()  # no job for anything not stored

    postgres_cluster.start()
    after = [str(uuid.uuid4()) for _ in range(10)]
    assert {post(d).status_code for d in refused + after} == {202}  # GitHub redelivers the refused ones
    assert {post(d).status_code for d in before[:5]} == {200}  # already stored: not stored again

    rows = stored(intake)
    assert set(rows) == set(before + refused + after)
    assert all(row["payload"] == payload_for(d) and row["event"] == EVENT and row["status"] == "received"
               and row["repository_id"] == 1001 for d, row in rows.items())
    assert queued(intake, rows) == set(rows)

    # PostgreSQL restarted while requests are in flight.
    restarted = threading.Event()

    def restart() -> None:
        time.sleep(0.3)
        postgres_cluster.stop()
        time.sleep(1.0)
        postgres_cluster.start()
        restarted.set()

    answers: dict[str, int] = {}
    restarter = threading.Thread(target=restart, daemon=True)
    restarter.start()
    deadline = time.monotonic() + 60
    extra = 0
    while (not restarted.is_set() or extra < 20) and time.monotonic() < deadline:
        delivery_id = str(uuid.uuid4())
        answers[delivery_id] = post(delivery_id).status_code
        extra += restarted.is_set()
    restarter.join(30)
    assert restarted.is_set()
    assert set(answers.values()) == {202, 503}, answers
    refused_live = [d for d, status in answers.items() if status == 503]
    rows = stored(intake)
    assert {d for d, status in answers.items() if status == 202} <= set(rows)
    # A 503 may follow a commit whose answer was lost: GitHub's redelivery then gets a 200, never a second row.
    assert {post(d).status_code for d in refused_live} <= {200, 202}
    rows = stored(intake)
    assert set(rows) == set(before + refused + after) | set(answers)
    assert all(row["payload"] == payload_for(d) for d, row in rows.items())

    # And the stored deliveries are processed normally; the sweep queues any row whose 503 came
    # after its INSERT had committed (its redelivery was a duplicate, so nothing queued it).
    unqueued = set(rows) - queued(intake, rows)
    assert unqueued <= set(refused_live)
    with intake.app_context():
        assert service.enqueue_pending(older_than=0) == len(unqueued)
        run_jobs_now(intake)
        db.session.remove()
    # (the capabilities that listen to every event ran for each of them)
    assert {row["status"] for row in stored(intake).values()} == {"handled"}
