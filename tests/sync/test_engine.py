"""Sync runs against the fake's real git objects: the three-way rule, one commit, retries, idempotency."""

from __future__ import annotations

import pytest

from tests.sync.conftest import NAME, OWNER, remote_files
from webapp.sync import runs, service
from webapp.sync.models import SyncedFile, SyncRun
from webapp.sync.plan import blob_sha


def commits(git):
    return git.history(OWNER, NAME)


def test_first_sync_writes_local_files_in_one_commit(project, git, sync, fake_github, db):
    before = len(commits(git))
    run = sync(project.id, message="Add infra")
    assert run.status == "succeeded", run.error
    files = remote_files(git)
    assert files["infra/main.tf"] == (b'module "a" {}\n', "100644")
    assert files["infra/vars.tf"] == (b'variable "x" {}\n', "100644")
    assert files["infra/legacy.tf"] == (b"# old\n", "100644")  # not ours: untouched
    assert files["README.md"] == (b"# infrajet\n", "100644")
    history = commits(git)
    assert len(history) == before + 1
    assert history[0].sha == run.commit_sha
    assert f"Sync-Id: {run.sync_id}" in history[0].message
    assert history[0].message.startswith("Add infra")
    # text goes inline in the tree: no blob requests; one commit; the ref moved without force
    assert not fake_github.calls("POST", r"/git/blobs$")
    assert len(fake_github.calls("POST", r"/git/commits$")) == 1
    patch = fake_github.calls("PATCH", r"/git/refs/heads/main$")
    assert len(patch) == 1 and patch[0].json["force"] is False
    assert run.api_calls == 5
    bases = {b.path: b.blob_sha for b in db.session.query(SyncedFile).all()}
    assert bases == {"main.tf": blob_sha(b'module "a" {}\n'), "vars.tf": blob_sha(b'variable "x" {}\n')}


def test_nothing_to_do_makes_no_commit(project, git, sync, fake_github):
    sync(project.id)
    before = len(commits(git))
    fake_github.server.requests.clear()
    run = sync(project.id)
    assert run.status == "nothing_to_do"
    assert len(commits(git)) == before
    assert not fake_github.calls("POST", r"/git/")
    assert not fake_github.calls("PATCH", r"/git/refs")


def test_local_only_change_is_written(project, git, sync, admin):
    sync(project.id)
    service.put_file(admin, project.id, "main.tf", b'module "b" {}\n')
    run = sync(project.id)
    assert run.status == "succeeded"
    assert [f["path"] for f in run.files if f["action"] == "write"] == ["main.tf"]
    assert remote_files(git)["infra/main.tf"][0] == b'module "b" {}\n'


def test_remote_only_change_is_kept_and_reported(project, git, sync, admin, db):
    sync(project.id)
    git.commit_files(OWNER, NAME, {"infra/vars.tf": 'variable "y" {}\n'})
    head = git.head(OWNER, NAME).sha
    run = sync(project.id)
    assert run.status == "nothing_to_do"
    kept = [f for f in run.files if f["action"] == "keep_remote"]
    assert [f["path"] for f in kept] == ["vars.tf"] and kept[0]["detail"] == "modified on GitHub"
    assert git.head(OWNER, NAME).sha == head  # GitHub's version stays
    # the base stays at the old version, so a later local edit is still seen as a conflict
    base = db.session.get(SyncedFile, (project.id, "vars.tf"))
    assert base.blob_sha == blob_sha(b'variable "x" {}\n')


def test_both_changed_is_a_conflict_and_stops(project, git, sync, admin):
    sync(project.id)
    git.commit_files(OWNER, NAME, {"infra/main.tf": 'module "github" {}\n'})
    service.put_file(admin, project.id, "main.tf", b'module "gantry" {}\n')
    service.put_file(admin, project.id, "vars.tf", b'variable "z" {}\n')
    head = git.head(OWNER, NAME).sha
    run = sync(project.id)
    assert run.status == "conflict"
    assert run.conflicts == 1
    conflict = run.conflict_files[0]
    assert conflict["path"] == "main.tf"
    assert conflict["here_text"] == 'module "gantry" {}\n'
    assert conflict["there_text"] == 'module "github" {}\n'
    assert git.head(OWNER, NAME).sha == head  # nothing written, not even the non-conflicting file


