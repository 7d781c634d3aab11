"""Notes grouped by conventional-commit type, PR titles, the next version and Release-As (no I/O)."""

from __future__ import annotations

from typing import Any

import pytest

from webapp.core.errors import ValidationFailed
from webapp.releases.notes import parse_version, summarise


def c(sha: str, message: str, parents: list[str] | None = None) -> dict[str, Any]:
    return {"sha": sha * 40 if len(sha) == 1 else sha, "commit": {"message": message, "author": {"name": "dev"}},
            "parents": [{"sha": p * 40} for p in (parents or [])]}


def titles(notes: Any) -> dict[str, list[str]]:
    return {s["title"]: [ch["description"] for ch in s["changes"]] for s in notes.sections()}


def test_commits_grouped_by_type_in_section_order() -> None:
    notes = summarise([c("a", "fix(api): handle empty body"), c("b", "feat: dark mode"),
                       c("d", "docs: readme"), c("e", "tidy things up")], "1.2.3")
    assert [s["title"] for s in notes.sections()] == ["Features", "Bug fixes", "Documentation", "Other changes"]
    assert titles(notes)["Bug fixes"] == ["handle empty body"]
    assert notes.sections()[1]["changes"][0]["scope"] == "api"
    assert notes.suggested_version == "1.3.0" and notes.bump == "minor" and notes.releasable


@pytest.mark.parametrize(("messages", "expected", "bump"), [
    (["fix: a", "chore: b"], "1.2.4", "patch"),
    (["fix: a", "feat(ui): b"], "1.3.0", "minor"),
    (["feat!: drop v1"], "2.0.0", "major"),
    (["fix: a\n\nBREAKING CHANGE: config renamed"], "2.0.0", "major"),
])
def test_next_version_follows_the_largest_change(messages: list[str], expected: str, bump: str) -> None:
    notes = summarise([c(str(i), m) for i, m in enumerate(messages)], "1.2.3")
    assert (notes.suggested_version, notes.bump) == (expected, bump)


def test_breaking_changes_get_their_own_section() -> None:
    notes = summarise([c("a", "feat(api)!: remove v1 endpoints"), c("b", "feat: add v2")], "1.0.0")
    assert titles(notes)["Breaking changes"] == ["remove v1 endpoints"]
    assert titles(notes)["Features"] == ["add v2"]


def test_release_as_anywhere_overrides_the_suggestion() -> None:
    notes = summarise([c("a", "fix: small"), c("b", "chore: prepare\n\nRelease-As: 3.0.0"), c("d", "docs: x")],
                      "1.2.3")
    assert notes.suggested_version == "3.0.0" and notes.bump == "release-as" and notes.release_as == "3.0.0"
    assert notes.releasable


def test_the_newest_release_as_wins_and_must_be_semver() -> None:
    notes = summarise([c("a", "x\n\nRelease-As: 2.0.0"), c("b", "y\n\nrelease-as: v2.1.0")], "1.0.0")
    assert notes.suggested_version == "2.1.0"
    with pytest.raises(ValidationFailed):
        summarise([c("a", "x\n\nRelease-As: two")], "1.0.0")


def test_only_chores_is_said_to_be_nothing_releasable_not_skipped() -> None:
    notes = summarise([c("a", "chore: deps"), c("b", "docs: typo")], "1.0.0")
    assert not notes.releasable
    assert "Nothing releasable" in notes.reason and "2 commit(s)" in notes.reason
    assert notes.suggested_version == "1.0.1"


def test_no_commits_is_nothing_to_release() -> None:
    notes = summarise([], "1.0.0")
    assert not notes.releasable and "no commits" in notes.reason


def test_squash_merge_subject_is_the_pr_title() -> None:
    notes = summarise([c("a", "feat(search): facets (#42)\n\n* wip\n* more")], "1.0.0")
    change = notes.sections()[0]["changes"][0]
    assert change["pr_number"] == 42 and change["pr_title"] == "feat(search): facets"
    assert change["description"] == "facets"
    assert "- **search:** facets (#42) (aaaaaaa)" in notes.markdown()


def test_merge_commit_stands_for_its_pr_with_the_pr_title() -> None:
    commits = [
        c("1", "chore: base"),
        c("2", "wip", ["1"]),
        c("3", "oops!: something\n\nBREAKING CHANGE: yes", ["2"]),
        c("4", "Merge pull request #7 from acme/feature\n\nfeat: new billing page", ["1", "3"]),
    ]
    notes = summarise(commits, "1.4.0")
    described = [ch["description"] for s in notes.sections() for ch in s["changes"]]
    assert "wip" not in described and "something" not in described  # absorbed into the PR
    entry = next(ch for s in notes.sections() for ch in s["changes"] if ch["pr_number"] == 7)
    assert entry["pr_title"] == "feat: new billing page" and entry["breaking"]
    assert notes.suggested_version == "2.0.0"


def test_first_release_is_suggested_as_0_1_0() -> None:
    notes = summarise([c("a", "chore: init")], None)
    assert notes.suggested_version == "0.1.0" and notes.releasable


def test_parse_version_accepts_v_prefix_and_refuses_junk() -> None:
    assert str(parse_version("v1.2.3-rc.1")) == "1.2.3-rc.1"
    with pytest.raises(ValidationFailed) as info:
        parse_version("1.2")
    assert info.value.errors == {"version": ["not a semantic version, e.g. 1.4.0"]}
