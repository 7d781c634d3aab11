"""The generic input guards: JSON decoding, cursor decoding, NUL in paths, query strings and forms."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from webapp.core.inputs import HostileJSON, loads_json


def _b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


CRAFTED = [_b64(["abc"]), _b64([None]), _b64([{"a": 1}]), _b64([[1, 2]]), _b64([True]), _b64([10**30]),
           _b64(["a\x00"]), "!!!", "a", _b64([1, 2, 3]), _b64(["yesterday", 1])]


@pytest.mark.parametrize("text", [
    '{"a":' * 5000 + "1" + "}" * 5000,
    "[" * 101 + "]" * 101,
    "[" + "9" * 5000 + "]",
    "[" + "1" * 101 + "]",
    "[1e99999]",
    "[NaN]",
    "[-Infinity]",
    '{"a\\u0000": 1}',
    '["\\u0000"]',
])
def test_loads_json_refuses_what_no_client_sends(text: str) -> None:
    with pytest.raises(HostileJSON):
        loads_json(text)


def test_loads_json_reads_ordinary_json() -> None:
    nested = "[" * 100 + "]" * 100
    assert loads_json(b'{"a": [1, -2, 3.5, "x", null, true], "b": {"c": "\\\\u0000"}}') == {
        "a": [1, -2, 3.5, "x", None, True], "b": {"c": "\\u0000"}}
    assert loads_json(nested) is not None
    assert loads_json("[" + "9" * 100 + "]") == [int("9" * 100)]


def test_signed_webhook_nested_2000_deep_is_refused_not_stored(client: Any, db: Any, monkeypatch: Any) -> None:
    from webapp.webhooks.delivery_checks import sign
    from webapp.webhooks.models import WebhookDelivery

    monkeypatch.setitem(client.application.config, "GITHUB_WEBHOOK_SECRET", "deep-secret")
    body = ('{"zen": "x", "a": ' + '{"a":' * 2000 + "1" + "}" * 2000 + "}").encode()
    response = client.post("/webhooks/github", data=body, content_type="application/json", headers={
        "X-Hub-Signature-256": sign("deep-secret", body), "X-GitHub-Event": "ping",
        "X-GitHub-Delivery": "deep-1"})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["code"] == "bad_json"
    assert db.session.query(WebhookDelivery).count() == 0


def test_api_json_errors_say_why(client: Any, make_user: Any, make_key: Any) -> None:
    headers = make_key(make_user("admin"), "admin")
    response = client.post("/api/v1/users", headers=headers, content_type="application/json",
                           data='{"username": "' + "x" + '", "n": ' + "9" * 5000 + "}")
    assert response.status_code == 400
    assert response.json["code"] == "bad_request"
    assert response.json["errors"] == {"json": ["Numbers may have at most 100 digits."]}
    response = client.post("/api/v1/users", headers=headers, json={"username": "a\x00b", "password": "x"})
    assert response.status_code == 400
    assert response.json["errors"] == {"json": ["Text may not contain NUL characters."]}


def test_nul_in_query_string_is_refused_before_any_view(client: Any, make_user: Any, make_key: Any) -> None:
    headers = make_key(make_user("admin"), "admin")
    for url, name in (("/api/v1/audit", "actor"), ("/api/v1/webhooks/deliveries", "event"),
                      ("/api/v1/repos", "q"), ("/api/v1/audit", "target_type")):
        response = client.get(url, headers=headers, query_string={name: "x\x00y"})
        assert response.status_code == 422, (url, response.get_data(as_text=True))
        assert response.json["errors"] == {"query": {name: ["may not contain NUL characters"]}}


@pytest.mark.parametrize("cursor", CRAFTED)
def test_crafted_cursor_on_api_lists_is_422(client: Any, make_user: Any, make_key: Any, cursor: str) -> None:
    headers = make_key(make_user("admin"), "admin")
    for url in ("/api/v1/users", "/api/v1/audit", "/api/v1/repos", "/api/v1/builds", "/api/v1/releases",
                "/api/v1/runners", "/api/v1/webhooks/deliveries", "/api/v1/forwarding/targets"):
        response = client.get(url, headers=headers, query_string={"cursor": cursor})
        assert response.status_code == 422, (url, cursor, response.get_data(as_text=True))
        assert response.json["code"] == "validation_error"
        assert "cursor" in json.dumps(response.json["errors"])


def test_cursor_of_the_wrong_list_is_422(client: Any, make_user: Any, make_key: Any) -> None:
    headers = make_key(make_user("admin"), "admin")
    # a builds cursor is (created_at, id); a users cursor is (id): each refused by the other
    response = client.get("/api/v1/builds", headers=headers, query_string={"cursor": _b64([5])})
    assert response.status_code == 422
    time_cursor = _b64(["2026-01-01 00:00:00+00:00"])
    response = client.get("/api/v1/users", headers=headers, query_string={"cursor": time_cursor})
    assert response.status_code == 422
    response = client.get("/api/v1/builds", headers=headers,
                          query_string={"cursor": _b64(["2026-01-01 00:00:00+00:00", 5])})
    assert response.status_code == 200


def test_a_real_cursor_still_pages(client: Any, make_user: Any, make_key: Any) -> None:
    admin = make_user("admin")
    for _ in range(3):
        make_user("viewer")
    headers = make_key(admin, "admin")
    first = client.get("/api/v1/users", headers=headers, query_string={"limit": 2}).json
    second = client.get("/api/v1/users", headers=headers, query_string={"limit": 2, "cursor": first["next_cursor"]})
    assert second.status_code == 200
    assert {u["id"] for u in second.json["items"]}.isdisjoint({u["id"] for u in first["items"]})


@pytest.mark.parametrize("cursor", CRAFTED)
def test_crafted_cursor_on_pages_is_an_error_page_not_500(client: Any, login_as: Any, db: Any, cursor: str) -> None:
    from webapp.forwarding.models import ForwardTarget
    from webapp.repos.models import Repository
    from webapp.sync.models import Project

    login_as("admin")
    db.session.add(Repository(id=7, owner="octo", name="app", full_name="octo/app"))
    db.session.flush()
    db.session.add(ForwardTarget(id=7, name="deploy", url="https://deploy.example.test/hook", secret="s" * 32))
    db.session.add(Project(id=7, name="infra", repository_id=7, branch="main"))
    db.session.commit()
    pages = ("/admin/audit", "/repos", "/repos/7/releases", "/builds", "/forwarding/targets/7", "/projects/7/history")
    for url in pages:
        for htmx in (False, True):
            response = client.get(url, query_string={"cursor": cursor}, headers={"HX-Request": "true"} if htmx else {})
            assert response.status_code in (400, 422), (url, cursor, response.status_code)
            assert "text/html" in response.content_type
            assert "cursor" in response.get_data(as_text=True).lower()


def test_nul_in_a_page_query_or_form_is_an_inline_error(client: Any, login_as: Any) -> None:
    from tests.conftest import Browser

    login_as("admin")
    response = client.get("/repos", query_string={"q": "a\x00"}, headers={"HX-Request": "true"})
    assert response.status_code == 422
    assert "NUL" in response.get_data(as_text=True)
    response = Browser(client).post("/forwarding", data={"name": "a\x00b", "url": "https://x.example.test/"},
                                    htmx=True)
    assert response.status_code == 422
    assert "NUL" in response.get_data(as_text=True)


def test_nul_in_the_path_is_refused(client: Any, login_as: Any) -> None:
    login_as("admin")
    response = client.get("/api/v1/repos/a%00b/environments")
    assert response.status_code == 422
    assert response.is_json