def test_conflict_overwritten_when_chosen(project, git, sync, admin):
    sync(project.id)
    git.commit_files(OWNER, NAME, {"infra/main.tf": 'module "github" {}\n'})
    service.put_file(admin, project.id, "main.tf", b'module "gantry" {}\n')
    run = sync(project.id, overwrite=True)
    assert run.status == "succeeded"
    assert run.files[0]["forced"] is True
    assert remote_files(git)["infra/main.tf"][0] == b'module "gantry" {}\n'


def test_resolving_conflicts_keep_github_and_overwrite(project, git, sync, admin, run_jobs, db):
    sync(project.id)
    git.commit_files(OWNER, NAME, {"infra/main.tf": "github main\n", "infra/vars.tf": "github vars\n"})
    service.put_file(admin, project.id, "main.tf", b"gantry main\n")
    service.put_file(admin, project.id, "vars.tf", b"gantry vars\n")
    run = sync(project.id)
    assert run.status == "conflict" and run.conflicts == 2
    run_id = run.id
    runs.resolve_conflict(admin, run_id, "main.tf", "keep_github")
    assert service.get_file(admin, project.id, "main.tf").content == b"github main\n"
    assert db.session.query(SyncRun).count() == 2  # one conflict left: no new run yet
    runs.resolve_conflict(admin, run_id, "vars.tf", "overwrite")
    run_jobs()
    db.session.expire_all()
    follow_up = db.session.query(SyncRun).order_by(SyncRun.id.desc()).first()
    assert follow_up.trigger == "resolve" and follow_up.status == "succeeded", follow_up.error
    files = remote_files(git)
    assert files["infra/main.tf"][0] == b"github main\n"
    assert files["infra/vars.tf"][0] == b"gantry vars\n"


def test_deleted_here_is_deleted_on_github(project, git, sync, admin, db):
    sync(project.id)
    service.delete_file(admin, project.id, "vars.tf")
    run = sync(project.id)
    assert run.status == "succeeded"
    assert run.files_deleted == 1
    assert "infra/vars.tf" not in remote_files(git)
    assert db.session.get(SyncedFile, (project.id, "vars.tf")) is None


def test_deleted_here_but_changed_on_github_is_a_conflict(project, git, sync, admin):
    sync(project.id)
    git.commit_files(OWNER, NAME, {"infra/vars.tf": "changed there\n"})
    service.delete_file(admin, project.id, "vars.tf")
    run = sync(project.id)
    assert run.status == "conflict"
    assert run.conflict_files[0]["detail"] == "deleted here and modified on GitHub"


def test_deleted_on_github_is_kept_deleted(project, git, sync):
    sync(project.id)
    git.commit_files(OWNER, NAME, {"infra/vars.tf": None})
    run = sync(project.id)
    assert run.status == "nothing_to_do"
    kept = [f for f in run.files if f["action"] == "keep_remote"]
    assert kept[0]["path"] == "vars.tf" and kept[0]["detail"] == "deleted on GitHub"
    assert "infra/vars.tf" not in remote_files(git)


def test_deleted_on_github_but_changed_here_is_a_conflict(project, git, sync, admin):
    sync(project.id)
    git.commit_files(OWNER, NAME, {"infra/vars.tf": None})
    service.put_file(admin, project.id, "vars.tf", b"changed here\n")
    run = sync(project.id)
    assert run.status == "conflict"
    assert run.conflict_files[0]["detail"] == "modified here and deleted on GitHub"


def test_executable_bit_is_synced_without_resending_content(project, git, sync, admin, fake_github):
    service.put_file(admin, project.id, "plan.sh", b"#!/bin/sh\necho plan\n", executable=True)
    sync(project.id)
    assert remote_files(git)["infra/plan.sh"] == (b"#!/bin/sh\necho plan\n", "100755")
    service.put_file(admin, project.id, "plan.sh", b"#!/bin/sh\necho plan\n", executable=False)
    fake_github.server.requests.clear()
    run = sync(project.id)
    assert run.status == "succeeded"
    assert run.files[0]["detail"] == "mode changed here"
    assert remote_files(git)["infra/plan.sh"][1] == "100644"
    tree_request = fake_github.calls("POST", r"/git/trees$")[0].json
    assert tree_request["tree"] == [{"path": "infra/plan.sh", "mode": "100644", "type": "blob",
                                     "sha": blob_sha(b"#!/bin/sh\necho plan\n")}]


