"""Deleting or emptying old rows a small batch at a time, so a purge never holds long locks.

Each batch is one short transaction: it takes up to `batch_size` matching rows that nobody else
holds (`FOR UPDATE SKIP LOCKED`: a row a worker is processing is left for the next run), deletes
or updates them, and commits. On PostgreSQL the batch also sets a short `lock_timeout`, so a
statement that would queue behind a lock (a migration holding the table, a cascaded child row
being written) gives up at once instead of making everyone behind it wait too, and a
`statement_timeout` as a last bound. Rows are walked in primary-key order from where the previous
batch stopped, so a run reads each candidate once however many there are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import ColumnElement, Table, delete, func, inspect, select, text, update
from sqlalchemy.exc import OperationalError

from webapp.extensions import db

log = logging.getLogger(__name__)

BATCH_SIZE = 1000
LOCK_TIMEOUT_MS = 200
STATEMENT_TIMEOUT_MS = 10_000
# SQLSTATEs of a statement that gave up: lock_not_available (lock_timeout), query_canceled.
GAVE_UP = {"55P03": "lock_timeout", "57014": "statement_timeout"}


@dataclass
class PurgeOutcome:
    """What one purge of one kind of row did."""

    rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    longest_batch_ms: float = 0.0
    stopped: str | None = None  # why it stopped before running out of rows: deadline, lock_timeout...

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3), "longest_batch_ms": round(self.longest_batch_ms, 1),
                "rows_per_second": round(self.rows_per_second, 1)}


def _table(model: Any) -> Table:
    return model.__table__


def count_matching(model: Any, condition: ColumnElement[bool]) -> int:
    """How many rows a purge would touch now (for a dry run)."""
    try:
        return int(db.session.scalar(select(func.count()).select_from(_table(model)).where(condition)) or 0)
    finally:
        db.session.rollback()


def _bound_waits() -> None:
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT_MS}ms'"))
        db.session.execute(text(f"SET LOCAL statement_timeout = '{STATEMENT_TIMEOUT_MS}ms'"))


def purge_in_batches(
    model: Any,
    condition: ColumnElement[bool],
    *,
    values: Mapping[str, Any] | None = None,
    batch_size: int = BATCH_SIZE,
    deadline: float | None = None,
    pause: float = 0.0,
) -> PurgeOutcome:
    """Delete the rows of `model` matching `condition` (or set `values` on them), a batch per transaction.

    `deadline` is a `time.monotonic()` value after which no new batch starts; `pause` is slept
    between batches. Returns what was done; a batch that gave up on a lock ends this purge (the
    rows stay for the next run) rather than failing it.
    """
    table = _table(model)
    [key] = inspect(model).primary_key
    outcome = PurgeOutcome()
    started = time.monotonic()
    after: Any = None
    while True:
        if deadline is not None and time.monotonic() >= deadline:
            outcome.stopped = "deadline"
            break
        picked = select(key).where(condition).order_by(key).limit(batch_size).with_for_update(skip_locked=True)
        if after is not None:
            picked = picked.where(key > after)
        statement = (
            delete(table).where(table.c[key.name].in_(picked))
            if values is None
            else update(table).where(table.c[key.name].in_(picked)).values(**values)
        )
        batch_started = time.monotonic()
        try:
            _bound_waits()
            keys = db.session.execute(statement.returning(table.c[key.name])).scalars().all()
            db.session.commit()
        except OperationalError as exc:
            db.session.rollback()
            reason = GAVE_UP.get(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None) or "")
            if reason is None:
                raise
            log.warning("purge of %s gave up on a batch (%s); the next run goes on", table.name, reason)
            outcome.stopped = reason
            break
        outcome.longest_batch_ms = max(outcome.longest_batch_ms, (time.monotonic() - batch_started) * 1000)
        if not keys:
            break
        outcome.rows += len(keys)
        outcome.batches += 1
        after = max(keys)
        if len(keys) < batch_size:  # SKIP LOCKED reads past locked rows: a short batch was the last
            break
        if pause:
            time.sleep(pause)
    outcome.seconds = time.monotonic() - started
    return outcome

