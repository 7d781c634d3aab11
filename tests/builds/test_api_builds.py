"""The Build State API: idempotent creation, states, failures, reads, lists and who may do what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.builds.conftest import build_body


def test_create_returns_uuid_and_initial_state(client, writer, db):
    from webapp.builds.models import Build, BuildStateEvent

    response = client.post("/api/v1/builds", json=build_body(metadata={"packer": "1.11"}), headers=writer)
    assert response.status_code == 201, response.json
    body = response.json
    assert body["build_id"] == "concourse-images-1042"
    assert body["platform"] == "aws-commercial" and body["image_type"] == "sap-hana"
    assert body["current_state"]["code"] == 10 and body["result"] == "in_progress"
    assert body["metadata"] == {"packer": "1.11"}
    db.session.expire_all()
    build = db.session.scalar(db.select(Build))
    assert str(build.uuid) == body["uuid"]
    assert [e.state_code for e in db.session.scalars(db.select(BuildStateEvent))] == [10]


def test_same_build_id_same_body_is_answered_with_the_same_build(client, writer, create_build, db):
    from webapp.builds.models import Build

    first = create_build()
    again = client.post("/api/v1/builds", json=build_body(), headers=writer)
    assert again.status_code == 200
    assert again.json["uuid"] == first["uuid"]
    assert db.session.scalar(db.select(db.func.count()).select_from(Build)) == 1


def test_same_build_id_other_body_is_a_conflict_naming_the_differences(client, writer, create_build):
    create_build()
    response = client.post("/api/v1/builds", json=build_body(os_version="ubuntu-22.04", commit_hash="abc123"),
                           headers=writer)
    assert response.status_code == 409
    assert response.json["code"] == "build_id_conflict"
    assert set(response.json["errors"]) == {"os_version", "commit_hash"}
    assert "rhel-8.8" in response.json["errors"]["os_version"][0]


def test_unknown_catalogue_entries_are_422_listing_valid_values(client, writer):
    response = client.post("/api/v1/builds", json=build_body(platform="aws-mars", image_type="nope"), headers=writer)
    assert response.status_code == 422
    errors = response.json["errors"]
    assert "aws-commercial" in errors["platform"][0] and "aws-govcloud" in errors["platform"][0]
    assert "sap-hana" in errors["image_type"][0]
    assert "os_version" not in errors


@pytest.mark.parametrize("body, field", [
    ({"platform": "aws-commercial"}, "build_id"),
    (build_body(commit_hash="not-hex!"), "commit_hash"),
    (build_body(pipeline_url="ftp://x"), "pipeline_url"),
    (build_body(metadata=[1, 2]), "metadata"),
    (build_body(surprise=1), "surprise"),
])
def test_bad_bodies_are_422(client, writer, body, field):
    response = client.post("/api/v1/builds", json=body, headers=writer)
    assert response.status_code == 422
    assert field in str(response.json["errors"])


def test_state_updates_move_the_current_state_and_append_history(client, writer, create_build):
    uuid = create_build()["uuid"]
    response = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 25, "message": "AMI captured"},
                           headers=writer)
    assert response.status_code == 201, response.json
    assert response.json["current_state"]["name"] == "Packer build completed"
    assert response.json["event"]["applied"] is True and response.json["appended"] is True
    state = client.get(f"/api/v1/builds/{uuid}/state", headers=writer).json
    assert state["current_state"]["code"] == 25 and state["message"] == "AMI captured" and state["in_flight"]
    history = client.get(f"/api/v1/builds/{uuid}/history", headers=writer).json
    assert [e["state_code"] for e in history["events"]] == [10, 25]


def test_unknown_state_code_is_422_listing_codes(client, writer, create_build):
    uuid = create_build()["uuid"]
    response = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 7}, headers=writer)
    assert response.status_code == 422
    assert "25" in response.json["errors"]["state_code"][0]


def test_terminal_state_is_final(client, writer, create_build):
    uuid = create_build()["uuid"]
    done = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 100}, headers=writer)
    assert done.status_code == 201 and done.json["result"] == "succeeded"
    later = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 30}, headers=writer)
    assert later.status_code == 409 and later.json["code"] == "build_finished"
    other_end = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 900}, headers=writer)
    assert other_end.status_code == 409
    # a CI retry of the very same terminal report is not an error
    retry = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 100}, headers=writer)
    assert retry.status_code == 200 and retry.json["appended"] is False
    history = client.get(f"/api/v1/builds/{uuid}/history", headers=writer).json
    assert [e["state_code"] for e in history["events"]] == [10, 100]
    build = client.get(f"/api/v1/builds/{uuid}", headers=writer).json
    assert build["finished_at"] and build["duration_seconds"] is not None


def test_older_update_joins_history_without_moving_the_state_back(client, writer, create_build):
    uuid = create_build()["uuid"]
    now = datetime.now(UTC) + timedelta(minutes=10)
    client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 30, "occurred_at": now.isoformat()},
                headers=writer)
    late = client.post(f"/api/v1/builds/{uuid}/state",
                       json={"state_code": 25, "occurred_at": (now - timedelta(minutes=5)).isoformat()},
                       headers=writer)
    assert late.status_code == 201
    assert late.json["event"]["applied"] is False
    assert late.json["current_state"]["code"] == 30
    history = client.get(f"/api/v1/builds/{uuid}/history", headers=writer).json["events"]
    assert [e["state_code"] for e in history] == [10, 25, 30]  # in the order they happened
    assert [e["applied"] for e in history] == [True, False, True]


def test_repeated_report_is_recorded_once(client, writer, create_build):
    uuid = create_build()["uuid"]
    report = {"state_code": 20, "message": "packer build", "occurred_at": "2030-01-01T10:00:00Z"}
    assert client.post(f"/api/v1/builds/{uuid}/state", json=report, headers=writer).status_code == 201
    again = client.post(f"/api/v1/builds/{uuid}/state", json=report, headers=writer)
    assert again.status_code == 200 and again.json["appended"] is False
    events = client.get(f"/api/v1/builds/{uuid}/history", headers=writer).json["events"]
    assert [e["state_code"] for e in events] == [10, 20]


def test_failure_is_recorded_with_details(client, writer, create_build):
    uuid = create_build()["uuid"]
    response = client.post(f"/api/v1/builds/{uuid}/failure", headers=writer, json={
        "error_message": "Timeout waiting for SSH", "error_code": "PACKER_TIMEOUT", "component": "packer",
        "details": {"region": "us-east-1", "attempt": 2}})
    assert response.status_code == 201, response.json
    assert response.json["component"] == "packer" and response.json["details"]["attempt"] == 2
    listed = client.get(f"/api/v1/builds/{uuid}/failure", headers=writer).json
    assert [f["error_code"] for f in listed] == ["PACKER_TIMEOUT"]
    assert client.get(f"/api/v1/builds/{uuid}", headers=writer).json["failure_count"] == 1
    missing = client.post(f"/api/v1/builds/{uuid}/failure", json={"component": "x"}, headers=writer)
    assert missing.status_code == 422 and "error_message" in missing.json["errors"]["json"]


def test_unknown_or_malformed_uuid_is_404(client, writer):
    assert client.get("/api/v1/builds/not-a-uuid", headers=writer).status_code == 404
    response = client.post("/api/v1/builds/00000000-0000-0000-0000-000000000000/state", json={"state_code": 20},
                           headers=writer)
    assert response.status_code == 404


def test_list_filters_and_cursor_pagination(client, writer, create_build):
    for i in range(5):
        create_build(f"b-{i}", platform="azure" if i % 2 else "gcp", commit_hash=f"{i:x}" * 40)
    newest_first = client.get("/api/v1/builds?limit=2", headers=writer).json
    assert [b["build_id"] for b in newest_first["items"]] == ["b-4", "b-3"]
    second = client.get(f"/api/v1/builds?limit=2&cursor={newest_first['next_cursor']}", headers=writer).json
    assert [b["build_id"] for b in second["items"]] == ["b-2", "b-1"]
    azure = client.get("/api/v1/builds?platform=azure", headers=writer).json["items"]
    assert sorted(b["build_id"] for b in azure) == ["b-1", "b-3"]
    by_commit = client.get("/api/v1/builds?commit=2222", headers=writer).json["items"]
    assert [b["build_id"] for b in by_commit] == ["b-2"]
    by_text = client.get("/api/v1/builds?text=B-4", headers=writer).json["items"]
    assert [b["build_id"] for b in by_text] == ["b-4"]
    uuid = azure[0]["uuid"]
    client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 910}, headers=writer)
    failed = client.get("/api/v1/builds?result=failed", headers=writer).json["items"]
    assert [b["uuid"] for b in failed] == [uuid]
    assert [b["uuid"] for b in client.get("/api/v1/builds?state=910", headers=writer).json["items"]] == [uuid]
    future = client.get("/api/v1/builds?since=2099-01-01T00:00:00Z", headers=writer).json["items"]
    assert future == []
    assert client.get("/api/v1/builds?until=2099-01-01T00:00:00Z", headers=writer).json["items"]
    bad = client.get("/api/v1/builds?platform=moon", headers=writer)
    assert bad.status_code == 422 and "aws-commercial" in str(bad.json["errors"])
    assert client.get("/api/v1/builds?cursor=garbage", headers=writer).status_code == 422


def test_repository_by_full_name_and_filter(client, writer, create_build, make_repo, make_user, make_key):
    maintainer = make_user("maintainer")
    make_repo("octo-org/images", 42, users=(maintainer,))
    key = make_key(maintainer, "read", "builds:write")
    created = create_build("with-repo", repository="octo-org/images", headers=key)
    assert created["repository"] == "octo-org/images"
    create_build("without-repo")
    listed = client.get("/api/v1/builds?repository=octo-org/images", headers=key).json["items"]
    assert [b["build_id"] for b in listed] == ["with-repo"]
    by_id = client.post("/api/v1/builds", json=build_body("by-id", repository=42), headers=key)
    assert by_id.status_code == 201 and by_id.json["repository"] == "octo-org/images"
    unknown = client.post("/api/v1/builds", json=build_body("x", repository="octo-org/nope"), headers=key)
    assert unknown.status_code == 422 and "repository" in unknown.json["errors"]


# --- access --------------------------------------------------------------------------------


def test_anonymous_and_wrong_keys_are_refused(client, catalogue, make_user, make_key, create_build):
    uuid = create_build()["uuid"]
    assert client.post("/api/v1/builds", json=build_body("a")).status_code == 401
    assert client.get(f"/api/v1/builds/{uuid}").status_code == 401
    viewer = make_key(make_user("viewer"), "read")
    assert client.get(f"/api/v1/builds/{uuid}", headers=viewer).status_code == 200
    assert client.post("/api/v1/builds", json=build_body("a"), headers=viewer).status_code == 403
    assert client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 20}, headers=viewer).status_code == 403
    read_only_maintainer = make_key(make_user("maintainer"), "read")
    response = client.post("/api/v1/builds", json=build_body("a"), headers=read_only_maintainer)
    assert response.status_code == 403 and response.json["code"] == "scope_required"
    other_scope = make_key(make_user("maintainer"), "runners:write")
    assert client.get(f"/api/v1/builds/{uuid}", headers=other_scope).status_code == 403


def test_non_admins_see_unowned_builds_and_their_repositories_only(client, catalogue, make_user, make_key,
                                                                   make_repo, create_build):
    maintainer = make_user("maintainer")
    mine = make_repo("octo-org/mine", 1, users=(maintainer,))
    make_repo("octo-org/theirs", 2)
    key = make_key(maintainer, "read", "builds:write")
    admin_key = make_key(make_user("admin"), "admin")
    create_build("unowned")
    create_build("in-mine", repository=mine.full_name, headers=key)
    theirs = create_build("in-theirs", repository="octo-org/theirs", headers=admin_key)

    listed = client.get("/api/v1/builds", headers=key).json["items"]
    assert sorted(b["build_id"] for b in listed) == ["in-mine", "unowned"]
    assert client.get(f"/api/v1/builds/{theirs['uuid']}", headers=key).status_code == 404
    assert client.get(f"/api/v1/builds/{theirs['uuid']}/history", headers=key).status_code == 404
    assert client.post(f"/api/v1/builds/{theirs['uuid']}/state", json={"state_code": 20},
                       headers=key).status_code == 404
    assert client.post(f"/api/v1/builds/{theirs['uuid']}/failure", json={"error_message": "x"},
                       headers=key).status_code == 404
    # nor can they create builds in it, or learn about its build by reusing the build_id
    refused = client.post("/api/v1/builds", json=build_body("new", repository="octo-org/theirs"), headers=key)
    assert refused.status_code == 422
    reuse = client.post("/api/v1/builds", json=build_body("in-theirs", repository="octo-org/theirs"), headers=key)
    assert reuse.status_code in (409, 422)
    assert "errors" not in reuse.json or "platform" not in reuse.json.get("errors", {})
    assert len(client.get("/api/v1/builds", headers=admin_key).json["items"]) == 3


@pytest.mark.parametrize("where", [None, "octo-org/mine"], ids=["no repository", "own repository"])
def test_a_build_id_taken_in_a_hidden_repository_is_answered_as_if_it_did_not_exist(
        client, db, catalogue, make_user, make_key, make_repo, create_build, where):
    maintainer = make_user("maintainer")
    make_repo("octo-org/mine", 1, users=(maintainer,))
    make_repo("octo-org/theirs", 2)
    key = make_key(maintainer, "read", "builds:write")
    hidden = create_build("shared-7", repository="octo-org/theirs",
                          headers=make_key(make_user("admin"), "admin"))
    body = build_body("shared-7", repository=where, platform="azure")

    created = client.post("/api/v1/builds", json=body, headers=key)
    again = client.post("/api/v1/builds", json=body, headers=key)
    other = client.post("/api/v1/builds", json=build_body("shared-7", repository=where), headers=key)

    assert created.status_code == 201, created.json
    assert created.json["uuid"] != hidden["uuid"] and created.json["repository"] == where
    assert again.status_code == 200 and again.json["uuid"] == created.json["uuid"]
    assert other.status_code == 409 and other.json["errors"] == {"platform": [
        "this build_id was created with 'azure', this request sends 'aws-commercial'"]}
    stored = db.session.execute(sa.text("SELECT repository_id FROM builds WHERE build_id = 'shared-7'")).scalars()
    assert sorted(stored, key=str) == sorted([2, 1 if where else None], key=str)


def test_creation_is_audited(client, writer, create_build, db):
    from webapp.core.audit import AuditEvent

    build = create_build()
    db.session.expire_all()
    event = db.session.scalar(db.select(AuditEvent).where(AuditEvent.action == "build.create"))
    assert event.target_id == build["uuid"] and event.details["build_id"] == "concourse-images-1042"


@pytest.mark.parametrize("method, url, body", [
    ("post", "/api/v1/builds", build_body("nul\x00id")),
    ("post", "/api/v1/builds", build_body(metadata={"k": "v\x00"})),
    ("post", "/api/v1/builds", build_body(repository=2**70)),
    ("get", "/api/v1/builds?text=a%00b", None),
    ("get", "/api/v1/builds?state=99999999999", None),
    ("get", "/api/v1/builds?cursor=WyIyMDIwLTAxLTAxVDAwOjAwOjAwKzAwOjAwIiwgIngiXQ", None),
    ("get", "/api/v1/catalog/state-codes/99999999999", None),
    ("get", "/api/v1/catalog/platforms/a%00b", None),
    ("get", "/api/v1/dashboard/platform/a%00b", None),
])
def test_hostile_input_is_a_4xx_not_a_crash(client, writer, create_build, method, url, body):
    uuid = create_build()["uuid"]
    response = getattr(client, method)(url, json=body, headers=writer)
    assert 400 <= response.status_code < 500, response.get_data(as_text=True)
    huge = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 2**40}, headers=writer)
    assert huge.status_code == 422
