"""The "Sandbox GitHub" page's reading: what the GitHub simulator holds for a repository Gantry works with.

Only in sandbox mode. Everything is read through GitHub's own REST API as the App's installation, as
any read of GitHub is: the simulator answers on loopback whether it runs in this process (tests) or
in `make run`'s launcher beside the web server and worker, so there is one way to read it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func

from webapp.auth.principal import Who
from webapp.core.errors import NotFound, ValidationFailed
from webapp.extensions import db
from webapp.integrations.github import GitHubError, github
from webapp.repos import service
from webapp.repos.models import Installation, Repository
from webapp.repos.sandbox_actions import sandbox_on

COMMITS_SHOWN = 20
DEPLOYMENTS_SHOWN = 10
FILES_SHOWN = 500
FILE_BYTES_SHOWN = 100_000  # a file's first 100 kB are shown; the sandbox pushes small text files
MAX_PATH = 255
SHA = re.compile(r"^[0-9a-f]{7,40}$")


@dataclass
class SandboxFile:
    """One file of a commit as Sandbox GitHub holds it: its text, or None when it is not UTF-8 text."""

    path: str
    sha: str
    size: int
    text: str | None
    truncated: bool  # only the first FILE_BYTES_SHOWN bytes are in `text`


@dataclass
class SandboxRepository:
    """One repository as Sandbox GitHub holds it: a branch's commits, the files of one commit, and the rest."""

    repository: Repository
    branches: list[str]
    branch: str
    commits: list[dict[str, Any]]
    commit: str | None  # the commit whose files are listed
    files: list[dict[str, Any]]
    files_truncated: bool
    releases: list[dict[str, Any]]
    tags: list[dict[str, Any]]
    deployments: list[dict[str, Any]]  # each with its "statuses", newest first
    runners: list[dict[str, Any]]  # each with its "scope": the repository or the organisation
    file: SandboxFile | None = None  # the file chosen among `files`, with its content
    problems: list[str] = field(default_factory=list)  # what the simulator would not answer


def sandbox_repositories(who: Who) -> list[Repository]:
    """The repositories `who` may see that the App is installed on (the ones Sandbox GitHub sends events for)."""
    if not sandbox_on():
        raise NotFound("Not found.")
    query = service.visible_repositories_query(who).where(Repository.installation_id.is_not(None))
    return list(db.session.scalars(query.order_by(func.lower(Repository.full_name)).limit(100)))


def read_repository(who: Who, full_name: str | None, branch: str | None = None,
                    commit: str | None = None, path: str | None = None) -> SandboxRepository | None:
    """What Sandbox GitHub holds for one repository (the first one `who` may see when none is named), with
    the content of the file at `path` in the commit shown when one is named."""
    choices = sandbox_repositories(who)
    if not choices:
        return None
    if full_name:
        owner, _, name = full_name.partition("/")
        repo = service.get_repository(who, owner, name)
        if repo.installation_id is None:
            raise NotFound("Sandbox GitHub sends nothing for a repository the App is not installed on.")
    else:
        repo = choices[0]
    if commit is not None and not SHA.match(commit):
        raise ValidationFailed("A commit is 7 to 40 hexadecimal characters.", errors={"commit": ["invalid"]})
    reader = _Reader(repo)
    branches = [str(b["name"]) for b in reader.get("branches", "/branches", [])]
    chosen = branch if branch in branches else repo.default_branch or (branches[0] if branches else "main")
    commits = reader.commits(who, chosen)
    commit = commit or (commits[0]["sha"] if commits else None)
    files, truncated = reader.files(commit) if commit else ([], False)
    chosen_file = reader.file(files, commit, path) if commit and path else None
    return SandboxRepository(
        repository=repo, branches=branches, branch=chosen, commits=commits, commit=commit, files=files,
        files_truncated=truncated, releases=reader.get("releases", "/releases", []),
        tags=reader.get("tags", "/tags", []), deployments=reader.deployments(), runners=reader.runners(),
        file=chosen_file, problems=reader.problems)


class _Reader:
    """GitHub's answers about one repository, as its installation; a refusal is noted, not raised."""

    def __init__(self, repo: Repository) -> None:
        assert repo.installation_id is not None
        self.repo = repo
        self.installation_id = repo.installation_id
        self.problems: list[str] = []

    def get(self, what: str, path: str, default: Any, *, params: dict[str, Any] | None = None,
            base: str | None = None) -> Any:
        url = (base or f"/repos/{self.repo.full_name}") + path
        try:
            return github().installation_request(self.installation_id, "GET", url, params=params)
        except GitHubError as exc:
            self.problems.append(f"The {what} could not be read: {exc.message}")
            return default

    def commits(self, who: Who, branch: str) -> list[dict[str, Any]]:
        try:
            return service.recent_commits(who, self.repo.owner, self.repo.name, branch=branch, limit=COMMITS_SHOWN)
        except GitHubError as exc:
            self.problems.append(f"The commits of {branch} could not be read: {exc.message}")
            return []

    def files(self, commit: str) -> tuple[list[dict[str, Any]], bool]:
        tree = self.get(f"files of {commit[:7]}", f"/git/trees/{commit}", None, params={"recursive": "1"})
        if not tree:
            return [], False
        blobs = [{"path": item["path"], "size": item.get("size"), "sha": item["sha"]}
                 for item in tree.get("tree") or [] if item.get("type") == "blob"]
        return blobs[:FILES_SHOWN], bool(tree.get("truncated")) or len(blobs) > FILES_SHOWN

    def file(self, files: list[dict[str, Any]], commit: str, path: str) -> SandboxFile | None:
        """The file at `path` among the commit's `files`, read as its blob; a path not there is a noted problem."""
        listed = next((f for f in files if f["path"] == path), None) if len(path) <= MAX_PATH else None
        if listed is None:
            self.problems.append(f"There is no file {path[:MAX_PATH]} at {commit[:7]}.")
            return None
        blob = self.get(f"file {path}", f"/git/blobs/{listed['sha']}", None)
        if not blob:
            return None
        try:
            content = base64.b64decode(blob.get("content") or "")
        except (binascii.Error, ValueError):
            self.problems.append(f"The file {path} came back in an encoding other than base64.")
            return None
        truncated = len(content) > FILE_BYTES_SHOWN
        try:
            # not final when cut: a character the cut splits is dropped, not taken for binary
            text: str | None = codecs.getincrementaldecoder("utf-8")().decode(content[:FILE_BYTES_SHOWN],
                                                                              final=not truncated)
        except UnicodeDecodeError:
            text = None
        return SandboxFile(path=path, sha=listed["sha"], size=len(content), text=text,
                           truncated=truncated)

    def deployments(self) -> list[dict[str, Any]]:
        found = self.get("deployments", "/deployments", [], params={"per_page": DEPLOYMENTS_SHOWN})
        return [{**d, "statuses": self.get("deployment statuses", f"/deployments/{d['id']}/statuses", [])}
                for d in found]

    def runners(self) -> list[dict[str, Any]]:
        mine = self.get("repository's runners", "/actions/runners", {}).get("runners") or []
        runners = [{**r, "scope": self.repo.full_name} for r in mine]
        installation = db.session.get(Installation, self.installation_id)
        if installation is not None and installation.account_type == "Organization":
            shared = self.get("organisation's runners", "/actions/runners", {},
                              base=f"/orgs/{installation.account_login}").get("runners") or []
            runners += [{**r, "scope": installation.account_login} for r in shared]
        return runners
