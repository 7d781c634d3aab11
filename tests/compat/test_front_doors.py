"""The front doors as a whole: registered from one list, FastAPI-style JSON errors, one OpenAPI tag each."""

from __future__ import annotations

from typing import Any

import pytest

from webapp.compat import FRONT_DOORS, validation_detail

BASES = {"webapp.compat.blazeci": "/compat/blazeci", "webapp.compat.release_manager": "/compat/release-manager",
         "webapp.compat.build_state": "/compat/build-state", "webapp.compat.webhook_manager": "/compat/webhook-manager",
         "webapp.compat.infrajet": "/compat/infrajet"}


@pytest.mark.parametrize("path", ["/compat/build-state/nope", "/compat/nope", "/compat/blazeci/repos/1/nope"])
def test_unknown_paths_answer_json_404_with_detail(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert response.mimetype == "application/json"
    assert set(response.json) == {"detail", "code"} and response.json["code"] == "not_found"
    assert isinstance(response.json["detail"], str) and response.json["detail"]


def test_wrong_method_answers_json_405_naming_the_allowed_ones(client: Any) -> None:
    response = client.delete("/compat/build-state/health")
    assert response.status_code == 405
    assert response.json["code"] == "method_not_allowed" and response.json["detail"]
    assert "GET" in response.headers["Allow"]


def test_a_server_error_inside_a_front_door_is_json_not_html(app: Any, client: Any,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from webapp.ops import service

    def broken() -> Any:
        raise RuntimeError("boom with a secret-looking value")

    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    monkeypatch.setattr(service, "readiness", broken)
    response = client.get("/compat/build-state/ready")
    assert response.status_code == 500
    assert response.mimetype == "application/json"
    assert response.json["code"] == "internal_error"
    assert "secret" not in response.get_data(as_text=True)


def test_pages_and_api_keep_their_own_error_styles(client: Any) -> None:
    assert set(client.get("/api/v1/nope").json) == {"code", "message"}
    assert client.get("/nope-page").mimetype == "text/html"


def test_validation_errors_become_fastapi_detail_lists() -> None:
    detail = validation_detail({"json": {"platform": ["Unknown platform."], "labels": {"0": ["Not a string."]}},
                                "query": {"limit": ["Not a valid integer."]}})
    assert {"loc": ["body", "platform"], "msg": "Unknown platform.", "type": "value_error"} in detail
    assert {"loc": ["body", "labels", "0"], "msg": "Not a string.", "type": "value_error"} in detail
    assert {"loc": ["query", "limit"], "msg": "Not a valid integer.", "type": "value_error"} in detail


def test_each_front_door_has_its_own_openapi_tag(client: Any) -> None:
    spec = client.get("/api/openapi.json").json
    tags = {tag["name"] for tag in spec["tags"]}
    assert len(FRONT_DOORS) == 5
    for module in FRONT_DOORS:
        name = module.blp.name
        base = "/compat/" + name.removeprefix("compat-")
        assert name in tags
        operations = [op for path, item in spec["paths"].items() if path.startswith(base + "/")
                      for op in item.values() if isinstance(op, dict) and "tags" in op]
        assert operations and all(op["tags"] == [name] for op in operations)


def test_front_doors_take_no_cookies_so_need_no_csrf_token(client: Any) -> None:
    # A POST without a CSRF token is not refused as a forged form: these are header-authenticated APIs.
    response = client.post("/compat/build-state/health", json={})
    assert response.status_code == 405


@pytest.mark.parametrize(("path", "lands_on"), [
    ("/compat/blazeci/docs", "/api/docs#/compat-blazeci"),
    ("/compat/release-manager/api/v1/docs", "/api/docs#/compat-release-manager"),
    ("/compat/release-manager/api/v1/redoc", "/api/redoc#tag/compat-release-manager"),
    ("/compat/build-state/docs", "/api/docs#/compat-build-state"),
    ("/compat/webhook-manager/docs", "/api/docs#/compat-webhook-manager"),
    ("/compat/webhook-manager/redoc", "/api/redoc#tag/compat-webhook-manager"),
])
def test_documentation_paths_lead_to_the_front_doors_tag(client: Any, path: str, lands_on: str) -> None:
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].endswith(lands_on)
    page, _, tag = lands_on.partition("#")
    assert client.get(page).status_code == 200
    tags = {t["name"] for t in client.get("/api/openapi.json").json["tags"]}
    assert tag.removeprefix("tag/").removeprefix("/") in tags
