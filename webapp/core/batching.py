"""Group commit: items submitted by concurrent threads are handled together, one batch at a time.

A thread that submits an item while no batch is being handled handles its own item at once (no
waiting for company). Items submitted while a batch is being handled wait; when that batch is
done, the first of them becomes the next leader and handles every item waiting by then, up to the
batch limits. Under load a round trip (a commit, a Redis pipeline) is shared by several
requests; with one request at a time nothing changes.

Batches are handled one at a time, deliberately: while one is in its round trips the next one
grows, and the larger the batch the less each item costs (handing over after the first round
trip, so that batches overlap, was measured to make them smaller and the whole slower).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Slot(Generic[T, R]):
    __slots__ = ("_wake", "done", "error", "item", "result", "weight")

    def __init__(self, item: T, weight: int) -> None:
        self.item = item
        self.weight = weight
        self.result: R | None = None
        self.error: BaseException | None = None
        self.done = False
        self._wake = threading.Lock()
        self._wake.acquire()  # released once: when the slot is done, or when it is to lead

    def wait(self) -> None:
        self._wake.acquire()

    def wake(self) -> None:
        self._wake.release()


class Batcher(Generic[T, R]):
    """Hands `handle` the items of concurrent `submit` calls in batches; each caller gets its own result.

    `handle(items)` returns one result per item, in order; a result that is an exception is raised
    in that item's caller only. An exception raised by `handle` itself is raised in every caller
    of the batch. A batch holds at most `max_items` items and, beyond its first item, at most
    `max_weight` in all (`weight(item)`: a payload's size, say).
    """

    def __init__(self, handle: Callable[[list[T]], Sequence[R | BaseException]], *, max_items: int = 32,
                 max_weight: int = 8 * 1024 * 1024, weight: Callable[[T], int] = lambda item: 1) -> None:
        self._handle = handle
        self._max_items = max_items
        self._max_weight = max_weight
        self._weight = weight
        self._lock = threading.Lock()
        self._waiting: list[_Slot[T, R]] = []
        self._busy = False
        self.batches = 0  # how many batches were handled, and how many items: for metrics and tests
        self.items = 0

    @property
    def waiting(self) -> int:
        """How many items wait for the batch being handled to finish."""
        with self._lock:
            return len(self._waiting)

    def submit(self, item: T) -> R:
        slot: _Slot[T, R] = _Slot(item, self._weight(item))
        with self._lock:
            self._waiting.append(slot)
            lead = not self._busy
            self._busy = True
        if not lead:
            slot.wait()
        if not slot.done:  # no batch was being handled, or the last leader handed over to this slot
            self._lead()
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _take(self) -> list[_Slot[T, R]]:
        """The waiting slots of the next batch (the caller holds the lock; the first slot always goes)."""
        count, weight = 0, 0
        for slot in self._waiting:
            if count and (count >= self._max_items or weight + slot.weight > self._max_weight):
                break
            count += 1
            weight += slot.weight
        batch = self._waiting[:count]
        del self._waiting[:count]
        return batch

    def _lead(self) -> None:
        with self._lock:
            batch = self._take()
        try:
            results = self._handle([slot.item for slot in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch handler returned {len(results)} results for {len(batch)} items")
            for slot, result in zip(batch, results, strict=True):
                if isinstance(result, BaseException):
                    slot.error = result
                else:
                    slot.result = result
        except BaseException as exc:  # every caller of the batch learns that it failed
            for slot in batch:
                slot.error = exc
        for slot in batch:
            slot.done = True
        with self._lock:
            self.batches += 1
            self.items += len(batch)
            following = self._waiting[0] if self._waiting else None
            if following is None:
                self._busy = False
        if following is not None:
            following.wake()  # the next leader starts its batch first
        for slot in batch[1:]:
            slot.wake()
        # batch[0] is the leader itself (the first waiting slot when it took over), awake already
