"""Once per database transaction: values every delivery of a processing batch asks for, and work
every delivery asks to be done.

A batch of webhook deliveries is processed in one transaction, and some handlers ask the same
question for each delivery (which forwarding targets are there?). `once_per_transaction` answers
it from the database the first time and from memory after that, until the session's outermost
transaction ends (commit or rollback): the next transaction reads afresh, so a change committed
by someone else is seen by the next batch, never half-way through one. Cache only values that
the transaction itself does not change.

`once_before_commit` is the same for work: a hundred `workflow_job` deliveries for one pool ask
for the pool to be scaled, and it is scaled once, just before the batch commits, inside the same
transaction. The work runs in the order of its keys, so rows it locks (pools, by id) are locked
in one order by every process and two workers' batches cannot deadlock on them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from webapp.extensions import db

T = TypeVar("T")
CACHE_KEY = "gantry.txcache"
BEFORE_COMMIT_KEY = "gantry.txcache.before_commit"


def once_per_transaction(key: str, load: Callable[[], T], session: Session | None = None) -> T:
    """`load()`'s value, computed once in the current transaction of `session` (the app's by default)."""
    session = session if session is not None else db.session()
    cache: dict[str, Any] = session.info.setdefault(CACHE_KEY, {})
    if key not in cache:
        cache[key] = load()
    return cache[key]


def once_before_commit(key: tuple[str, int], work: Callable[[], object], session: Session | None = None) -> None:
    """Run `work()` just before the current transaction of `session` commits; once per `key`.

    Asked for again under the same key in the same transaction, it still runs once (the first
    `work` given). Dropped if the transaction rolls back. An exception from `work` fails the
    commit, and the transaction is rolled back by whoever committed.
    """
    session = session if session is not None else db.session()
    session.info.setdefault(BEFORE_COMMIT_KEY, {}).setdefault(key, work)


def _before_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: the work waits for the outermost commit
    pending: dict[tuple[str, int], Callable[[], object]] = session.info.get(BEFORE_COMMIT_KEY) or {}
    while pending:  # work may ask for more work
        pending.pop(min(pending))()


def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        session.info.pop(CACHE_KEY, None)
        session.info.pop(BEFORE_COMMIT_KEY, None)


def listen_to_sessions() -> None:
    """Hook the cache and the work into every session (once per process): both end with the
    outermost transaction, and the work runs before its commit."""
    for name, hook in (("before_commit", _before_commit), ("after_transaction_end", _transaction_ended)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)
