"""Background jobs: with `rq_worker.py` (the worker and periodic jobs), the only modules that import rq.

Background work is started one way: `defer("tasks.<capability>.<function>", *ids, job_id=...)`
records the job on the database session, and the job is enqueued by name when that session
commits (nothing is enqueued if it rolls back). Named queues, stable job ids (a job already
waiting or running under the same id is not enqueued twice), retries with back-off intervals,
the request id carried in job meta.
"""

from __future__ import annotations

import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, SimpleWorker
from rq.exceptions import DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from webapp.core.logging import current_request_id
from webapp.extensions import db

log = logging.getLogger(__name__)

QUEUE_NAMES = ("high", "default", "low")
EXTENSION_KEY = "gantry.redis"
DEFAULT_RETRY_INTERVALS: tuple[int, ...] = (5, 30, 120, 600)
FINISHED_STATES = {JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED}
# Tries at enqueueing under an id whose finished job other processes may be replacing at the same time.
ENQUEUE_ATTEMPTS = 5


def init_app(app: Flask) -> None:
    app.extensions[EXTENSION_KEY] = Redis.from_url(
        app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )
    listen_to_sessions()


def redis_connection(app: Flask | None = None) -> Redis:
    """The app's Redis client (shared by the queue, caches, rate limits and locks)."""
    app = app or current_app
    return app.extensions[EXTENSION_KEY]


def get_queue(name: str = "default", connection: Redis | None = None) -> Queue:
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}; queues are {', '.join(QUEUE_NAMES)}")
    return Queue(name, connection=connection or redis_connection())


FAILURE_TTL = 7 * 24 * 3600  # a failed job stays for a week on the dashboard
# A finished job stays five minutes, enough to watch the queues move: its record is the rows it wrote
# (the delivery log, runner events, sync history). An hour kept every webhook's job, so Redis grew with
# the traffic of the last hour (bench/soak.py).
RESULT_TTL = 300


def _timeout(timeout: int | None) -> int:
    return timeout or (int(current_app.config["JOB_TIMEOUT"]) if has_app_context() else 300)


def _retry_policy(retry: Sequence[int] | None) -> Retry | None:
    return Retry(max=len(retry), interval=list(retry)) if retry else None


# A task is named by its dotted path ("tasks.runners.launch_runner"); the worker imports it.
Task = Callable[..., Any] | str


def enqueue(
    func: Task,
    *args: Any,
    job_id: str,
    queue: str = "default",
    retry: Sequence[int] | None = DEFAULT_RETRY_INTERVALS,
    delay: timedelta | None = None,
    timeout: int | None = None,
    **kwargs: Any,
) -> Job:
    """Enqueue `func(*args, **kwargs)` under a stable id, now (services use `defer`).

    A job with the same id that is still waiting, scheduled or running is returned instead of
    enqueueing a second one; one that has finished or failed is replaced, so the same work can be
    asked for again later. Raises redis.exceptions.ConnectionError when Redis is unreachable:
    callers that must not lose work store it first and let a sweep enqueue it.
    """
    return _enqueue_on(get_queue(queue), func, args, kwargs, job_id=job_id, retry=retry, delay=delay,
                       timeout=_timeout(timeout), request_id=current_request_id())


def _enqueue_on(q: Queue, func: Task, args: Sequence[Any], kwargs: dict[str, Any], *, job_id: str,
                retry: Sequence[int] | None, delay: timedelta | None, timeout: int,
                request_id: str | None, result_ttl: int = RESULT_TTL) -> Job:
    target: Any = func  # rq's type is a constrained TypeVar, which a union of its members does not satisfy
    options: dict[str, Any] = {
        "job_id": job_id,
        "meta": {"request_id": request_id},
        "job_timeout": timeout,
        "failure_ttl": FAILURE_TTL,
        "result_ttl": result_ttl,
    }
    if retry:
        options["retry"] = _retry_policy(retry)
    for _ in range(ENQUEUE_ATTEMPTS):
        try:
            if delay is not None:
                return q.enqueue_in(delay, target, *args, unique=True, **options, **kwargs)
            # RQ adds the queue to its set of queues on every enqueue, in a round trip of its own;
            # given a pipeline it leaves that command in it, and it is sent once a minute per queue.
            pipeline = q.connection.pipeline()
            job = q.enqueue(target, *args, unique=True, pipeline=pipeline, **options, **kwargs)
            _register_queue(q, pipeline)
            return job
        except DuplicateJobError:
            existing = fetch_job(job_id, q.connection)
            try:
                if existing is not None and existing.get_status(refresh=True) not in FINISHED_STATES:
                    return existing
                if existing is not None:
                    existing.delete()
            except (NoSuchJobError, InvalidJobOperation):
                pass  # another process replaced or removed it meanwhile: enqueue again
    raise RuntimeError(f"could not enqueue job {job_id}")


