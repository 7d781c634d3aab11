"""The catalogue: the shipped defaults, admin-only changes through /api/v1/catalog, entries in use kept."""

from __future__ import annotations

import pytest


@pytest.fixture
def admin_key(catalogue, make_user, make_key):
    return make_key(make_user("admin"), "admin")


def test_default_catalogue_has_a_ladder_and_final_codes(client, reader):
    codes = {c["code"]: c for c in client.get("/api/v1/catalog/state-codes", headers=reader).json}
    assert codes[25]["name"] == "Packer build completed"
    assert codes[10]["phase"] == "created" and not codes[10]["terminal"]
    assert codes[100]["terminal"] and not codes[100]["failure"] and codes[100]["result"] == "succeeded"
    assert codes[900]["terminal"] and codes[900]["failure"] and codes[900]["result"] == "failed"
    assert codes[990]["result"] == "cancelled"
    ladder = [c for c in sorted(codes) if not codes[c]["terminal"]]
    assert ladder[0] == 10 and ladder[-1] < 100
    platforms = {p["slug"] for p in client.get("/api/v1/catalog/platforms", headers=reader).json}
    assert {"aws-commercial", "aws-govcloud", "azure", "gcp"} <= platforms


def test_loading_twice_changes_nothing(app, catalogue):
    from webapp.builds.catalogue import load_default_catalogue

    assert load_default_catalogue() == {"platforms": 0, "os_versions": 0, "image_types": 0, "state_codes": 0}


def test_catalog_load_command(app, db):
    from webapp.builds.models import StateCode

    result = app.test_cli_runner().invoke(args=["catalog", "load"])
    assert result.exit_code == 0, result.output
    assert "19 state codes added" in result.output
    assert db.session.get(StateCode, 25).name == "Packer build completed"


def test_admin_manages_platforms(client, admin_key, reader, db):
    from webapp.core.audit import AuditEvent

    created = client.post("/api/v1/catalog/platforms", headers=admin_key,
                          json={"slug": "oci", "name": "Oracle Cloud", "cloud": "oci"})
    assert created.status_code == 201, created.json
    assert client.get("/api/v1/catalog/platforms/oci", headers=reader).json["name"] == "Oracle Cloud"
    duplicate = client.post("/api/v1/catalog/platforms", headers=admin_key,
                            json={"slug": "oci", "name": "again", "cloud": "oci"})
    assert duplicate.status_code == 409
    renamed = client.patch("/api/v1/catalog/platforms/oci", headers=admin_key, json={"name": "OCI"})
    assert renamed.status_code == 200 and renamed.json["name"] == "OCI"
    bad = client.post("/api/v1/catalog/platforms", headers=admin_key, json={"slug": "Bad Slug", "name": "x",
                                                                             "cloud": "x"})
    assert bad.status_code == 422 and "slug" in bad.json["errors"]
    assert client.delete("/api/v1/catalog/platforms/oci", headers=admin_key).status_code == 204
    assert client.get("/api/v1/catalog/platforms/oci", headers=reader).status_code == 404
    actions = set(db.session.scalars(db.select(AuditEvent.action)))
    assert {"catalog.platform.create", "catalog.platform.update", "catalog.platform.delete"} <= actions


def test_entries_in_use_cannot_be_deleted(client, admin_key, create_build):
    uuid = create_build()["uuid"]
    response = client.delete("/api/v1/catalog/os-versions/rhel-8.8", headers=admin_key)
    assert response.status_code == 409 and response.json["code"] == "in_use"
    assert client.delete("/api/v1/catalog/state-codes/10", headers=admin_key).status_code == 409
    changes_meaning = client.patch("/api/v1/catalog/state-codes/10", headers=admin_key, json={"terminal": True})
    assert changes_meaning.status_code == 409
    rename = client.patch("/api/v1/catalog/state-codes/10", headers=admin_key, json={"name": "Registered"})
    assert rename.status_code == 200
    assert client.get(f"/api/v1/builds/{uuid}/state", headers=admin_key).json["current_state"]["name"] == "Registered"


def test_admin_manages_state_codes(client, admin_key):
    created = client.post("/api/v1/catalog/state-codes", headers=admin_key,
                          json={"code": 27, "name": "Image encrypted", "phase": "build"})
    assert created.status_code == 201 and created.json["terminal"] is False
    bad = client.post("/api/v1/catalog/state-codes", headers=admin_key,
                      json={"code": 28, "name": "x", "phase": "nowhere"})
    assert bad.status_code == 422
    failure_not_terminal = client.post("/api/v1/catalog/state-codes", headers=admin_key,
                                       json={"code": 29, "name": "x", "phase": "failed", "failure": True,
                                             "terminal": False})
    assert failure_not_terminal.status_code == 422
    assert client.delete("/api/v1/catalog/state-codes/27", headers=admin_key).status_code == 204