def test_binary_file_goes_as_a_blob(project, git, sync, admin, fake_github):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    service.put_file(admin, project.id, "logo.png", png)
    run = sync(project.id)
    assert run.status == "succeeded"
    blobs = fake_github.calls("POST", r"/git/blobs$")
    assert len(blobs) == 1 and blobs[0].json["encoding"] == "base64"
    assert remote_files(git)["infra/logo.png"][0] == png


def test_truncated_tree_is_walked_by_subtrees(project, git, sync, admin, fake_github):
    sync(project.id)
    git.commit_files(OWNER, NAME, {f"infra/modules/m{i}/main.tf": f"# {i}\n" for i in range(6)})
    service.put_file(admin, project.id, "main.tf", b"# changed here\n")
    git.commit_files(OWNER, NAME, {"infra/vars.tf": "changed on GitHub\n"})
    git.truncate_trees_at = 3
    fake_github.server.requests.clear()
    run = sync(project.id)
    assert run.status == "succeeded"
    assert fake_github.calls("GET", r"/git/trees/") and any(
        "recursive" not in r.query for r in fake_github.calls("GET", r"/git/trees/"))
    # the remote-only change deep in the listing was still seen (so not overwritten)
    assert [f["path"] for f in run.files if f["action"] == "keep_remote"] == ["vars.tf"]
    assert remote_files(git)["infra/vars.tf"][0] == b"changed on GitHub\n"
    assert remote_files(git)["infra/main.tf"][0] == b"# changed here\n"


def test_ref_moved_during_the_run_is_retried(project, git, sync, admin, fake_github):
    sync(project.id)
    service.put_file(admin, project.id, "main.tf", b"# mine\n")
    git.on_next_ref_update(lambda: git.commit_files(OWNER, NAME, {"docs/other.md": "someone else\n"}))
    run = sync(project.id)
    assert run.status == "succeeded", run.error
    assert run.ref_retries == 1
    history = commits(git)
    assert history[0].sha == run.commit_sha
    assert history[1].message == "Change on GitHub"  # built on top of the concurrent push, nothing lost
    files = remote_files(git)
    assert files["docs/other.md"][0] == b"someone else\n" and files["infra/main.tf"][0] == b"# mine\n"


def test_ref_moved_with_a_conflicting_change_stops_as_conflict(project, git, sync, admin):
    sync(project.id)
    service.put_file(admin, project.id, "main.tf", b"# mine\n")
    git.on_next_ref_update(lambda: git.commit_files(OWNER, NAME, {"infra/main.tf": "# theirs\n"}))
    run = sync(project.id)
    assert run.status == "conflict"
    assert remote_files(git)["infra/main.tf"][0] == b"# theirs\n"


def test_ref_kept_moving_fails_after_three_retries(project, git, sync, admin, fake_github):
    sync(project.id)
    service.put_file(admin, project.id, "main.tf", b"# mine\n")
    for i in range(4):
        git.on_next_ref_update(lambda i=i: git.commit_files(OWNER, NAME, {f"docs/{i}.md": "x\n"}))
    with pytest.raises(Exception, match="kept moving"):
        from webapp.sync import engine

        run = runs.start_sync(admin, project.id)
        engine.execute_run(run.id)
    assert len(fake_github.calls("PATCH", r"/git/refs/heads/main$")) == 1 + 4


