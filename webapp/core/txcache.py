"""Values read once per database transaction: what every delivery of a processing batch asks for.

A batch of webhook deliveries is processed in one transaction, and some handlers ask the same
question for each delivery (which forwarding targets are there?). `once_per_transaction` answers
it from the database the first time and from memory after that, until the session's outermost
transaction ends (commit or rollback): the next transaction reads afresh, so a change committed
by someone else is seen by the next batch, never half-way through one. Cache only values that
the transaction itself does not change, as immutable snapshots rather than ORM objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from webapp.extensions import db

T = TypeVar("T")
CACHE_KEY = "gantry.txcache"


def once_per_transaction(key: str, load: Callable[[], T], session: Session | None = None) -> T:
    """`load()`'s value, computed once in the current transaction of `session` (the app's by default)."""
    session = session if session is not None else db.session()
    cache: dict[str, Any] = session.info.setdefault(CACHE_KEY, {})
    if key not in cache:
        cache[key] = load()
    return cache[key]


def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(CACHE_KEY, None)


def listen_to_sessions() -> None:
    """Forget every session's cached values when its outermost transaction ends (once per process)."""
    if not event.contains(Session, "after_transaction_end", _transaction_ended):
        event.listen(Session, "after_transaction_end", _transaction_ended)
