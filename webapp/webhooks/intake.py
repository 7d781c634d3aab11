"""Taking a delivery in: check its signature, read its payload, store it once, queue it.

Everything here is fast and touches PostgreSQL once: GitHub waits for the answer (10 s at most)
and a slow intake means failed deliveries. The endpoint in endpoint.py passes the raw request
parts in; nothing here reads Flask's request.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from flask import current_app
from prometheus_client import Histogram
from redis.exceptions import RedisError
from sqlalchemy import Engine, TextClause, bindparam, create_engine, text
from sqlalchemy.exc import DataError, DBAPIError

from webapp.core import jobs
from webapp.core.batching import Batcher
from webapp.core.errors import GantryError, Unavailable
from webapp.core.logging import current_request_id
from webapp.core.metrics import REGISTRY
from webapp.core.models import UTCDateTime, utcnow
from webapp.extensions import db
from webapp.webhooks.delivery_checks import (
    BadDelivery,
    check_content_type,
    check_headers,
    check_hook_scope,
    check_size,
    int_or_none,
    nested_id,
    parse_hook_id,
    parse_payload,
    verify_signature,
)
from webapp.webhooks.models import RECEIVED, WebhookDelivery

log = logging.getLogger(__name__)

JOB_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]")  # RQ job ids allow letters, digits, "_" and "-"


@dataclass(frozen=True)
class Intake:
    """The outcome of one POST: the stored row's id, and whether this request created it."""

    pk: int
    delivery_id: str
    created: bool
    queued: bool


COLUMNS = ("delivery_id", "event", "action", "hook_id", "installation_id", "repository_id",
           "repository_full_name", "verified_with", "payload", "received_at", "status", "attempts")
BATCH_MAX_ITEMS = 32
BATCH_MAX_BYTES = 8 * 1024 * 1024
WRITER_KEY = "gantry.delivery_writer"
BATCH_SIZE = Histogram("gantry_webhook_intake_batch_size", "Deliveries written together in one INSERT",
                       buckets=(1, 2, 4, 8, 16, 32), registry=REGISTRY)
_INTAKE_ENGINES: weakref.WeakKeyDictionary[Engine, Engine] = weakref.WeakKeyDictionary()
_SETUP_LOCK = threading.Lock()  # each process makes its intake engine and writer once


@dataclass(frozen=True)
class _Delivery:
    """One delivery on its way to the database: its row, and the request it came with."""

    values: dict[str, Any]
    request_id: str | None


@dataclass(frozen=True)
class _Stored:
    pk: int | None  # None: the delivery id was stored before
    queued: bool


@functools.cache
def _insert_statement(dialect: str, rows: int = 1) -> TextClause:
    """INSERT ... VALUES (row 0), (row 1), ... ON CONFLICT (delivery_id) DO NOTHING RETURNING id, delivery_id.

    SQL text compiled once per number of rows. The payload is bound as the JSON text received
    (PostgreSQL checks it is JSON), so it is neither serialized again nor re-compiled per delivery
    (SQLAlchemy does not cache the compilation of its PostgreSQL-specific INSERT construct).
    """
    tuples = []
    for i in range(rows):
        values = [f":{name}_{i}" for name in COLUMNS]
        if dialect == "postgresql":
            values[COLUMNS.index("payload")] = f"CAST(:payload_{i} AS JSON)"
        tuples.append(f"({', '.join(values)})")
    return text(
        f"INSERT INTO {WebhookDelivery.__tablename__} ({', '.join(COLUMNS)}) VALUES {', '.join(tuples)} "
        "ON CONFLICT (delivery_id) DO NOTHING RETURNING id, delivery_id"
    ).bindparams(*(bindparam(f"received_at_{i}", type_=UTCDateTime()) for i in range(rows)))


