"""Fixtures shared by every test: the app on real PostgreSQL and Redis, users, keys, sign-in, jobs.

TEST_DATABASE_URL and TEST_REDIS_URL choose the services (defaults: the local ones). The database
is created if missing and migrated once per run; after every test all tables are emptied and the
Redis database flushed, so tests can commit, run workers and serve HTTP like production does.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from webapp import create_app
from webapp.config import test_settings

# fake_github and the real-browser fixtures (journey, audit_page, server), shared by every folder
pytest_plugins = ["tests.fakes.github", "tests.journeys.browser"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/gantry_test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
PASSWORD = "correct-horse-battery"


def _ensure_services() -> None:
    url = make_url(TEST_DATABASE_URL)
    try:
        admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            exists = conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": url.database})
            if not exists:
                conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
        admin.dispose()
    except sa.exc.OperationalError as exc:
        pytest.exit(
            f"PostgreSQL is not reachable at {url.render_as_string(hide_password=True)} ({exc.orig}). Start it "
            "(e.g. `pg_ctlcluster 15 main start`) or set TEST_DATABASE_URL.",
            returncode=3,
        )
    try:
        redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.exit(
            f"Redis is not reachable at {TEST_REDIS_URL} ({exc}). Start it (e.g. `redis-server --daemonize yes`) "
            "or set TEST_REDIS_URL.",
            returncode=3,
        )


class IsolatedClient(FlaskClient):
    """A test client whose requests get their own app context, as they would in production.

    pytest-flask keeps an app context pushed for the whole test; Flask would reuse it for every
    request, sharing `g` (and so Flask-Login's user) and the database session between requests.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        from flask.globals import _cv_app, _cv_request

        app_token = _cv_app.set(None)  # type: ignore[arg-type]
        request_token = _cv_request.set(None)  # type: ignore[arg-type]
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_request.reset(request_token)
            _cv_app.reset(app_token)


def make_test_app(**overrides: Any) -> Flask:
    settings = test_settings(TEST_DATABASE_URL, TEST_REDIS_URL)
    settings.update(overrides)
    app = create_app(settings)
    app.test_client_class = IsolatedClient
    return app


@pytest.fixture(scope="session")
def app(fake_github_server: Any) -> Iterator[Flask]:
    """The app, pointed at the GitHub simulator (sandbox/github) and configured as its App."""
    from sandbox.github import fake_github_settings

    _ensure_services()
    app = make_test_app(**fake_github_settings(fake_github_server))
    from flask_migrate import upgrade

    from webapp.extensions import db

    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        upgrade()
        db.session.remove()
        with db.engine.begin() as conn:  # what data migrations load (the catalogue): every test starts empty
            conn.exec_driver_sql(_cleanup_sql(conn))
    yield app


@pytest.fixture(autouse=True)
def _clean_state(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "app" not in request.fixturenames:
        return
    app: Flask = request.getfixturevalue("app")
    from webapp.extensions import db

    db.session.remove()  # the test's own session: end its transaction so it holds no locks
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(sa.text("SET LOCAL lock_timeout = '10s'"))
            conn.exec_driver_sql(_cleanup_sql(conn))
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    from webapp.core import jobs

    jobs._queues_registered.clear()  # Redis is empty again: the next enqueue registers its queue
    from webapp.core.overview import forget_remembered

    forget_remembered()  # the overview's trends, remembered per user id: ids restart with the tables


_CLEANUP: dict[str, str] = {}


def _cleanup_sql(conn: Any) -> str:
    """Empty every table, children first, and restart the sequences.

    DELETE on a few rows takes milliseconds where TRUNCATE of every table takes a second or more.
    """
    if "sql" not in _CLEANUP:
        from webapp.extensions import db

        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        sequences = conn.execute(sa.text("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")).scalars()
        _CLEANUP["sql"] = "; ".join(
            [f'DELETE FROM "{table}"' for table in tables] + [f"SELECT setval('{s}', 1, false)" for s in sequences]
        )
    return _CLEANUP["sql"]


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A fresh client per test (no preserved contexts: each request has its own, as in production)."""
    return app.test_client()


@pytest.fixture
def db(app: Flask) -> Any:
    from webapp.extensions import db

    return db


@pytest.fixture
def make_user(app: Flask) -> Callable[..., Any]:
    """Create a user: make_user("maintainer"), make_user("admin", username="root", active=False)."""
    from webapp.auth import service
    from webapp.extensions import db

    counter = iter(range(1, 10_000))

    def make(role: str = "viewer", *, username: str | None = None, password: str = PASSWORD,
             active: bool = True, email: str | None = None) -> Any:
        name = username or f"{role}{next(counter)}"
        user = service.create_user(username=name, email=email or f"{name}@example.test", password=password,
                                   role=role, actor="test")
        if not active:
            user.active = False
            db.session.commit()
        return user

    return make


@pytest.fixture
def make_key(app: Flask) -> Callable[..., dict[str, str]]:
    """API-key headers for a user: make_key(user, "read", "builds:write")."""
    from webapp.auth import service

    def make(user: Any, *scopes: str, expires_at: Any = None) -> dict[str, str]:
        _, secret = service.create_api_key(user, name=f"test-{'-'.join(scopes) or 'read'}",
                                           scopes=scopes or ("read",), expires_at=expires_at, actor="test")
        return {"X-API-Key": secret}

    return make


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token of the client's session, read from a page as a browser would."""
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page) or re.search(r'"X-CSRFToken": "([^"]+)"', page)
    if match is None:
        page = client.get("/status").get_data(as_text=True)
        match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match is not None, "no CSRF token on the page"
    return match.group(1)


class Browser:
    """A signed-in test client that sends CSRF tokens like Gantry's pages do."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, username: str, password: str = PASSWORD) -> Any:
        token = csrf_token(self.client)
        return self.client.post("/login", data={"username": username, "password": password, "csrf_token": token})

    def post(self, url: str, data: dict[str, Any] | None = None, htmx: bool = False, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        headers["X-CSRFToken"] = csrf_token(self.client)
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.post(url, data=data or {}, headers=headers, **kwargs)

    def get(self, url: str, htmx: bool = False, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {})
        if htmx:
            headers["HX-Request"] = "true"
        return self.client.get(url, headers=headers, **kwargs)


@pytest.fixture
def browser(client: FlaskClient) -> Browser:
    return Browser(client)


@pytest.fixture
def login_as(client: FlaskClient, make_user: Callable[..., Any]) -> Callable[..., Any]:
    """Sign the test client in as a new user of `role` and return that user."""

    def login(role: str = "viewer", **kwargs: Any) -> Any:
        user = make_user(role, **kwargs)
        response = Browser(client).login(user.username)
        assert response.status_code in (302, 303), response.get_data(as_text=True)
        return user

    return login


@pytest.fixture
def run_jobs(app: Flask) -> Callable[..., int]:
    """Work every queued job now, in this process, against the real Redis; returns how many ran."""
    from webapp.core.rq_worker import run_jobs_now

    def run(**kwargs: Any) -> int:
        return run_jobs_now(app, **kwargs)

    return run


class Clock:
    """The one clock tests move. time-machine moves `datetime.now()`, `time.time()` and the like for
    the whole test process (the app, the fakes, servers on threads), so every row and token agrees
    with it; monotonic timers (timeouts, waits) keep running."""

    def __init__(self, traveller: time_machine.Traveller) -> None:
        self._traveller = traveller

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    @now.setter
    def now(self, moment: datetime) -> None:
        self._traveller.move_to(moment)

    def set(self, moment: str) -> datetime:
        self.now = datetime.fromisoformat(moment).astimezone(UTC)
        return self.now

    def advance(self, **delta: float) -> datetime:
        self._traveller.shift(timedelta(**delta))
        return self.now


@pytest.fixture
def clock() -> Iterator[Clock]:
    """Time stands still at the real now (whole seconds) until the test moves it."""
    with time_machine.travel(datetime.now(UTC).replace(microsecond=0), tick=False) as traveller:
        yield Clock(traveller)
