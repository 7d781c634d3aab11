"""The GitHub simulator's list of commits reads as GitHub's does: the branch's real history, newest first."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from sandbox.github.git import git_store
from sandbox.github.releases import make_history
from webapp.integrations.github import GitHubError

INSTALLATION = 101
COMMITS = "/repos/acme/infrajet/commits"


def _list(app: Flask, **params: Any) -> list[dict[str, Any]]:
    from webapp.integrations.github import github

    with app.app_context():
        return list(github().installation_request(INSTALLATION, "GET", COMMITS, params=params))


def test_newest_first_with_a_merged_branch_after_its_merge(app: Flask, fake_github: Any) -> None:
    shas = make_history(fake_github, "acme", "infrajet", ["feat: a", "merge #7", "fix: b"],
                        merges={1: ["side: one", "side: two"]})
    listed = _list(app)
    messages = [c["commit"]["message"] for c in listed]
    assert messages[0] == "fix: b" and messages[-1] == "Initial commit"
    assert messages.index("merge #7") < messages.index("side: two") < messages.index("side: one")
    assert messages.index("merge #7") < messages.index("feat: a")
    assert listed[0]["sha"] == shas[-1]
    assert listed[0]["parents"] == [{"sha": shas[1], "url": f"https://api.github.com/repos/acme/infrajet/commits/{shas[1]}"}]


def test_a_push_on_the_simulator_is_listed_first_and_older_commits_page_after(app: Flask, fake_github: Any) -> None:
    make_history(fake_github, "acme", "infrajet", ["one", "two"])
    pushed = git_store(fake_github).commit_files("acme", "infrajet", {"main.tf": "x = 1\n"}, message="three")
    assert _list(app, per_page=1)[0]["sha"] == pushed
    assert [c["commit"]["message"] for c in _list(app, per_page=2, page=2)] == ["one", "Initial commit"]
    tree = git_store(fake_github).head("acme", "infrajet").tree
    assert _list(app)[0]["commit"]["tree"]["sha"] == tree


def test_sha_names_a_branch_tag_or_commit_to_list_from(app: Flask, fake_github: Any) -> None:
    first, second = make_history(fake_github, "acme", "infrajet", ["one", "two"])
    repo = git_store(fake_github).repo("acme", "infrajet")
    assert repo is not None
    repo.refs["refs/tags/v1.0.0"] = first
    assert [c["sha"] for c in _list(app, sha="v1.0.0")][:1] == [first]
    assert [c["sha"] for c in _list(app, sha=second[:10])][:1] == [second]
    with pytest.raises(GitHubError) as missing:
        _list(app, sha="no-such-branch")
    assert missing.value.status == 404


def test_a_repository_without_git_objects_answers_its_canned_commits_newest_first(app: Flask,
                                                                                 fake_github: Any) -> None:
    dates = [c["commit"]["author"]["date"] for c in _list(app)]
    assert dates == sorted(dates, reverse=True) and len(dates) == 3


def test_a_queued_workflow_job_runs_on_the_head_of_the_default_branch(fake_github: Any) -> None:
    from sandbox.github import jobs

    *_, head = make_history(fake_github, "acme", "infrajet", ["one", "two"])
    record = jobs.queue(fake_github.state, "acme/infrajet", ["linux"])
    assert record["job"]["head_sha"] == head