def test_retry_after_a_crash_after_the_commit_does_not_commit_twice(project, git, sync, admin, db, monkeypatch,
                                                                    run_jobs):
    from webapp.sync import engine

    sync(project.id)
    service.put_file(admin, project.id, "main.tf", b"# after crash\n")
    real = engine._finish_landed
    crashes = iter([True])

    def crash_once(*args, **kwargs):
        if next(crashes, False):
            raise RuntimeError("worker died")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, "_finish_landed", crash_once)
    run = sync(project.id)
    run_id = run.id
    assert run.status == "failed" and "worker died" in run.error
    landed = commits(git)[0]
    assert f"Sync-Id: {run.sync_id}" in landed.message  # the commit did land before the crash
    before = len(commits(git))
    runs.retry_run(admin, run_id)
    run_jobs()
    db.session.expire_all()
    run = db.session.get(SyncRun, run_id)
    assert run.status == "succeeded"
    assert run.attempts == 2
    assert run.commit_sha == landed.sha
    assert len(commits(git)) == before
    assert db.session.get(SyncedFile, (project.id, "main.tf")).blob_sha == blob_sha(b"# after crash\n")


def test_landed_commit_found_below_a_later_commit(project, git, sync, admin, db, monkeypatch):
    from webapp.sync import engine

    sync(project.id)
    service.put_file(admin, project.id, "main.tf", b"# v2\n")
    monkeypatch.setattr(engine, "_finish_landed", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("died")))
    run_id = sync(project.id).id
    monkeypatch.undo()
    git.commit_files(OWNER, NAME, {"docs/later.md": "later\n"})
    before = len(commits(git))
    engine.execute_run(run_id)
    db.session.expire_all()
    run = db.session.get(SyncRun, run_id)
    assert run.status == "succeeded" and len(commits(git)) == before


def test_protected_branch_gets_a_pull_request(project, git, sync, admin, fake_github):
    sync(project.id)
    git.protect(OWNER, NAME)
    fake_github.server.requests.clear()
    service.put_file(admin, project.id, "main.tf", b"# reviewed\n")
    head = git.head(OWNER, NAME).sha
    run = sync(project.id)
    assert run.status == "pull_request"
    assert run.pull_request_url.startswith("https://github.test/acme/infrajet/pull/")
    assert git.head(OWNER, NAME).sha == head
    branch = f"gantry/sync-project-{project.id}"
    assert git.files(OWNER, NAME, branch)["infra/main.tf"][0] == b"# reviewed\n"
    assert not fake_github.calls("PATCH", r"/git/refs/heads/main$")


def test_subset_sync_writes_only_named_files(project, git, sync, admin):
    sync(project.id)
    service.put_file(admin, project.id, "main.tf", b"# a\n")
    service.put_file(admin, project.id, "vars.tf", b"# b\n")
    run = sync(project.id, paths=["vars.tf"])
    assert run.status == "succeeded"
    files = remote_files(git)
    assert files["infra/vars.tf"][0] == b"# b\n"
    assert files["infra/main.tf"][0] == b'module "a" {}\n'


def test_files_over_the_limit_are_refused_up_front(project, app, admin, monkeypatch, fake_github, db):
    from webapp.core.errors import PayloadTooLarge

    service.put_file(admin, project.id, "big.bin", b"x" * 64)
    monkeypatch.setitem(app.config, "SYNC_MAX_FILE_BYTES", 32)
    with pytest.raises(PayloadTooLarge):
        runs.start_sync(admin, project.id)
    with pytest.raises(PayloadTooLarge):
        service.put_file(admin, project.id, "big2.bin", b"x" * 64)
    assert db.session.query(SyncRun).count() == 0
    assert not fake_github.calls("POST", r"/git/")


def test_branch_lock_defers_a_second_sync(project, app, admin, db, run_jobs):
    from webapp.core.jobs import redis_connection

    redis_connection().set(f"gantry:sync:lock:{project.repository_id}:main", "someone", ex=60)
    run_id = runs.start_sync(admin, project.id).id
    run_jobs()
    db.session.expire_all()
    assert db.session.get(SyncRun, run_id).status == "waiting"


def test_write_budget_shared_in_redis_defers_the_run(project, app, admin, db, run_jobs, monkeypatch, git):
    monkeypatch.setitem(app.config, "SYNC_WRITES_PER_MINUTE", 2)
    run_id = runs.start_sync(admin, project.id).id
    run_jobs()
    db.session.expire_all()
    run = db.session.get(SyncRun, run_id)
    assert run.status == "waiting"
    assert len(commits(git)) == 1  # nothing written half-way


