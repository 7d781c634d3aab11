"""Pages: projects, the editor, uploads (files and zip), sync with live status, history, conflict diff."""

from __future__ import annotations

import io
import zipfile

import pytest

from tests.sync.conftest import NAME, OTHER_REPO_ID, OWNER, REPO_ID, remote_files
from webapp.sync import service
from webapp.sync.models import Project, SyncRun


@pytest.fixture
def maintainer_browser(browser, make_user, grant):
    user = make_user("maintainer")
    grant(user, REPO_ID)
    browser.login(user.username)
    return browser


def _file(db, project_id, path):
    db.session.expire_all()
    return service.engine.file_by_path(project_id, path)


def test_anonymous_is_sent_to_login(client, project):
    for url in ("/projects", f"/projects/{project.id}", f"/projects/{project.id}/history"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_create_project_page(maintainer_browser, repos, db):
    page = maintainer_browser.get("/projects")
    assert page.status_code == 200 and b"acme/infrajet" in page.data and b"acme/widgets" not in page.data
    bad = maintainer_browser.post("/projects", {"name": "", "repository_id": REPO_ID}, htmx=True)
    assert bad.status_code == 422 and b"needs a name" in bad.data
    html = maintainer_browser.post("/projects", {"name": "net", "repository_id": REPO_ID, "branch": "<b>x</b>"},
                                   htmx=True)
    assert html.status_code == 422 and b"not a branch name" in html.data and b"<b>x</b>" not in html.data
    done = maintainer_browser.post("/projects", {"name": "net", "repository_id": REPO_ID, "base_path": "infra"})
    assert done.status_code == 303
    project = db.session.query(Project).one()
    assert done.headers["Location"].endswith(f"/projects/{project.id}")
    assert project.base_path == "infra" and project.branch == "main"


def test_viewer_sees_but_cannot_change(browser, make_user, grant, project):
    viewer = make_user("viewer")
    grant(viewer, REPO_ID, "read")
    browser.login(viewer.username)
    page = browser.get(f"/projects/{project.id}")
    assert page.status_code == 200 and b"main.tf" in page.data and b"Sync now" not in page.data
    assert browser.post(f"/projects/{project.id}/sync").status_code == 403
    assert browser.post(f"/projects/{project.id}/files/delete", {"path": "main.tf"}).status_code == 403
    assert browser.post(f"/projects/{project.id}/edit", {"path": "x.tf", "content": "x"}).status_code == 403
    assert browser.post("/projects", {"name": "n", "repository_id": REPO_ID}).status_code == 403


def test_other_repositorys_project_is_404(browser, make_user, grant, project, admin):
    other = service.create_project(admin, {"name": "w", "repository_id": OTHER_REPO_ID})
    other_id = other.id
    user = make_user("maintainer")
    grant(user, REPO_ID)
    browser.login(user.username)
    assert browser.get(f"/projects/{other_id}").status_code == 404
    assert browser.post(f"/projects/{other_id}/sync").status_code == 404
    assert b"/projects/%d" % other_id not in browser.get("/projects").data


def test_editor_with_line_numbers_creates_and_saves(maintainer_browser, project, db):
    page = maintainer_browser.get(f"/projects/{project.id}/edit?path=main.tf")
    assert page.status_code == 200
    assert b'class="line-numbers"' in page.data and b"module &#34;a&#34; {}" in page.data
    saved = maintainer_browser.post(f"/projects/{project.id}/edit",
                                    {"path": "main.tf", "original": "main.tf", "content": "one\r\ntwo\r\n",
                                     "executable": "1"}, htmx=True)
    assert saved.status_code == 200 and b"Saved." in saved.data
    file = _file(db, project.id, "main.tf")
    assert file.content == b"one\ntwo\n" and file.executable is True
    created = maintainer_browser.post(f"/projects/{project.id}/edit", {"path": "new/x.tf", "content": "x"})
    assert b"Created." in created.data and _file(db, project.id, "new/x.tf").content == b"x"
    bad = maintainer_browser.post(f"/projects/{project.id}/edit", {"path": "../x", "content": "x"}, htmx=True)
    assert bad.status_code == 422 and b"must not contain" in bad.data


def test_new_file_never_overwrites_one_that_exists(maintainer_browser, project, db):
    """A new file given the path of an existing one is refused on the form, the typed text kept."""
    blank = maintainer_browser.get(f"/projects/{project.id}/edit")
    assert b"<h1>New file</h1>" in blank.data and b'name="original" value=""' in blank.data
    refused = maintainer_browser.post(f"/projects/{project.id}/edit",
                                      {"path": "main.tf", "original": "", "content": "typed here\n"}, htmx=True)
    assert refused.status_code == 409
    assert b"main.tf already exists in this project" in refused.data and b'aria-invalid="true"' in refused.data
    assert b"typed here" in refused.data and b"<h1>New file</h1>" in refused.data
    assert _file(db, project.id, "main.tf").content == b'module "a" {}\n'  # untouched
    renamed = maintainer_browser.post(f"/projects/{project.id}/edit",  # an open file saved under another's path
                                      {"path": "vars.tf", "original": "main.tf", "content": "x"}, htmx=True)
    assert renamed.status_code == 409 and _file(db, project.id, "vars.tf").content == b'variable "x" {}\n'

    created = maintainer_browser.post(f"/projects/{project.id}/edit",
                                      {"path": "outputs.tf", "original": "", "content": "typed here\n"}, htmx=True)
    assert created.status_code == 200 and b"Created." in created.data
    assert b"<h1>outputs.tf</h1>" in created.data and b'name="original" value="outputs.tf"' in created.data
    assert created.headers["HX-Push-Url"] == f"/projects/{project.id}/edit?path=outputs.tf"
    again = maintainer_browser.post(f"/projects/{project.id}/edit",
                                    {"path": "outputs.tf", "original": "outputs.tf", "content": "more\n"}, htmx=True)
    assert again.status_code == 200 and b"Saved." in again.data
    assert _file(db, project.id, "outputs.tf").content == b"more\n"


def test_upload_several_files_and_a_zip(maintainer_browser, project, db):
    response = maintainer_browser.post(
        f"/projects/{project.id}/files",
        {"folder": "extra", "files": [(io.BytesIO(b"a\n"), "a.tf"), (io.BytesIO(b"b\n"), "b.tf")]},
        content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200 and b"Files saved." in response.data
    assert _file(db, project.id, "extra/a.tf").content == b"a\n"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("mod/main.tf", "zipped\n")
        info = zipfile.ZipInfo("mod/run.sh")
        info.external_attr = 0o100755 << 16
        zf.writestr(info, "#!/bin/sh\n")
    archive.seek(0)
    response = maintainer_browser.post(f"/projects/{project.id}/files",
                                       {"unzip": "1", "files": [(archive, "bundle.zip")]},
                                       content_type="multipart/form-data")
    assert response.status_code == 303
    assert _file(db, project.id, "mod/main.tf").content == b"zipped\n"
    assert _file(db, project.id, "mod/run.sh").executable is True
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:
        zf.writestr("../../escape.txt", "x")
    evil.seek(0)
    response = maintainer_browser.post(f"/projects/{project.id}/files", {"unzip": "1", "files": [(evil, "e.zip")]},
                                       content_type="multipart/form-data")
    assert response.status_code == 422 and _file(db, project.id, "escape.txt") is None


def test_delete_file_page(maintainer_browser, project, db):
    response = maintainer_browser.post(f"/projects/{project.id}/files/delete", {"path": "vars.tf"}, htmx=True)
    assert response.status_code == 200 and b"Deleted vars.tf" in response.data
    assert _file(db, project.id, "vars.tf") is None


def test_sync_button_live_status_and_history(maintainer_browser, project, git, run_jobs, db):
    response = maintainer_browser.post(f"/projects/{project.id}/sync", {"message": "From the page"},
                                       follow_redirects=True)
    assert response.status_code == 200 and b"queued</span>" in response.data
    status = maintainer_browser.get(f"/projects/{project.id}/status", htmx=True)
    assert b'hx-trigger="every 2s"' in status.data and b"queued" in status.data
    assert b"<html" not in status.data  # a fragment for HTMX
    opened = maintainer_browser.get(f"/projects/{project.id}/status")  # the URL opened directly
    assert opened.status_code == 200 and b"<html" in opened.data and b"main.tf" in opened.data
    run_jobs()
    status = maintainer_browser.get(f"/projects/{project.id}/status", htmx=True)
    assert b"hx-trigger" not in status.data and b"succeeded" in status.data  # polling stops when done
    assert git.head(OWNER, NAME).sha[:10].encode() in status.data
    history = maintainer_browser.get(f"/projects/{project.id}/history")
    assert history.status_code == 200 and b"succeeded" in history.data
    run = db.session.query(SyncRun).one()
    detail = maintainer_browser.get(f"/sync/runs/{run.id}")
    assert b"main.tf" in detail.data and b"GitHub API calls" in detail.data


def _sync_panel(html: bytes) -> str:
    text = html.decode()
    return text[text.index('<div id="sync-status">'):text.index('<section aria-labelledby="files-heading">')]


def test_sync_panel_shows_one_state_with_its_button_and_figures(maintainer_browser, project, db):
    """State, button and figures are drawn together: no "queued" notice next to a failed run, no
    figures that leave out the run being shown, no button offered while a sync is under way."""
    idle = _sync_panel(maintainer_browser.get(f"/projects/{project.id}").data)
    assert "never synced" in idle and "Sync now</button>" in idle and "disabled" not in idle
    assert "0 syncs, 0 succeeded, 0 failed" in idle

    page = maintainer_browser.post(f"/projects/{project.id}/sync", {}, follow_redirects=True)
    assert b"Sync queued." not in page.data  # the panel says it, and keeps saying it only while true
    queued = _sync_panel(page.data)
    assert 'badge-waiting">queued</span>' in queued
    assert '<button type="submit" form="sync-form" disabled aria-describedby="sync-wait">Sync now</button>' in queued
    assert "waiting for a worker" in queued and "1 sync, 0 succeeded, 0 failed, 1 in progress" in queued

    run = db.session.query(SyncRun).one()
    run.status, run.error = "failed", "GitHub answered 500."
    db.session.commit()
    polled = maintainer_browser.get(f"/projects/{project.id}/status", htmx=True).data.decode()
    assert 'badge-failed">failed</span>' in polled and "GitHub answered 500." in polled
    assert "1 sync, 0 succeeded, 1 failed" in polled and "in progress" not in polled
    assert "queued" not in polled and "hx-trigger" not in polled
    assert '<button type="submit" form="sync-form" >Sync now</button>' in polled  # offered again


def test_conflict_page_shows_side_by_side_diff_and_resolves(maintainer_browser, project, git, sync, admin,
                                                            run_jobs, db):
    sync(project.id)
    git.commit_files(OWNER, NAME, {"infra/main.tf": "line 1\nfrom github\nline 3\n"})
    service.put_file(admin, project.id, "main.tf", b"line 1\nfrom gantry\nline 3\n")
    run_id = sync(project.id).id
    page = maintainer_browser.get(f"/sync/runs/{run_id}")
    assert page.status_code == 200
    assert b'class="data sync-diff"' in page.data and b"from gantry" in page.data and b"from github" in page.data
    assert b"Keep GitHub's" in page.data and b"Overwrite" in page.data
    done = maintainer_browser.post(f"/sync/runs/{run_id}/resolve", {"path": "main.tf", "choice": "keep_github"},
                                   htmx=True)
    assert done.status_code == 200 and b"Choice recorded." in done.data
    assert _file(db, project.id, "main.tf").content == b"line 1\nfrom github\nline 3\n"
    run_jobs()
    db.session.expire_all()
    follow_up = db.session.query(SyncRun).order_by(SyncRun.id.desc()).first()
    assert follow_up.status in ("nothing_to_do", "succeeded")
    assert remote_files(git)["infra/main.tf"][0] == b"line 1\nfrom github\nline 3\n"
    again = maintainer_browser.post(f"/sync/runs/{run_id}/resolve", {"path": "main.tf", "choice": "overwrite"},
                                    htmx=True)
    assert again.status_code == 409


def test_sync_only_ticked_files_from_the_page(maintainer_browser, project, git, run_jobs, db):
    maintainer_browser.post(f"/projects/{project.id}/sync", {"paths": ["vars.tf"]})
    run_jobs()
    db.session.expire_all()
    run = db.session.query(SyncRun).one()
    assert run.paths == ["vars.tf"] and run.status == "succeeded"
    files = remote_files(git)
    assert "infra/vars.tf" in files and "infra/main.tf" not in files


def test_settings_and_delete_project(maintainer_browser, project, db, browser):
    response = maintainer_browser.post(f"/projects/{project.id}/settings",
                                       {"name": "renamed", "branch": "release", "base_path": "ops/"})
    assert response.status_code == 303
    db.session.expire_all()
    saved = db.session.get(Project, project.id)
    assert (saved.name, saved.branch, saved.base_path) == ("renamed", "release", "ops")
    bad = maintainer_browser.post(f"/projects/{project.id}/settings", {"name": "", "branch": "x"}, htmx=True)
    assert bad.status_code == 422 and b"needs a name" in bad.data
    gone = maintainer_browser.post(f"/projects/{project.id}/delete", htmx=True)
    assert gone.status_code == 204 and gone.headers["HX-Redirect"] == "/projects"
    db.session.expire_all()
    assert db.session.get(Project, project.id) is None


def test_seed_demo_is_idempotent_and_shows_a_conflict(app, repos, admin, db):
    from webapp.sync.demo import seed_demo_projects

    seed_demo_projects(admin)
    seed_demo_projects(admin)
    project = db.session.query(Project).one()
    assert project.repository_id == REPO_ID and len(project.files) == 4
    assert {f.path: f.executable for f in project.files}["scripts/plan.sh"] is True
    run = db.session.query(SyncRun).one()
    assert run.status == "conflict" and run.conflict_files[0]["there_text"].startswith("variable")


def test_overview_cards_and_metrics_count_visible_runs(app, project, admin, db, make_user, grant, client,
                                                        make_key):
    from webapp.core.models import utcnow
    from webapp.sync.stats import overview_cards

    for status in ("conflict", "failed", "succeeded", "queued"):
        db.session.add(SyncRun(project_id=project.id, repository_id=REPO_ID, branch="main", sync_id=status * 4,
                               status=status, finished_at=utcnow()))
    db.session.add(SyncRun(project_id=project.id, repository_id=OTHER_REPO_ID, branch="main", sync_id="x" * 32,
                           status="failed", finished_at=utcnow()))
    db.session.commit()
    user = make_user("viewer")
    grant(user, REPO_ID, "read")
    with app.test_request_context():
        cards = {c.title: (c.value, c.state) for c in overview_cards(user)}
    assert cards == {"Syncing": ("1", "neutral"), "Conflicts (7 d)": ("1", "warn"),
                     "Synced (7 d)": ("1", "ok"), "Failed (7 d)": ("1", "failed")}
    metrics = client.get("/metrics", headers=make_key(make_user("admin"), "admin")).get_data(as_text=True)
    assert 'gantry_sync_runs{status="failed"} 2.0' in metrics
