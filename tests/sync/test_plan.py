"""The three-way rule, blob ids, the side-by-side diff and the shared write budget."""

from __future__ import annotations

import hashlib
import subprocess
from typing import cast

import pytest

from webapp.sync.diff import side_by_side
from webapp.sync.plan import EXECUTABLE, Version, blob_sha, is_text, plan_path, plan_sync

A, B, C = Version("a" * 40), Version("b" * 40), Version("c" * 40)


def test_blob_sha_matches_git():
    content = b"hello\n"
    expected = subprocess.run(["git", "hash-object", "--stdin"], input=content, capture_output=True,
                              check=True).stdout.decode().strip()
    assert blob_sha(content) == expected == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert blob_sha(b"") == hashlib.sha1(b"blob 0\0").hexdigest()


def test_is_text():
    assert is_text("héllo\n".encode())
    assert not is_text(b"\x00abc") and not is_text(b"\xff\xfe")


@pytest.mark.parametrize("here,there,base,action,detail", [
    (A, A, None, "unchanged", "in sync"),
    (A, A, B, "unchanged", "in sync"),
    (B, A, A, "write", "modified here"),
    (A, None, None, "write", "added here"),
    (None, A, A, "delete", "deleted here"),
    (A, B, A, "keep_remote", "modified on GitHub"),
    (A, None, A, "keep_remote", "deleted on GitHub"),
    (B, C, A, "conflict", "modified here and modified on GitHub"),
    (None, B, A, "conflict", "deleted here and modified on GitHub"),
    (B, None, A, "conflict", "modified here and deleted on GitHub"),
    (A, B, None, "conflict", "added here and added on GitHub"),
    (Version("a" * 40, EXECUTABLE), A, A, "write", "mode changed here"),
    (None, None, A, "unchanged", "in sync"),
])
def test_three_way_rule(here, there, base, action, detail):
    entry = plan_path("p", here, there, base)
    assert (entry.action, entry.detail) == (action, detail)


def test_overwrite_turns_conflicts_into_writes_and_deletes():
    assert plan_path("p", B, C, A, overwrite=True).action == "write"
    deleted = plan_path("p", None, C, A, overwrite=True)
    assert deleted.action == "delete" and deleted.forced


def test_plan_only_covers_project_files_and_subsets():
    plan = plan_sync({"a": A, "b": B}, {"a": A, "github-only": C}, {"gone": C}, paths=None)
    assert [(e.path, e.action) for e in plan] == [("a", "unchanged"), ("b", "write"), ("gone", "unchanged")]
    subset = plan_sync({"a": A, "b": B}, {}, {}, paths=["b"])
    assert [e.path for e in subset] == ["b"]
    forced = plan_sync({"a": B}, {"a": C}, {"a": A}, overwrite_paths=["a"])
    assert forced[0].forced


def test_side_by_side_pairs_changed_lines():
    rows = side_by_side("a\nb\nc\n", "a\nB\nc\nd\n")
    kinds = [(r.kind, r.left, r.right) for r in rows if r is not None]
    assert ("replace", "b", "B") in kinds and ("insert", "", "d") in kinds and ("equal", "a", "a") in kinds


def test_write_budget_is_shared_and_refuses_beyond_the_limit(app, monkeypatch):
    from webapp.sync import budget

    monkeypatch.setitem(app.config, "SYNC_WRITES_PER_MINUTE", 5)
    budget.take(101, 3)
    budget.take(101, 2)
    with pytest.raises(budget.BudgetExhausted) as exc:
        budget.take(101, 1)
    assert 1 <= exc.value.retry_after <= 60
    budget.take(102, 5)  # another installation has its own budget
    assert budget.used(101) == {"minute": 5, "hour": 5}
    monkeypatch.setitem(app.config, "SYNC_WRITES_PER_MINUTE", 80)
    monkeypatch.setitem(app.config, "SYNC_WRITES_PER_HOUR", 6)
    with pytest.raises(budget.BudgetExhausted):
        budget.take(101, 2)


def test_branch_lock_is_exclusive(app):
    from webapp.sync import budget

    with budget.branch_lock(1, "main", 30):
        with pytest.raises(budget.BranchBusy), budget.branch_lock(1, "main", 30):
            pass
        with budget.branch_lock(1, "other", 30):
            pass
    with budget.branch_lock(1, "main", 30):
        pass


def test_branch_lock_expires_and_a_late_holder_frees_only_its_own(app, caplog):
    from webapp.core.jobs import redis_connection
    from webapp.sync import budget

    key = "gantry:sync:lock:2:main"
    redis = redis_connection()
    with budget.branch_lock(2, "main", 30):
        assert 29_000 < cast(int, redis.pttl(key)) <= 30_000
        redis.delete(key)  # the lock's timeout ran out while this run went on
        with budget.branch_lock(2, "main", 30):  # so the next run may start...
            pass
        redis.set(key, "next-run", ex=30)  # ...and holds it when the first run ends
    assert redis.get(key) in (b"next-run", "next-run")  # the late holder did not free it
    assert "outlived its 30s branch lock" in caplog.text
    redis.delete(key)