def test_large_text_goes_as_a_blob_small_text_inline(project, git, sync, admin, fake_github, app, monkeypatch):
    monkeypatch.setitem(app.config, "SYNC_INLINE_MAX_BYTES", 64)
    service.put_file(admin, project.id, "big.tf", b"# big\n" * 20)
    run = sync(project.id)
    assert run.status == "succeeded"
    assert len(fake_github.calls("POST", r"/git/blobs$")) == 1
    tree = fake_github.calls("POST", r"/git/trees$")[0].json["tree"]
    inline = {e["path"] for e in tree if "content" in e}
    assert inline == {"infra/main.tf", "infra/vars.tf"}
    assert remote_files(git)["infra/big.tf"][0] == b"# big\n" * 20


def test_stalled_runs_are_requeued(project, admin, db, run_jobs, git):
    from datetime import timedelta

    from webapp.core.models import utcnow

    run = SyncRun(project_id=project.id, repository_id=project.repository_id, branch="main", sync_id="a" * 32,
                  status="queued", updated_at=utcnow() - timedelta(minutes=10))
    db.session.add(run)
    db.session.commit()
    run_id = run.id
    assert runs.requeue_stalled() == 1
    run_jobs()
    db.session.expire_all()
    assert db.session.get(SyncRun, run_id).status == "succeeded"


def test_github_secondary_rate_limit_defers_the_run(project, admin, db, run_jobs, fake_github, git):
    from rq.registry import ScheduledJobRegistry

    from webapp.core.jobs import get_queue

    fake_github.fail("POST", r"/git/trees$", 403, headers={"Retry-After": "120"})
    run_id = runs.start_sync(admin, project.id).id
    run_jobs()
    db.session.expire_all()
    run = db.session.get(SyncRun, run_id)
    assert run.status == "waiting" and "rate limit" in run.error
    scheduled = ScheduledJobRegistry(queue=get_queue("default")).get_job_ids()
    assert any(job_id.startswith(f"sync-run-{run_id}-at-") for job_id in scheduled)
    assert len(commits(git)) == 1


def test_run_of_a_deleted_project_is_ignored(project, admin, db, run_jobs):
    from webapp.sync import engine

    run_id = runs.start_sync(admin, project.id).id
    service.delete_project(admin, project.id)
    assert engine.execute_run(run_id) is None


def test_pull_request_option_keeps_one_open_pull_request_per_project(project, git, sync, admin, fake_github, db):
    from webapp.sync.models import Project

    db.session.get(Project, project.id).use_pull_request = True
    db.session.commit()
    head = git.head(OWNER, NAME).sha
    first = sync(project.id)
    assert first.status == "pull_request" and git.head(OWNER, NAME).sha == head
    first_url = first.pull_request_url
    service.put_file(admin, project.id, "main.tf", b"# second\n")
    second = sync(project.id)
    assert second.status == "pull_request" and second.pull_request_url == first_url
    assert len(fake_github.calls("POST", r"/pulls$")) == 1
    branch = f"gantry/sync-project-{project.id}"
    assert git.files(OWNER, NAME, branch)["infra/main.tf"][0] == b"# second\n"
    # once merged, the next sync finds both sides equal and records them as synced
    git.commit_files(OWNER, NAME, {p: git.files(OWNER, NAME, branch)[p] for p in ("infra/main.tf", "infra/vars.tf")})
    third = sync(project.id)
    assert third.status == "nothing_to_do"
    assert db.session.get(SyncedFile, (project.id, "main.tf")).blob_sha == blob_sha(b"# second\n")


def test_keep_githubs_binary_version_reads_the_blob(project, git, sync, admin, db):
    service.put_file(admin, project.id, "logo.bin", b"\x00ours")
    sync(project.id)
    git.commit_files(OWNER, NAME, {"infra/logo.bin": b"\x00theirs"})
    service.put_file(admin, project.id, "logo.bin", b"\x00ours v2")
    run = sync(project.id)
    assert run.status == "conflict" and "there_text" not in run.conflict_files[0]
    runs.resolve_conflict(admin, run.id, "logo.bin", "keep_github")
    assert service.get_file(admin, project.id, "logo.bin").content == b"\x00theirs"