def enqueue_new(
    func: Task,
    calls: Sequence[tuple[tuple[Any, ...], str, str | None]],
    *,
    queue: str = "default",
    retry: Sequence[int] | None = DEFAULT_RETRY_INTERVALS,
    result_ttl: int = RESULT_TTL,
) -> list[Job]:
    """Enqueue several calls of `func`, each `(args, job_id, request_id)`, in one Redis round trip.

    `result_ttl`: how long a finished job stays in Redis (failed jobs stay FAILURE_TTL), as for `defer`.

    For work that cannot have a job yet, such as rows created a moment ago: unlike `enqueue`,
    nothing checks for a job already waiting under one of the ids (that check is one round trip
    per job), so such a job would be written again and its id queued twice. Raises
    redis.exceptions.ConnectionError when Redis is unreachable.
    """
    q = get_queue(queue)
    timeout, retry_policy = _timeout(None), _retry_policy(retry)
    target: Any = func  # see _enqueue_on
    prepared = [
        Queue.prepare_data(target, args=args, job_id=job_id, meta={"request_id": request_id}, timeout=timeout,
                           failure_ttl=FAILURE_TTL, result_ttl=result_ttl, retry=retry_policy)
        for args, job_id, request_id in calls
    ]
    pipeline = q.connection.pipeline()
    enqueued = q.enqueue_many(prepared, pipeline=pipeline)  # with RQ's "register this queue" command
    pipeline.execute()
    return enqueued


# --- deferred until the session commits ---------------------------------------------------


PENDING_KEY = "gantry.deferred_jobs"
CALLBACKS_KEY = "gantry.after_commit"
COMMITTED_KEY = "gantry.committed_work"


@dataclass(frozen=True)
class DeferredJob:
    """A job recorded on a database session, enqueued by name when the session commits."""

    name: str
    args: tuple[Any, ...]
    job_id: str
    queue: str
    retry: tuple[int, ...] | None
    delay: timedelta | None
    timeout: int
    request_id: str | None
    result_ttl: int
    connection: Redis
    transaction: SessionTransaction  # dropped when this one (or one around it) rolls back


def defer(
    name: str,
    *args: Any,
    job_id: str,
    queue: str = "default",
    retry: Sequence[int] | None = DEFAULT_RETRY_INTERVALS,
    delay: timedelta | None = None,
    timeout: int | None = None,
    result_ttl: int = RESULT_TTL,
    session: Session | None = None,
) -> None:
    """Enqueue the task named `name` with `args` once the current database session commits.

    `result_ttl` is how long the finished job stays in Redis: shorter for work whose rows are its record
    (webhook processing keeps a minute, `intake.JOB_RESULT_TTL`; 0 fails jobs a batch withdrew).

    Nothing is enqueued before the commit (a worker would not find the rows yet) nor after a
    rollback. The same job id deferred twice in one transaction is enqueued once. When Redis
    cannot be reached at commit time the commit still stands: one warning is logged and the
    capability's periodic sweep enqueues what the stored rows say is still to do.
    """
    if not name.startswith("tasks.") or "." not in name[len("tasks."):]:
        raise ValueError(f"a task is named 'tasks.<module>.<function>', not {name!r}")
    if queue not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue!r}; queues are {', '.join(QUEUE_NAMES)}")
    session = session if session is not None else _default_session()
    pending: list[DeferredJob] = session.info.setdefault(PENDING_KEY, [])
    if any(job.job_id == job_id for job in pending):
        return
    pending.append(DeferredJob(
        name=name, args=tuple(args), job_id=job_id, queue=queue, retry=tuple(retry) if retry else None,
        delay=delay, timeout=_timeout(timeout), request_id=current_request_id(), result_ttl=result_ttl,
        connection=redis_connection(), transaction=_current_transaction(session),
    ))


def after_commit(fn: Callable[[], Any], *, session: Session | None = None) -> None:
    """Call `fn` once the current database session commits (a cache bump, say); not on rollback.

    For work in this process only: background work is `defer`red. A failing callback is logged,
    never raised into the code that committed.
    """
    session = session if session is not None else _default_session()
    session.info.setdefault(CALLBACKS_KEY, []).append((fn, _current_transaction(session)))


def deferred_jobs(session: Session | None = None) -> list[DeferredJob]:
    """The jobs waiting for the session's commit (what tests and the CLI can inspect)."""
    session = session if session is not None else _default_session()
    return list(session.info.get(PENDING_KEY, []))


def _default_session() -> Session:
    return db.session()


def _current_transaction(session: Session) -> SessionTransaction:
    """The innermost transaction, begun now if none is (as the session's first query would)."""
    return session.get_nested_transaction() or session.get_transaction() or session.begin()


