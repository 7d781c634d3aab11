"""A build's final state ends it as a success; catalogue aliases name entries; builds filter by build_id."""

from __future__ import annotations

from typing import Any

BODY = {"platform": "aws", "os_version": "rhel-8.8", "image_type": "base", "build_id": "images-1"}


def test_an_alias_names_its_entry_and_the_catalogue_shows_it(client: Any, writer: dict[str, str],
                                                            reader: dict[str, str]) -> None:
    response = client.post("/api/v1/builds", json=BODY, headers=writer)
    assert response.status_code == 201, response.json
    assert response.json["platform"] == "aws-commercial"
    platforms = {p["slug"]: p for p in client.get("/api/v1/catalog/platforms", headers=reader).json}
    assert platforms["aws-commercial"]["aliases"] == ["aws"]
    # The same build named by its slug is the same build: nothing differs.
    again = client.post("/api/v1/builds", json={**BODY, "platform": "aws-commercial"}, headers=writer)
    assert again.status_code == 200 and again.json["uuid"] == response.json["uuid"]
    listed = client.get("/api/v1/builds?platform=aws", headers=reader).json["items"]
    assert [b["build_id"] for b in listed] == ["images-1"]


def test_unknown_names_list_the_valid_ones_with_their_aliases(client: Any, writer: dict[str, str]) -> None:
    response = client.post("/api/v1/builds", json={**BODY, "platform": "amazon"}, headers=writer)
    assert response.status_code == 422
    assert "aws-commercial (aws)" in response.json["errors"]["platform"][0]


def test_aliases_are_unique_across_the_kind(client: Any, make_user: Any, make_key: Any, catalogue: None) -> None:
    admin = make_key(make_user("admin"), "admin")
    clash = client.patch("/api/v1/catalog/platforms/gcp", json={"aliases": ["aws"]}, headers=admin)
    assert clash.status_code == 422 and "'aws' already names 'aws-commercial'" in clash.json["errors"]["aliases"][0]
    taken = client.post("/api/v1/catalog/platforms", json={"slug": "aws", "name": "AWS", "cloud": "aws"},
                        headers=admin)
    assert taken.status_code == 409
    changed = client.patch("/api/v1/catalog/platforms/gcp", json={"aliases": ["GCE", "google"]}, headers=admin)
    assert changed.status_code == 200 and changed.json["aliases"] == ["gce", "google"]


def test_reaching_the_final_state_ends_the_build_as_succeeded(client: Any, writer: dict[str, str]) -> None:
    uuid = client.post("/api/v1/builds", json={**BODY, "final_state": 25}, headers=writer).json["uuid"]
    response = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 22}, headers=writer)
    assert response.json["in_flight"] is True
    response = client.post(f"/api/v1/builds/{uuid}/state",
                           json={"state_code": 25, "message": "Packer build completed successfully"}, headers=writer)
    assert response.status_code == 201
    assert response.json["result"] == "succeeded" and response.json["in_flight"] is False
    assert response.json["finished_at"] and response.json["final_state"] == 25
    later = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 30}, headers=writer)
    assert later.status_code == 409 and later.json["code"] == "build_finished"


def test_without_a_final_state_the_ladder_goes_on(client: Any, writer: dict[str, str]) -> None:
    uuid = client.post("/api/v1/builds", json=BODY, headers=writer).json["uuid"]
    response = client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 25}, headers=writer)
    assert response.json["result"] == "in_progress" and response.json["final_state"] is None
    assert client.post(f"/api/v1/builds/{uuid}/state", json={"state_code": 30}, headers=writer).status_code == 201


def test_an_unknown_final_state_is_refused(client: Any, writer: dict[str, str]) -> None:
    response = client.post("/api/v1/builds", json={**BODY, "final_state": 26}, headers=writer)
    assert response.status_code == 422 and response.json["code"] == "unknown_state_code"


def test_builds_filter_by_build_id(client: Any, writer: dict[str, str], reader: dict[str, str]) -> None:
    for build_id in ("images-1", "images-10", "other"):
        client.post("/api/v1/builds", json={**BODY, "build_id": build_id}, headers=writer)
    listed = client.get("/api/v1/builds?build_id=images-1", headers=reader).json["items"]
    assert [b["build_id"] for b in listed] == ["images-1"]
    assert client.get("/api/v1/builds?build_id=nope", headers=reader).json["items"] == []
