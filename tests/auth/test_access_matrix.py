"""Who may call which foundation route: every kind of caller against every route."""

from __future__ import annotations

from typing import Any

import pytest

from tests.auth.conftest import CALLERS
from webapp.auth.models import ROLE_RANK

# method, path template, role needed, scope needed, JSON body, status on success
API_ROUTES: list[tuple[str, str, str, str, dict[str, Any] | None, int]] = [
    ("GET", "/api/v1/me", "viewer", "read", None, 200),
    ("GET", "/api/v1/users", "admin", "admin", None, 200),
    ("POST", "/api/v1/users", "admin", "admin", {"username": "newcomer{n}", "password": "long-enough-pw"}, 201),
    ("GET", "/api/v1/users/{user}", "admin", "admin", None, 200),
    ("PATCH", "/api/v1/users/{user}", "admin", "admin", {"display_name": "Renamed"}, 200),
    ("DELETE", "/api/v1/users/{user}", "admin", "admin", None, 204),
    ("GET", "/api/v1/api-keys", "viewer", "read", None, 200),
    ("POST", "/api/v1/api-keys", "viewer", "read", {"name": "ci", "scopes": ["read"]}, 201),
    ("GET", "/api/v1/api-keys/{key}", "viewer", "read", None, 200),
    # another of the caller's own keys: people (tokens) and admin-scoped keys only
    ("DELETE", "/api/v1/api-keys/{key}", "viewer", "people", None, 200),
    ("GET", "/api/v1/audit", "admin", "admin", None, 200),
]


def expected_status(kind: str, role: str, scope: str, success: int) -> int:
    caller = CALLERS[kind]
    if caller is None:
        return 401
    caller_role, scopes = caller
    if ROLE_RANK[caller_role] < ROLE_RANK[role]:
        return 403
    if scope == "people":
        return success if kind.endswith("_token") or "admin" in scopes else 403
    if scope not in scopes and "admin" not in scopes:
        return 403
    return success


@pytest.mark.parametrize(("method", "template", "role", "scope", "body", "success"), API_ROUTES,
                         ids=[f"{r[0]} {r[1]}" for r in API_ROUTES])
def test_api_access(client, make_user, credentials, db, method, template, role, scope, body, success):
    """Each kind of caller in turn, each against fresh targets; every wrong answer is listed."""
    from webapp.auth import service

    wrong = []
    for n, kind in enumerate(CALLERS):
        headers, caller = credentials(kind)
        target = make_user("viewer")
        key_owner = caller if caller is not None else target
        key, _ = service.create_api_key(key_owner, name="target", scopes=["read"], actor="test")
        path = template.format(user=target.id, key=key.id)
        sent = {k: (v.format(n=n) if isinstance(v, str) else v) for k, v in (body or {}).items()} or None

        response = client.open(path, method=method, headers=headers, json=sent)

        want = expected_status(kind, role, scope, success)
        if response.status_code != want:
            wrong.append(f"{kind}: {response.status_code}, wanted {want}: {response.get_data(as_text=True)[:200]}")
            continue
        if want >= 400:
            db.session.expire_all()
            changed = (
                not response.is_json or not response.json.get("code"),
                service.find_user(f"newcomer{n}") is not None,
                service.get_user(target.id).display_name != target.username,
                service.get_api_key(key.id, visible_to=key_owner).revoked_at is not None,
                want == 401 and response.json["code"] not in ("unauthorized", "invalid_credentials"),
            )
            if any(changed):
                wrong.append(f"{kind}: refused but {changed}")
    assert wrong == []


def test_refusals_name_what_is_missing(client, credentials):
    headers, _ = credentials("admin_key_read")
    response = client.get("/api/v1/users", headers=headers)
    assert response.status_code == 403
    assert response.json["code"] == "scope_required"
    headers, _ = credentials("maintainer_key")
    response = client.get("/api/v1/users", headers=headers)
    assert response.json["code"] == "role_required"
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert "Bearer" in response.headers["WWW-Authenticate"]


def test_session_cookie_does_not_authenticate_the_api(login_as, client):
    """The API is exempt from CSRF because it only trusts headers; a browser session must not count."""
    login_as("admin")
    assert client.get("/").status_code == 200
    response = client.get("/api/v1/users")
    assert response.status_code == 401
    assert response.json["code"] == "unauthorized"


def test_viewer_cannot_see_or_revoke_someone_elses_key(client, make_user, make_key, db):
    from webapp.auth import service

    other = make_user("maintainer")
    other_key, _ = service.create_api_key(other, name="theirs", scopes=["read"], actor="test")
    headers = make_key(make_user("viewer"), "read")
    assert client.get(f"/api/v1/api-keys/{other_key.id}", headers=headers).status_code == 404
    response = client.delete(f"/api/v1/api-keys/{other_key.id}", headers=headers)
    assert response.status_code == 404
    assert response.json["code"] == "not_found"
    listed = client.get("/api/v1/api-keys?all=true", headers=headers).json
    assert [k["name"] for k in listed] == ["test-read"]
    db.session.expire_all()
    assert service.get_api_key(other_key.id, visible_to=other).revoked_at is None