def test_only_admins_change_the_catalogue(client, catalogue, make_user, make_key):
    maintainer = make_key(make_user("maintainer"), "read", "builds:write")
    body = {"slug": "oci", "name": "Oracle Cloud", "cloud": "oci"}
    assert client.post("/api/v1/catalog/platforms", json=body, headers=maintainer).status_code == 403
    assert client.delete("/api/v1/catalog/platforms/azure", headers=maintainer).status_code == 403
    assert client.post("/api/v1/catalog/platforms", json=body).status_code == 401
    admin_read_only = make_key(make_user("admin"), "read")
    assert client.post("/api/v1/catalog/platforms", json=body, headers=admin_read_only).status_code == 403
    assert client.get("/api/v1/catalog/platforms", headers=maintainer).status_code == 200


def test_github_mappings_api(client, admin_key, make_repo):
    make_repo("octo-org/octo-repo", 300029405)
    body = {"repository": "octo-org/octo-repo", "platform": "gcp", "os_version": "ubuntu-22.04",
            "image_type": "base"}
    created = client.post("/api/v1/catalog/github-mappings", json=body, headers=admin_key)
    assert created.status_code == 201, created.json
    assert created.json["workflow_name"] == "" and created.json["platform"] == "gcp"
    assert client.post("/api/v1/catalog/github-mappings", json=body, headers=admin_key).status_code == 409
    unknown = client.post("/api/v1/catalog/github-mappings", json={**body, "image_type": "x"}, headers=admin_key)
    assert unknown.status_code == 422 and "base" in unknown.json["errors"]["image_type"][0]
    listed = client.get("/api/v1/catalog/github-mappings", headers=admin_key).json
    assert [m["repository"] for m in listed] == ["octo-org/octo-repo"]
    mapping_id = created.json["id"]
    assert client.delete(f"/api/v1/catalog/github-mappings/{mapping_id}", headers=admin_key).status_code == 204
    assert client.delete(f"/api/v1/catalog/github-mappings/{mapping_id}", headers=admin_key).status_code == 404


def test_names_longer_than_their_columns_are_422(client, admin_key, reader):
    huge = "x" * 100_000
    created = client.post("/api/v1/catalog/platforms", headers=admin_key,
                          json={"slug": "oci", "name": huge, "cloud": "oci"})
    assert created.status_code == 422, created.get_data(as_text=True)[:300]
    assert "name" in created.json["errors"]["json"]
    assert client.post("/api/v1/catalog/platforms", headers=admin_key,
                       json={"slug": "oci", "name": "Oracle", "cloud": "oci"}).status_code == 201
    renamed = client.patch("/api/v1/catalog/platforms/oci", headers=admin_key, json={"name": huge})
    assert renamed.status_code == 422 and "name" in renamed.json["errors"]["json"]
    os_version = client.post("/api/v1/catalog/os-versions", headers=admin_key,
                             json={"slug": "x" * 65, "name": "n", "family": "f"})
    assert os_version.status_code == 422
    spec = client.get("/api/openapi.json").json["components"]["schemas"]
    assert spec["Platform"]["properties"]["name"]["maxLength"] == 200


def test_github_mappings_list_only_repositories_the_reader_sees(client, admin_key, make_repo, make_user, make_key):
    viewer = make_user("viewer")
    make_repo("octo-org/open", 301, users=(viewer,))
    make_repo("octo-org/secret", 302)
    for name in ("octo-org/open", "octo-org/secret"):
        body = {"repository": name, "workflow_name": f"{name.split('/')[1]}-images", "platform": "gcp",
                "os_version": "ubuntu-22.04", "image_type": "base"}
        assert client.post("/api/v1/catalog/github-mappings", json=body, headers=admin_key).status_code == 201
    listed = client.get("/api/v1/catalog/github-mappings", headers=make_key(viewer, "read")).json
    assert [(m["repository"], m["workflow_name"]) for m in listed] == [("octo-org/open", "open-images")]
    # an admin's read-only key is no admin: it sees what its owner was granted (here nothing)
    assert client.get("/api/v1/catalog/github-mappings", headers=make_key(make_user("admin"), "read")).json == []
    everything = client.get("/api/v1/catalog/github-mappings", headers=admin_key).json
    assert [m["repository"] for m in everything] == ["octo-org/open", "octo-org/secret"]
