"""Group commit: concurrent callers' items handled in batches, each caller getting its own result."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.drills.conftest import wait_for
from webapp.core.batching import Batcher


def wait_until(condition: Callable[[], bool]) -> None:
    wait_for(condition, 10, "the batcher to get there", every=0.001)


class Held:
    """A batch handler whose first batch waits until released, so that others queue up behind it."""

    def __init__(self, handle: Callable[[list[Any]], list[Any]] | None = None) -> None:
        self.batches: list[list[Any]] = []
        self.release = threading.Event()
        self._handle = handle or (lambda items: [item * 10 for item in items])

    def __call__(self, items: list[Any]) -> list[Any]:
        self.batches.append(list(items))
        if len(self.batches) == 1:
            assert self.release.wait(10)
        return self._handle(items)


def submit_all(batcher: Batcher[Any, Any], items: list[Any]) -> dict[Any, Any]:
    """Submit each item from its own thread; what each caller got back (a result or the exception)."""
    outcomes: dict[Any, Any] = {}

    def submit(item: Any) -> None:
        try:
            outcomes[item] = batcher.submit(item)
        except Exception as exc:
            outcomes[item] = exc

    threads = [threading.Thread(target=submit, args=(item,)) for item in items]
    outcomes["_threads"] = threads  # join() takes them out again
    for thread in threads:
        thread.start()
    return outcomes


def join(outcomes: dict[Any, Any]) -> dict[Any, Any]:
    for thread in outcomes.pop("_threads"):
        thread.join(10)
        assert not thread.is_alive(), "a caller was left waiting"
    return outcomes


def test_a_lone_caller_is_handled_at_once_in_its_own_batch():
    handled: list[list[int]] = []

    def handle(items: list[int]) -> list[int]:
        handled.append(items)
        return [i + 1 for i in items]

    batcher: Batcher[int, int] = Batcher(handle)

    assert batcher.submit(1) == 2
    assert batcher.submit(5) == 6
    assert handled == [[1], [5]]
    assert (batcher.batches, batcher.items, batcher.waiting) == (2, 2, 0)


def test_callers_arriving_during_a_batch_are_handled_together_next():
    handler = Held()
    batcher = Batcher(handler)
    first = submit_all(batcher, [1])
    wait_until(lambda: len(handler.batches) == 1)
    others = submit_all(batcher, [2, 3, 4, 5])
    wait_until(lambda: batcher.waiting == 4)

    handler.release.set()

    assert join(first) == {1: 10}
    assert join(others) == {2: 20, 3: 30, 4: 40, 5: 50}
    assert [sorted(b) for b in handler.batches] == [[1], [2, 3, 4, 5]]
    assert (batcher.batches, batcher.items) == (2, 5)


def test_batches_keep_to_the_item_and_weight_limits():
    handler = Held()
    batcher = Batcher(handler, max_items=2)
    first = submit_all(batcher, [0])
    wait_until(lambda: len(handler.batches) == 1)
    others = submit_all(batcher, [1, 2, 3, 4, 5])
    wait_until(lambda: batcher.waiting == 5)
    handler.release.set()
    join(first), join(others)
    assert [len(b) for b in handler.batches] == [1, 2, 2, 1]

    handler = Held()
    batcher = Batcher(handler, max_weight=10, weight=lambda item: item)
    first = submit_all(batcher, [1])
    wait_until(lambda: len(handler.batches) == 1)
    heavy = submit_all(batcher, [12])  # heavier than the limit alone: it still goes, on its own
    wait_until(lambda: batcher.waiting == 1)
    light = submit_all(batcher, [4, 5, 6])
    wait_until(lambda: batcher.waiting == 4)
    handler.release.set()
    assert join(first) | join(heavy) | join(light) == {1: 10, 12: 120, 4: 40, 5: 50, 6: 60}
    assert handler.batches[1] == [12]  # the first waiting item always goes, heavy or not; nothing joined it
    rest = handler.batches[2:]
    assert sorted(i for b in rest for i in b) == [4, 5, 6]
    assert len(rest) >= 2 and all(len(b) == 1 or sum(b) <= 10 for b in rest)


def test_an_exception_returned_for_one_item_is_raised_in_its_caller_only():
    def handle(items: list[int]) -> list[Any]:
        return [ValueError(f"bad {i}") if i % 2 else i for i in items]

    handler = Held(handle)
    batcher = Batcher(handler)
    first = submit_all(batcher, [0])
    wait_until(lambda: len(handler.batches) == 1)
    others = submit_all(batcher, [1, 2, 3])
    wait_until(lambda: batcher.waiting == 3)
    handler.release.set()

    outcomes = join(first) | join(others)
    assert outcomes[0] == 0 and outcomes[2] == 2
    assert [str(outcomes[i]) for i in (1, 3)] == ["bad 1", "bad 3"]


def test_a_failing_batch_fails_its_callers_and_the_next_batch_still_runs():
    calls: list[list[int]] = []

    def handle(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            assert release.wait(10)
            raise ConnectionError("database away")
        return items

    release = threading.Event()
    batcher = Batcher(handle)
    first = submit_all(batcher, [1])
    wait_until(lambda: len(calls) == 1)
    later = submit_all(batcher, [2, 3])
    wait_until(lambda: batcher.waiting == 2)
    release.set()

    assert isinstance(join(first)[1], ConnectionError)
    assert join(later) == {2: 2, 3: 3}
    assert batcher.submit(4) == 4


def test_a_handler_returning_the_wrong_number_of_results_fails_the_batch():
    batcher: Batcher[int, int] = Batcher(lambda items: [])
    with pytest.raises(RuntimeError, match="returned 0 results for 1 items"):
        batcher.submit(1)
    assert batcher.waiting == 0


def test_many_threads_each_get_their_own_result_and_nobody_is_left_waiting():
    sizes: list[int] = []

    def handle(items: list[tuple[int, int]]) -> list[tuple[int, int]]:
        sizes.append(len(items))
        time.sleep(0.0005)  # a round trip, during which others queue up
        return [(t, n * 2) for t, n in items]

    batcher: Batcher[tuple[int, int], tuple[int, int]] = Batcher(handle, max_items=8)
    wrong: list[Any] = []

    def caller(t: int) -> None:
        for n in range(50):
            got = batcher.submit((t, n))
            if got != (t, n * 2):
                wrong.append(got)

    threads = [threading.Thread(target=caller, args=(t,)) for t in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()

    assert wrong == []
    assert batcher.items == sum(sizes) == 800
    assert max(sizes) <= 8 and max(sizes) > 1  # batches formed, within the limit
    assert batcher.waiting == 0
