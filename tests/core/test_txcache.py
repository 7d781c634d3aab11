"""Values read once per transaction: asked again in the same transaction, read again in the next."""

from __future__ import annotations

import sqlalchemy as sa

from webapp.core.txcache import once_per_transaction


def test_a_value_is_loaded_once_per_outermost_transaction(app, db):
    loads = []

    def load():
        loads.append(1)
        return db.session.scalar(sa.text("SELECT count(*) FROM users"))

    first = once_per_transaction("users", load)
    savepoint = db.session.begin_nested()
    assert once_per_transaction("users", load) == first
    savepoint.rollback()  # a savepoint ending is not the transaction ending
    assert once_per_transaction("users", load) == first
    assert len(loads) == 1

    db.session.commit()
    once_per_transaction("users", load)
    assert len(loads) == 2  # the next transaction reads afresh

    db.session.rollback()
    once_per_transaction("users", load)
    assert len(loads) == 3


def test_keys_are_kept_apart(app, db):
    assert once_per_transaction("a", lambda: 1) == 1
    assert once_per_transaction("b", lambda: 2) == 2
    assert once_per_transaction("a", lambda: 3) == 1
