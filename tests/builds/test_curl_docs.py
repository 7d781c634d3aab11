"""The curl commands of README's "Builds" section run, exactly as written, against the app."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from tests.found import found

README = Path(__file__).resolve().parents[2] / "README.md"
ASSIGN = re.compile(r"^(\w+)=\$\((.*)\)$", re.S)


def _commands() -> list[str]:
    section = README.read_text().split("\n## Builds\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    commands = []
    for block in blocks:
        text = block.replace("\\\n", " ").strip()
        if text.startswith("export "):
            continue
        commands.append(text)
    return commands


def _jq(value: Any, path: str) -> Any:
    for key in path.strip(".").split("."):
        value = value[key]
    return value


def _run(client: Any, command: str, env: dict[str, str]) -> tuple[Any, str | None]:
    """Turn one curl command into a test-client request; returns (response, value for `VAR=$(...)`)."""
    assign = ASSIGN.match(command)
    if assign:
        command = assign.group(2)
    tokens = shlex.split(command)
    jq = None
    if "|" in tokens:
        cut = tokens.index("|")
        tokens, pipe = tokens[:cut], tokens[cut + 1:]
        assert pipe[:2] == ["jq", "-r"], pipe
        jq = pipe[2]
    assert tokens[0] == "curl"
    method, headers, data, url = "GET", {}, None, None
    args = iter(tokens[1:])
    for token in args:
        if token in ("-sS", "--fail-with-body", "-s", "-S"):
            continue
        if token == "-X":
            method = next(args)
        elif token == "-H":
            name, _, value = next(args).partition(":")
            headers[name.strip()] = value.strip()
        elif token in ("-d", "--data"):
            data = next(args)
            method = method if method != "GET" else "POST"
        else:
            assert url is None, f"unexpected token {token!r}"
            url = token
    assert url is not None

    def expand(text: str) -> str:
        return re.sub(r"\$(\w+)", lambda m: env[m.group(1)], text)

    url = expand(url)
    headers = {k: expand(v) for k, v in headers.items()}
    response = client.open(url, method=method, headers=headers, data=data)
    assert response.status_code < 400, (command, response.status_code, response.get_data(as_text=True))
    result: str | None = None
    if jq:
        result = str(_jq(response.json, jq))
    if assign:
        env[assign.group(1)] = result or ""
    return response, result


def test_the_documented_pipeline_runs_against_gantry(client, writer, db):
    from webapp.builds.models import Build, BuildFailure

    commands = _commands()
    kinds = [found(re.search(r"/api/v1/builds(/\$BUILD_UUID/(\w+))?", c)).group(2) or "create" for c in commands]
    assert kinds[0] == "create" and {"state", "failure"} <= set(kinds)
    assert commands[-1].startswith("curl") and "-X POST" not in commands[-1]  # ends by reading the state

    env = {"GANTRY_URL": "", "GANTRY_API_KEY": writer["X-API-Key"]}
    results = [_run(client, command, env) for command in commands]
    assert re.fullmatch(r"[0-9a-f-]{36}", env["BUILD_UUID"])
    assert results[0][0].status_code == 201
    assert results[-1][1] == "Image tests failed"

    build = db.session.scalar(db.select(Build))
    assert build.build_id == "images-rhel-8.8-sap-hana-1042" and build.result == "failed"
    assert db.session.scalar(db.select(BuildFailure.component)) == "inspec-tests"

    # the create step is safe to retry, as the text says
    again = _run(client, commands[0], dict(env))
    assert again[0].status_code == 200 and again[1] == env["BUILD_UUID"]
    assert json.loads(again[0].get_data())["uuid"] == env["BUILD_UUID"]
