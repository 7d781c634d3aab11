"""The Build State API's users, moved to Gantry: every request its document shows, in its order, at
/compat/build-state (seed 003), and its Concourse pipeline run with curl and jq against a live server.

The requests are read from the document itself (tests/compat/seeds/003_build_state_api.md); only
the base URL is swapped. The deployment has the document's keys in API_KEYS and its user.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.compat.seed_document import curl_requests, document

BASE = "/compat/build-state"
DOC = "003_build_state_api.md"
DOC_BASES = ("http://localhost:8080", "http://status.localbuild.api", "http://build-api.example.com")
DOC_KEYS = ("dev-key-12345", "your-api-key", "prod-key-67890")


@pytest.fixture
def deployment(app: Any, make_user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The document's setting (API_KEYS), its user, and a fresh database's catalogue."""
    from webapp.builds.catalogue import load_default_catalogue

    hashes = [hashlib.sha256(key.encode()).hexdigest() for key in DOC_KEYS]
    monkeypatch.setitem(app.config, "API_KEY_HASHES", hashes)
    make_user("viewer", username="your-user", password="your-password")
    load_default_catalogue()  # what migration 0016 loads into a fresh database (tests/test_migrations.py)


def _expect(method: str, path: str, response: Any, uuid: str | None) -> None:
    """The answer the document promises (or, where it shows none, what its names promise)."""
    said = f"{method} {path}: {response.status_code} {response.get_data(as_text=True)[:300]}"
    assert response.mimetype == "application/json", said
    body = response.json
    if path == "/health":
        assert response.status_code == 200 and body == {"status": "healthy"}, said
    elif path == "/ready":
        assert response.status_code == 200 and body == {"database": True, "redis": True, "overall": True}, said
    elif path in ("/status", "/"):
        assert response.status_code == 200 and set(body) == {"overall_status", "timestamp", "components"}, said
        components = {c["name"]: c for c in body["components"]}
        assert components["api-local"] == {"name": "api-local", "status": "healthy", "details": "OK"}
        assert components["database"] == {"name": "database", "status": "healthy", "details": "PostgreSQL connection"}
        assert components["redis"] == {"name": "redis", "status": "healthy", "details": "Redis cache"}
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}", body["timestamp"]), said
    elif path == "/token":
        assert response.status_code == 200 and body["token_type"] == "bearer" and body["access_token"], said
    elif path.startswith("/dashboard/"):
        assert response.status_code == 200, said
        if path == "/dashboard/platform/aws-commercial":
            assert body["platform"]["slug"] == "aws-commercial", said
    elif (method, path) == ("POST", "/builds"):
        assert response.status_code == 201, said
        assert body["id"] == body["uuid"] and body["build_id"] == "my-build-001", said
        assert (body["platform"], body["os_version"], body["image_type"]) == ("aws-commercial", "rhel-8.8", "base")
        assert body["current_state"] == 10 and body["commit_hash"] == "abc123def456", said
    elif path == f"/builds/{uuid}/state" and method == "POST":
        assert response.status_code == 201, said
        assert body["current_state"] == 25 and body["message"] == "Packer build completed successfully", said
        assert body["result"] == "succeeded" and body["in_flight"] is False, said
    elif path == f"/builds/{uuid}/failure":
        assert response.status_code == 201, said
        assert body["error_code"] == "PACKER_TIMEOUT" and body["details"] == {"timeout_seconds": 3600, "attempt": 1}
    elif path == f"/builds/{uuid}/state":
        assert response.status_code == 200 and body["current_state"] == 25 and body["id"] == uuid, said
    elif path == f"/builds/{uuid}":
        assert response.status_code == 200 and body["current_state"] == 25 and body["failure_count"] == 1, said
    else:
        raise AssertionError(f"the document shows a request this test does not check: {said}")


def test_every_documented_request_answers_as_documented(client: Any, deployment: None) -> None:
    requests = curl_requests(document(DOC))
    assert len(requests) == 18
    values: dict[str, str] = {}
    seen = []
    for request in requests:
        response = request.send(client, BASE, DOC_BASES, values)
        path = request.path(DOC_BASES)
        for placeholder, value in values.items():
            path = path.replace(placeholder, value)
        _expect(request.method, path, response, values.get("{build-uuid}"))
        seen.append(f"{request.method} {request.path(DOC_BASES)}")
        if path == "/token":
            values["YOUR_JWT_TOKEN"] = response.json["access_token"]
        if (request.method, path) == ("POST", "/builds"):
            values["{build-uuid}"] = response.json["id"]
    assert "POST /builds/{build-uuid}/failure" in seen and "GET /" in seen


def test_static_keys_act_as_one_service_user_and_are_stored_only_as_hashes(client: Any, db: Any,
                                                                         deployment: None) -> None:
    from webapp.auth.models import ApiKey, User

    assert client.get(f"{BASE}/dashboard/summary", headers={"X-API-Key": "dev-key-12345"}).status_code == 200
    assert client.get(f"{BASE}/dashboard/summary", headers={"X-API-Key": "your-api-key"}).status_code == 200
    keys = db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id)).all()
    assert [k.key_hash for k in keys] == [hashlib.sha256(b"dev-key-12345").hexdigest(),
                                          hashlib.sha256(b"your-api-key").hexdigest()]
    assert all(k.user.username == "api-keys" and k.scopes == ["read", "builds:write"] for k in keys)
    assert all("dev-key" not in k.prefix and "your-api" not in k.prefix for k in keys)
    assert db.session.scalar(sa.select(User).where(User.username == "api-keys")).role == "maintainer"
    # A static key writes builds, never more: no user administration, no catalogue changes.
    assert client.get("/api/v1/users", headers={"X-API-Key": "dev-key-12345"}).status_code == 403
    assert client.get(f"{BASE}/dashboard/summary", headers={"X-API-Key": "not-a-listed-key"}).status_code == 401