def _inside(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _committed(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its jobs wait for the outermost commit (and go if it rolls back)
    # The session cannot run SQL yet (a callback may want to): the work runs when the transaction ends.
    session.info[COMMITTED_KEY] = (session.info.pop(PENDING_KEY, []), session.info.pop(CALLBACKS_KEY, []))


def _run_after_commit(session: Session) -> None:
    pending: list[DeferredJob]
    callbacks: list[tuple[Callable[[], Any], Any]]
    pending, callbacks = session.info.pop(COMMITTED_KEY)
    if pending:
        _enqueue_deferred(pending)
    for fn, _ in callbacks:
        try:
            fn()
        except Exception:  # the commit stands; whatever the callback kept fresh is refreshed later
            log.exception("after-commit callback %r failed", fn)


def _enqueue_deferred(pending: Sequence[DeferredJob]) -> None:
    for position, job in enumerate(pending):
        try:
            _enqueue_on(Queue(job.queue, connection=job.connection), job.name, job.args, {}, job_id=job.job_id,
                        retry=job.retry, delay=job.delay, timeout=job.timeout, request_id=job.request_id,
                        result_ttl=job.result_ttl)
        except RedisError as exc:
            left = [j.job_id for j in pending[position:]]
            log.warning("%d job(s) committed but not queued (%s): %s; the sweeps will queue the work",
                        len(left), type(exc).__name__, ", ".join(left))
            return
        except Exception:  # never raise into code whose commit has already happened
            log.exception("job %s (%s) committed but not queued; the sweeps will queue the work",
                          job.job_id, job.name)


def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    for key in (PENDING_KEY, CALLBACKS_KEY):
        entries = session.info.get(key)
        if entries:
            kept = [e for e in entries
                    if not _inside(e.transaction if isinstance(e, DeferredJob) else e[1], previous_transaction)]
            session.info[key] = kept


def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    if COMMITTED_KEY in session.info:
        _run_after_commit(session)
    else:  # the outermost transaction ended without a commit (closed, say): its work goes with it
        session.info.pop(PENDING_KEY, None)
        session.info.pop(CALLBACKS_KEY, None)


_SESSION_HOOKS: tuple[tuple[str, Callable[..., Any]], ...] = (
    ("after_commit", _committed),
    ("after_soft_rollback", _drop_rolled_back),
    ("after_transaction_end", _transaction_ended),
)


def listen_to_sessions() -> None:
    """Hook deferred jobs into every SQLAlchemy session (once per process, whatever the app)."""
    for name, hook in _SESSION_HOOKS:
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


QUEUE_REGISTRATION_SECONDS = 60
# Per Redis client: queue name -> when this process last registered it.
_queues_registered: weakref.WeakKeyDictionary[Redis, dict[str, float]] = weakref.WeakKeyDictionary()


def _register_queue(queue: Queue, pipeline: Any) -> None:
    """Send RQ's "this queue exists" command when this process has not sent it in the last minute.

    The set it writes is what rq-dashboard lists queues from; workers read their queues by name,
    so a Redis that lost the set (a restart) delays only the listing: the periodic ticker of every
    worker adds the queues again each second (register_queues).
    """
    registered = _queues_registered.setdefault(queue.connection, {})
    now = time.monotonic()
    if now - registered.get(queue.name, -QUEUE_REGISTRATION_SECONDS) >= QUEUE_REGISTRATION_SECONDS:
        pipeline.execute()
        registered[queue.name] = now
    else:
        pipeline.reset()


def register_queues(connection: Redis) -> None:
    """Add Gantry's queues to RQ's set of queues (what rq-dashboard lists)."""
    connection.sadd(Queue.redis_queues_keys, *(Queue(name, connection=connection).key for name in QUEUE_NAMES))


def fetch_job(job_id: str, connection: Redis) -> Job | None:
    try:
        return Job.fetch(job_id, connection=connection)
    except NoSuchJobError:
        return None


def job_status(job_id: str) -> str | None:
    return job_statuses([job_id])[job_id]


def job_statuses(job_ids: Sequence[str]) -> dict[str, str | None]:
    """Each job's status (None when Redis has no such job), read in one round trip."""
    found = Job.fetch_many(job_ids, connection=redis_connection())
    statuses: dict[str, str | None] = {}
    for job_id, job in zip(job_ids, found, strict=True):
        status = job.get_status(refresh=False) if job is not None else None
        statuses[job_id] = str(status.value) if status is not None else None
    return statuses


def queue_depths(connection: Redis | None = None) -> dict[str, int]:
    connection = connection or redis_connection()
    return {name: Queue(name, connection=connection).count for name in QUEUE_NAMES}


def failed_job_count(connection: Redis | None = None) -> int:
    connection = connection or redis_connection()
    return sum(FailedJobRegistry(name, connection=connection).count for name in QUEUE_NAMES)


def started_job_count(connection: Redis | None = None) -> int:
    connection = connection or redis_connection()
    return sum(StartedJobRegistry(name, connection=connection).count for name in QUEUE_NAMES)


def workers_seen(connection: Redis | None = None) -> list[dict[str, Any]]:
    connection = connection or redis_connection()
    return [
        {"name": w.name, "state": str(w.get_state()), "queues": w.queue_names(), "pid": w.pid}
        for w in SimpleWorker.all(connection=connection)
    ]
