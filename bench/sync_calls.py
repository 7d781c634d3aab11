"""GitHub API calls and time of a project sync: 500 text files, then 10 changed, then nothing changed.

    .venv/bin/python bench/sync_calls.py [--files 500] [--changed 10]

Runs Gantry's sync engine against the fake GitHub of the test suite (sandbox/github: real git
objects served over HTTP on 127.0.0.1), so every request is a real HTTP round trip and the number
of calls is exactly what GitHub would see. Three runs of one project bound to acme/infrajet:

1. first sync of N text files (all new);
2. M files changed here — goal (issue 8): at most 6 GitHub API calls, one commit;
3. nothing changed — goal: no commit (and no content-creating request).

Installation-token minting (`POST /app/installations/{id}/access_tokens`) is reported separately:
the token is cached in Redis and shared by every worker, so it is not a per-sync cost.
Uses its own database (gantry_bench_sync, dropped and created) and a private redis-server when one
is installed (else BENCH_REDIS_URL, default redis://127.0.0.1:6379/12, flushed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "gantry_bench_sync"
OWNER, NAME, REPO_ID, INSTALLATION_ID = "acme", "infrajet", 1001, 101
CALL_GOAL = 6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--changed", type=int, default=10)
    args = parser.parse_args()

    import logging

    from flask_migrate import upgrade

    from bench._services import fresh_database, start_redis
    from sandbox.github import default_app, fake_github_settings
    from sandbox.github.server import FakeServer
    from sandbox.github.state import default_state
    from webapp import create_app
    from webapp.config import test_settings

    redis_url, redis_process = start_redis(fallback="redis://127.0.0.1:6379/12")
    fake_app = default_app()
    server = FakeServer(lambda: default_state(fake_app))
    server.start()
    try:
        settings = test_settings(fresh_database(DB_NAME), redis_url)
        settings.update(fake_github_settings(server))
        settings["TESTING"] = False
        app = create_app(settings)
        with app.app_context():
            import redis

            redis.Redis.from_url(redis_url).flushdb()
            upgrade()
            for name in ("werkzeug", "alembic"):
                logging.getLogger(name).setLevel(logging.WARNING)
            return run(app, server, args.files, args.changed)
    finally:
        server.stop()
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


def run(app: Any, server: Any, files: int, changed: int) -> int:
    from sandbox.github.git import git_store
    from webapp.auth import service as auth_service
    from webapp.extensions import db
    from webapp.repos.models import Installation, Repository
    from webapp.sync import engine, runs, service
    from webapp.sync.models import SyncRun

    class Fake:  # what git_store() expects of the fixture
        state = property(lambda self: server.state)

    git = git_store(Fake())
    git.init_repo(OWNER, NAME, {"README.md": "# infrajet\n"})
    db.session.add(Installation(id=INSTALLATION_ID, account_login=OWNER))
    db.session.add(Repository(id=REPO_ID, installation_id=INSTALLATION_ID, owner=OWNER, name=NAME,
                              full_name=f"{OWNER}/{NAME}", default_branch="main"))
    db.session.commit()
    admin = auth_service.create_user(username="bench", email="bench@example.test", password="bench-password-1",
                                     role="admin", actor="bench")
    project = service.create_project(admin, {"name": "stack", "repository_id": REPO_ID, "base_path": "stack"})
    body = "".join(f'resource "null_resource" "r{i}" {{\n  triggers = {{ n = {i} }}\n}}\n' for i in range(20))
    service.put_files(admin, project.id, {
        f"modules/m{i // 25:02d}/file{i:03d}.tf": (f"# file {i}\n{body}".encode(), None) for i in range(files)})

    def one_sync(label: str) -> dict[str, Any]:
        run = runs.start_sync(admin, project.id, message=label)
        server.requests.clear()
        commits_before = len(git.history(OWNER, NAME))
        started = time.perf_counter()
        engine.execute_run(run.id)
        elapsed = time.perf_counter() - started
        db.session.expire_all()
        finished = db.session.get(SyncRun, run.id)
        requests = list(server.requests)
        token = [r for r in requests if r.path.endswith("/access_tokens")]
        api = [r for r in requests if r.path.startswith("/repos/")]
        writes = [r for r in api if r.method in ("POST", "PATCH", "PUT", "DELETE")]
        return {"label": label, "status": finished.status, "api_calls": len(api), "recorded": finished.api_calls,
                "writes": len(writes), "token_mints": len(token),
                "commits": len(git.history(OWNER, NAME)) - commits_before, "seconds": elapsed,
                "calls": [f"{r.method} {r.path.split('/', 4)[-1]}" for r in api]}

    first = one_sync(f"First sync of {files} files")
    for i in range(changed):
        j = i * 7 % files
        path = f"modules/m{j // 25:02d}/file{j:03d}.tf"
        current = service.get_file(admin, project.id, path).content
        service.put_file(admin, project.id, path, current + b"# changed\n")
    second = one_sync(f"{changed} files changed")
    third = one_sync("Nothing changed")

    print(f"project: {files} text files ({sum(f.size for f in service.get_project(admin, project.id).files)} bytes)")
    for result in (first, second, third):
        print(f"{result['label']:>28}: {result['status']:<14} {result['api_calls']} GitHub API calls "
              f"({result['writes']} writes), {result['commits']} commit(s), {result['seconds'] * 1000:.0f} ms"
              f"  [token mints: {result['token_mints']}]")
        print(f"{'':>30}{', '.join(result['calls'])}")
    ok = (second["api_calls"] <= CALL_GOAL and second["commits"] == 1 and second["status"] == "succeeded"
          and third["commits"] == 0 and third["writes"] == 0 and third["status"] == "nothing_to_do")
    print(f"goal: {changed} changed files in <= {CALL_GOAL} calls and 1 commit; nothing changed: 0 commits -> "
          f"{'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