def test_a_static_key_removed_from_api_keys_or_revoked_stops_working(app: Any, client: Any, db: Any,
                                                                     deployment: None,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp.auth.models import ApiKey
    from webapp.core.models import utcnow

    headers = {"X-API-Key": "dev-key-12345"}
    assert client.get(f"{BASE}/builds", headers=headers).status_code == 200
    key = db.session.scalar(sa.select(ApiKey))
    key.revoked_at = utcnow()
    db.session.commit()
    assert client.get(f"{BASE}/builds", headers=headers).status_code == 401
    monkeypatch.setitem(app.config, "API_KEY_HASHES", [])
    assert client.get(f"{BASE}/builds", headers={"X-API-Key": "your-api-key"}).status_code == 401


def test_the_documented_pipeline_body_with_platform_aws_and_the_build_id_filter(client: Any,
                                                                               deployment: None) -> None:
    headers = {"X-API-Key": "dev-key-12345", "Content-Type": "application/json"}
    body = '{"platform":"aws","os_version":"rhel-8.8","image_type":"base","build_id":"my-build-1733390000"}'
    created = client.post(f"{BASE}/builds", headers=headers, data=body)
    assert created.status_code == 201 and created.json["platform"] == "aws-commercial"
    client.post(f"{BASE}/builds", headers=headers,
                data=body.replace("my-build-1733390000", "my-build-1733390001"))
    listed = client.get(f"{BASE}/builds?build_id=my-build-1733390000", headers=headers)
    assert listed.status_code == 200 and [b["id"] for b in listed.json] == [created.json["id"]]
    catalogue = client.get("/api/v1/catalog/platforms", headers=headers).json
    assert {"slug": "aws-commercial", "aliases": ["aws"]}.items() <= next(
        p for p in catalogue if p["slug"] == "aws-commercial").items()


def test_errors_are_fastapi_style(client: Any, deployment: None) -> None:
    headers = {"X-API-Key": "dev-key-12345"}
    unknown = client.post(f"{BASE}/builds", headers=headers, json={"platform": "amazon", "os_version": "rhel-8.8",
                                                                   "image_type": "base", "build_id": "x"})
    assert unknown.status_code == 422
    assert unknown.json["detail"][0]["loc"] == ["body", "platform"]
    assert "aws-commercial (aws)" in unknown.json["detail"][0]["msg"]
    missing = client.post(f"{BASE}/builds", headers=headers, json={"platform": "aws"})
    assert missing.status_code == 422
    assert {tuple(d["loc"]) for d in missing.json["detail"]} >= {("body", "build_id"), ("body", "os_version")}
    assert client.get(f"{BASE}/builds/not-a-uuid", headers=headers).json["code"] == "not_found"
    assert client.get(f"{BASE}/dashboard/summary").status_code == 401
    wrong = client.post(f"{BASE}/token", json={"username": "your-user", "password": "nope-nope-nope"})
    assert wrong.status_code == 401 and wrong.json["detail"] == "Wrong username or password."


# --- the Concourse pipeline, with real curl and jq ----------------------------------------------


def _pipeline_scripts() -> dict[str, str]:
    """task name -> its `sh -c` script, as the document's pipeline YAML has it."""
    yaml_block = document(DOC).split("```yaml\n", 1)[1].split("```", 1)[0]
    scripts = {}
    for task in re.split(r"^- task: ", yaml_block, flags=re.M)[1:]:
        name = task.split("\n", 1)[0].strip()
        body = task.split("- |\n", 1)[1]
        lines = body.splitlines()
        indent = len(lines[0]) - len(lines[0].lstrip())
        scripts[name] = "\n".join(line[indent:] for line in lines if line.strip()) + "\n"
    return scripts


def test_the_concourse_pipeline_runs_unchanged_and_ends_with_the_build_succeeded(
        server: str, deployment: None, tmp_path: Path, db: Any) -> None:
    from webapp.builds.models import Build

    scripts = _pipeline_scripts()
    assert list(scripts) == ["create-build", "update-state", "check-state"]
    env = {"PATH": os.environ["PATH"], "API_KEY": "prod-key-67890", "HOME": str(tmp_path)}

    def run(task: str) -> str:
        script = scripts[task].replace("http://build-api.example.com", server + BASE)  # the base URL, nothing else
        done = subprocess.run(["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 0, (task, done.stdout, done.stderr)
        return done.stdout

    created = run("create-build")
    assert created.startswith("Build created: {")
    # Concourse hands the uuid to the next task as a file; this pipeline's output step writes it.
    uuid = subprocess.run(["jq", "-r", ".id"], input=created.removeprefix("Build created: "), capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / "build-uuid.txt").write_text(uuid + "\n")
    run("update-state")
    assert run("check-state").strip().endswith("Current state: 25")
    db.session.expire_all()
    build = db.session.scalar(sa.select(Build))
    assert build.platform.slug == "aws-commercial" and build.result == "succeeded" and build.finished_at