def test_admin_sees_everyones_keys_only_when_asking(client, make_user, make_key):
    from webapp.auth import service

    service.create_api_key(make_user("viewer"), name="theirs", scopes=["read"], actor="test")
    headers = make_key(make_user("admin"), "admin")
    mine = client.get("/api/v1/api-keys", headers=headers).json
    everyone = client.get("/api/v1/api-keys?all=true", headers=headers).json
    assert {k["name"] for k in mine} == {"test-admin"}
    assert {k["name"] for k in everyone} == {"test-admin", "theirs"}


# --- keys never exceed their owner's role -----------------------------------------------------


def test_maintainer_cannot_create_an_admin_scoped_key(client, make_user, make_key, db):
    from webapp.auth.models import ApiKey

    headers = make_key(make_user("maintainer"), "read")
    response = client.post("/api/v1/api-keys", headers=headers, json={"name": "root", "scopes": ["admin"]})
    assert response.status_code == 422
    assert "scopes" in response.json["errors"]
    assert db.session.query(ApiKey).filter_by(name="root").count() == 0


def test_viewer_cannot_create_a_write_scoped_key(client, make_user, make_key):
    headers = make_key(make_user("viewer"), "read")
    response = client.post("/api/v1/api-keys", headers=headers, json={"name": "w", "scopes": ["builds:write"]})
    assert response.status_code == 422
    assert "beyond your role" in response.json["errors"]["scopes"][0]


def test_a_key_cannot_mint_a_key_with_more_scopes_than_itself(client, make_user, make_key, db):
    from webapp.auth.models import ApiKey

    owner = make_user("maintainer")
    headers = make_key(owner, "read")
    response = client.post("/api/v1/api-keys", headers=headers, json={"name": "w", "scopes": ["builds:write"]})
    assert response.status_code == 403
    assert response.json["code"] == "scope_required"
    assert db.session.query(ApiKey).filter_by(name="w").count() == 0
    # a key holding the scope may pass it on
    headers = make_key(owner, "read", "builds:write")
    response = client.post("/api/v1/api-keys", headers=headers, json={"name": "w", "scopes": ["builds:write"]})
    assert response.status_code == 201


def test_demoted_owner_key_loses_its_scopes(client, make_user, make_key, db):
    from webapp.auth import service

    make_user("admin")
    owner = make_user("admin")
    headers = make_key(owner, "admin", "read")
    assert client.get("/api/v1/users", headers=headers).status_code == 200
    service.update_user(owner.id, {"role": "maintainer"}, actor="test")
    response = client.get("/api/v1/users", headers=headers)
    assert response.status_code == 403
    assert client.get("/api/v1/me", headers=headers).status_code == 200  # read stays within the role


def test_effective_scopes_never_exceed_the_role(make_user):
    from webapp.auth import service

    viewer = make_user("viewer")
    assert service.effective_scopes(viewer, ["read", "builds:write", "admin"]) == frozenset({"read"})
    maintainer = make_user("maintainer")
    assert "admin" not in service.effective_scopes(maintainer, ["admin", "read"])


# --- pages ---------------------------------------------------------------------------------

PAGES = [("/", "viewer"), ("/account/api-keys", "viewer"), ("/admin/users", "admin"), ("/admin/audit", "admin")]


@pytest.mark.parametrize(("path", "role"), PAGES)
def test_pages_send_anonymous_people_to_sign_in(client, path, role):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    response = client.get(path, headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/login?next=")


@pytest.mark.parametrize(("path", "role"), PAGES)
def test_page_access_by_role(client, make_user, path, role):
    from tests.conftest import Browser

    for who in ("viewer", "maintainer", "admin"):
        client.delete_cookie("session")
        Browser(client).login(make_user(who).username)
        response = client.get(path)
        if ROLE_RANK[who] >= ROLE_RANK[role]:
            assert response.status_code == 200, who
            assert response.mimetype == "text/html"
        else:
            assert response.status_code == 403, who
            assert b"This needs the admin role" in response.data


@pytest.mark.parametrize(("path", "data"), [
    ("/admin/users", {"username": "sneaky", "password": "long-enough-pw", "role": "admin"}),
    ("/admin/users/{admin}", {"role": "viewer"}),
    ("/admin/users/{admin}/delete", {}),
])
@pytest.mark.parametrize("who", ["viewer", "maintainer"])
def test_admin_page_posts_refused_for_non_admins(browser, make_user, db, path, data, who):
    from webapp.auth import service

    admin = make_user("admin")
    user = make_user(who)
    browser.login(user.username)
    response = browser.post(path.format(admin=admin.id), data=data)
    assert response.status_code == 403
    db.session.expire_all()
    assert service.find_user("sneaky") is None
    assert service.get_user(admin.id).role == "admin"


def test_page_posts_by_anonymous_go_to_sign_in(browser, make_user, db):
    from webapp.auth import service

    admin = make_user("admin")
    response = browser.post(f"/admin/users/{admin.id}/delete")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    response = browser.post("/account/api-keys", data={"name": "x", "scopes": ["read"]})
    assert response.status_code == 302
    db.session.expire_all()
    assert service.get_user(admin.id) is not None


def test_deactivated_user_loses_their_session(browser, client, make_user, db):
    from webapp.auth import service

    make_user("admin")
    user = make_user("admin")
    browser.login(user.username)
    assert client.get("/admin/users").status_code == 200
    service.update_user(user.id, {"active": False}, actor="test")
    response = client.get("/admin/users")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_api_key_header_does_not_open_pages(client, make_user, make_key):
    headers = make_key(make_user("admin"), "admin")
    response = client.get("/admin/users", headers=headers)
    assert response.status_code == 302