def intake_engine() -> Engine:
    """The engine deliveries are written with.

    On PostgreSQL it is a pool of its own, in autocommit mode and without the pre-ping the app's
    pool does on every checkout: the intake's one statement is instead retried once on a fresh
    connection when a pooled one turns out to be dead (see _insert_new). That saves a round trip
    per delivery. On SQLite it is the app's engine.
    """
    engine: Engine = db.engine
    if engine.dialect.name != "postgresql":
        return engine
    found = _INTAKE_ENGINES.get(engine)
    if found is None:
        with _SETUP_LOCK:
            found = _INTAKE_ENGINES.get(engine)
            if found is None:
                options = dict(current_app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
                options.update(pool_pre_ping=False, isolation_level="AUTOCOMMIT", pool_reset_on_return=None)
                found = _INTAKE_ENGINES[engine] = create_engine(engine.url, **options)
    return found


def _insert_new(rows: list[dict[str, Any]]) -> list[int | None]:
    """Insert and commit the rows whose delivery ids are not known; each new row's id, or None.

    One INSERT ... ON CONFLICT DO NOTHING RETURNING on an autocommit connection: the rows are
    durable when the statement returns, in one round trip instead of BEGIN/INSERT/COMMIT.
    A delivery id twice in one batch is stored once; the second is answered as known.
    A pooled connection the server has dropped (a restart) fails before the statement runs;
    SQLAlchemy then discards the pool's connections and the statement is tried once more. Had the
    rows been written after all, the second try finds them and the deliveries are answered as
    known; the sweep queues them.
    """
    engine = intake_engine()
    statement = _insert_statement(engine.dialect.name, len(rows))
    params = {f"{name}_{i}": row[name] for i, row in enumerate(rows) for name in COLUMNS}
    for attempt in (1, 2):
        try:
            with engine.connect() as connection:
                if engine is db.engine:  # SQLite: the app's engine, not in autocommit mode
                    connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                stored = {delivery_id: pk for pk, delivery_id in connection.execute(statement, params)}
            return [stored.pop(row["delivery_id"], None) for row in rows]
        except DBAPIError as exc:
            if attempt == 2 or not exc.connection_invalidated:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _database_errors() -> tuple[type[Exception], ...]:
    """SQLAlchemy's wrapped errors and the driver's own.

    A server that goes away just after answering the INSERT makes returning the connection to the
    pool (which resets its isolation level, outside SQLAlchemy's error wrapping) raise the
    driver's error unwrapped. The row may then be stored: the 503 makes GitHub redeliver, which
    is answered 200, and the sweep queues the row.
    """
    return (DBAPIError, db.engine.dialect.loaded_dbapi.Error)


def _store_and_queue(deliveries: list[_Delivery]) -> list[_Stored | GantryError]:
    """Store a batch of deliveries in one statement, then queue the new ones in one Redis round trip."""
    BATCH_SIZE.observe(len(deliveries))
    return _queue(deliveries, _store(deliveries))


def _store(deliveries: list[_Delivery]) -> list[int | None | GantryError]:
    """Store a batch of deliveries in one statement: each new row's id, None for a known delivery id.

    A row PostgreSQL refuses fails the statement for the whole batch: each delivery is then stored
    on its own, so only that one is refused (400).
    """
    try:
        return list(_insert_new([d.values for d in deliveries]))
    except DataError as exc:  # a value PostgreSQL cannot store (the checks before should leave none)
        if len(deliveries) > 1:
            return [outcome for d in deliveries for outcome in _store([d])]
        refused = BadDelivery(f"The payload cannot be stored as JSON: {type(exc.orig).__name__}.", code="bad_json")
        refused.__cause__ = exc
        return [refused]
    except _database_errors() as exc:
        outcomes: list[int | None | GantryError] = []
        for d in deliveries:
            log.error("webhook delivery %s not stored: database unavailable (%s)", d.values["delivery_id"],
                      type(getattr(exc, "orig", None) or exc).__name__)
            unavailable = Unavailable("The delivery could not be stored; GitHub will record the failure and it will "
                                      "be redelivered.")
            unavailable.__cause__ = exc
            outcomes.append(unavailable)
        return outcomes


def _queue(deliveries: list[_Delivery], stored: list[int | None | GantryError]) -> list[_Stored | GantryError]:
    """Queue processing of the rows just created, in one Redis round trip (and none when there are none).

    Redis being unreachable does not fail the deliveries: they are stored, and the sweep queues them.
    """
    created = [(pk, d) for pk, d in zip(stored, deliveries, strict=True) if isinstance(pk, int)]
    queued = False
    if created:
        try:
            calls = [((pk,), job_id_for(d.values["delivery_id"]), d.request_id) for pk, d in created]
            jobs.enqueue_new("tasks.webhooks.process_delivery", calls, queue="high", result_ttl=JOB_RESULT_TTL)
            queued = True
        except RedisError as exc:
            for _, d in created:
                _log_not_queued(d.values["delivery_id"], exc)
    return [outcome if isinstance(outcome, GantryError) else _Stored(pk=outcome, queued=outcome is not None and queued)
            for outcome in stored]


def delivery_writer() -> Batcher[_Delivery, _Stored]:
    """This process's writer: concurrent deliveries share one INSERT and one Redis round trip."""
    writer: Batcher[_Delivery, _Stored] | None = current_app.extensions.get(WRITER_KEY)
    if writer is None:
        with _SETUP_LOCK:
            writer = current_app.extensions.get(WRITER_KEY)
            if writer is None:
                writer = current_app.extensions[WRITER_KEY] = Batcher(
                    _store_and_queue, max_items=BATCH_MAX_ITEMS, max_weight=BATCH_MAX_BYTES,
                    weight=lambda d: len(d.values["payload"]))
    return writer


def receive(
    *,
    body: bytes,
    mimetype: str,
    content_length: int | None,
    signature: str | None,
    event: str | None,
    delivery_id: str | None,
    hook_id_header: str | None,
) -> Intake:
    """Verify, store (once per delivery id) and queue one delivery.

    The row is committed before this returns, so the 202 GitHub gets means the delivery is safe.
    Deliveries arriving together are written together (delivery_writer), each still answered
    only once its row is committed. A database that cannot be reached raises Unavailable (503:
    GitHub records a failure and the redelivery job asks for it again); Redis that cannot be
    reached only delays processing.
    """
    check_size(content_length)
    check_content_type(mimetype)
    hook_id = parse_hook_id(hook_id_header)
    try:
        verified_with = verify_signature(body, signature, hook_id)
        event, delivery_id = check_headers(event, delivery_id)
        payload, payload_text = parse_payload(body, mimetype)
        repository: dict[str, Any] = payload["repository"] if isinstance(payload.get("repository"), dict) else {}
        action = payload.get("action")
        repository_id = int_or_none(repository.get("id"))
        installation_id = nested_id(payload, "installation")
        if verified_with == "hook":
            check_hook_scope(hook_id, repository_id, installation_id)
        stored = delivery_writer().submit(_Delivery(values={
            "delivery_id": delivery_id,
            "event": event,
            "action": action[:100] if isinstance(action, str) else None,
            "hook_id": hook_id if hook_id is not None else int_or_none(payload.get("hook_id")),
            "installation_id": installation_id,
            "repository_id": repository_id,
            "repository_full_name": str(repository["full_name"])[:400] if repository.get("full_name") else None,
            "verified_with": verified_with,
            "payload": payload_text,
            "received_at": utcnow(),
            "status": RECEIVED,
            "attempts": 0,
        }, request_id=current_request_id()))
    except _database_errors() as exc:  # the App's stored secret or a hook's could not be read
        db.session.rollback()
        log.error("webhook delivery %s not checked: database unavailable (%s)", delivery_id,
                  type(getattr(exc, "orig", None) or exc).__name__)
        raise Unavailable("The delivery could not be checked; GitHub will record the failure and it will be "
                          "redelivered.") from exc
    if stored.pk is None:
        return Intake(pk=0, delivery_id=delivery_id, created=False, queued=False)
    return Intake(pk=stored.pk, delivery_id=delivery_id, created=True, queued=stored.queued)


# A finished processing job stays a minute: the delivery's row (status, result, error) is its record,
# and at 100 deliveries a second five minutes of finished jobs held 25 MB (bench/soak.py). Not 0,
# which removes it as it finishes: RQ then re-reads the status of a job that a batch withdrew while
# a worker was taking it, and fails that job. A failed job stays, for the dashboard's failed list.
JOB_RESULT_TTL = 60


def job_id_for(delivery_id: str) -> str:
    """The one job id for processing a delivery: queueing it twice keeps one job."""
    return "webhook-" + JOB_ID_UNSAFE.sub("_", delivery_id)


def _log_not_queued(delivery_id: str, exc: RedisError) -> None:
    log.warning("webhook delivery %s stored but not queued (%s); the sweep will queue it",
                delivery_id, type(exc).__name__)
