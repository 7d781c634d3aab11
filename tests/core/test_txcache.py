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


def test_work_runs_once_per_key_in_key_order_just_before_the_commit(app, db):
    from webapp.core.txcache import once_before_commit

    ran: list[object] = []
    once_before_commit(("pool", 9), lambda: ran.append(9))
    once_before_commit(("pool", 2), lambda: ran.append(2))
    once_before_commit(("pool", 9), lambda: ran.append("again"))  # asked twice: still once
    savepoint = db.session.begin_nested()
    savepoint.commit()  # a savepoint released is not the commit
    assert ran == []
    db.session.commit()
    assert ran == [2, 9]
    db.session.commit()
    assert ran == [2, 9]  # done with the transaction that asked


def test_work_asked_for_in_a_transaction_rolled_back_never_runs(app, db):
    from webapp.core.txcache import once_before_commit

    ran: list[object] = []
    db.session.execute(sa.text("SELECT 1"))
    once_before_commit(("pool", 1), lambda: ran.append(1))
    db.session.rollback()
    db.session.commit()
    assert ran == []
