"""The whole test suite with every clock a year ahead: `make test-year-ahead` (or
`python -m tests.year_ahead [--days N] [pytest arguments]`).

A test that passes only near the day it was written (a fixture date that rows stamped by
PostgreSQL's now() disagree with, a hard-coded "recent" date) fails here. libfaketime (Debian's
`libfaketime` package) moves the clock of pytest, of every process it starts (workers, servers,
the browser) and of a private PostgreSQL cluster started for the run, so the app and its database
agree with each other, as on a machine whose date is simply later. Redis keeps the real clock.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.drills.conftest import PostgresCluster, free_port, wait_for

ROOT = Path(__file__).resolve().parent.parent


LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def faked(offset: str) -> dict[str, str]:
    """Environment variables that move a process's clock (and its children's) by `offset`."""
    return {"LD_PRELOAD": str(LIBFAKETIME), "FAKETIME": offset}


class FakeTimePostgres(PostgresCluster):
    """The drills' private cluster, its server run under libfaketime (started directly: pg_ctl's
    wait compares the server's start time with its own and never sees it ready)."""

    def __init__(self, offset: str) -> None:
        super().__init__()
        self.offset = offset

    def start(self) -> None:
        clock = [f"{name}={value}" for name, value in faked(self.offset).items()]
        subprocess.Popen(
            [*self.as_user, "env", *clock, str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.home), "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: subprocess.call([str(self.bindir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p",
                                          str(self.port)]) == 0, 30, "PostgreSQL to answer", every=0.2)

    def remove(self) -> None:
        pid_file = self.data / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().split()[0])
            os.kill(pid, signal.SIGINT)  # fast shutdown
            wait_for(lambda: not pid_file.exists(), 30, "PostgreSQL to stop", every=0.2)
        shutil.rmtree(self.home, ignore_errors=True)


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server on the real clock: it cannot start under libfaketime (its allocator
    reads the clock before libfaketime is ready), and Redis only counts relative TTLs."""
    import redis

    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port, socket_connect_timeout=1)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False

    wait_for(answers, 10, "redis-server to answer")
    client.close()
    return process, f"redis://127.0.0.1:{port}/15"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=365, help="how far ahead every clock runs")
    args, pytest_args = parser.parse_known_args(argv)
    if not LIBFAKETIME.exists() or not shutil.which("redis-server"):
        print("needs Debian's libfaketime and redis-server packages (apt-get install libfaketime redis-server)")
        return 2
    if "-m" not in pytest_args:
        # Chromium hangs under libfaketime (a journey test never finished, and pytest-timeout's alarm
        # never fired), so the browser journeys run on the real clock only.
        pytest_args = ["-m", "not journey", *pytest_args]
    offset = f"+{args.days}d"
    postgres = FakeTimePostgres(offset)
    workdir = Path(tempfile.mkdtemp(prefix="gantry-year-ahead-"))
    redis_process = None
    try:
        postgres.init()
        redis_process, redis_url = start_redis(workdir)
        env = {**os.environ, **faked(offset), "TEST_DATABASE_URL": postgres.url.rsplit("/", 1)[0] + "/gantry_test",
               "TEST_REDIS_URL": redis_url}
        print(f"every clock {offset}: PostgreSQL {env['TEST_DATABASE_URL']}, Redis {redis_url}", flush=True)
        return subprocess.call([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT, env=env)
    finally:
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(10)
        postgres.remove()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
