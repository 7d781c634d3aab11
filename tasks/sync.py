"""Project sync jobs: run one sync; sweep runs that no job carries."""

from __future__ import annotations

from webapp.sync import engine, runs
from webapp.sync.budget import BranchBusy, RetryLater

BUSY_RETRY_SECONDS = 5


def run_sync(run_id: int) -> None:
    """Execute sync run `run_id`; later if the branch is busy, the write budget spent or GitHub limiting."""
    try:
        engine.execute_run(run_id)
    except BranchBusy:
        runs.defer_run(run_id, BUSY_RETRY_SECONDS)
    except RetryLater as exc:
        runs.defer_run(run_id, exc.retry_after)


def requeue_stalled_syncs() -> int:
    """Enqueue runs stored as queued or waiting whose job was lost."""
    return runs.requeue_stalled()

