"""Users admin through the API and the pages: create, update, delete, the last-admin rule, audit."""

from __future__ import annotations

import pytest

from tests.found import found
from webapp.auth import service
from webapp.auth.models import User
from webapp.core.audit import AuditEvent


@pytest.fixture
def admin_api(make_user, make_key):
    admin = make_user("admin", username="root")
    return admin, {**make_key(admin, "admin"), "X-Request-ID": "req-users-1"}


def audit_rows(db, action):
    db.session.expire_all()
    return db.session.query(AuditEvent).filter_by(action=action).order_by(AuditEvent.id).all()


# --- API -----------------------------------------------------------------------------------


def test_create_get_update_delete_through_the_api(client, admin_api, db):
    admin, headers = admin_api
    response = client.post("/api/v1/users", headers=headers, json={
        "username": "dora", "email": "Dora@Example.com", "password": "long-enough-pw", "role": "maintainer",
        "display_name": "Dora",
    })
    assert response.status_code == 201, response.json
    body = response.json
    assert body["username"] == "dora" and body["role"] == "maintainer" and body["email"] == "dora@example.com"
    assert "password" not in body and "password_hash" not in body
    user_id = body["id"]

    assert client.get(f"/api/v1/users/{user_id}", headers=headers).json["display_name"] == "Dora"

    response = client.patch(f"/api/v1/users/{user_id}", headers=headers, json={"role": "viewer", "active": False})
    assert response.status_code == 200
    assert (response.json["role"], response.json["active"]) == ("viewer", False)
    db.session.expire_all()
    assert db.session.get(User, user_id).role == "viewer"

    assert client.delete(f"/api/v1/users/{user_id}", headers=headers).status_code == 204
    db.session.expire_all()
    assert db.session.get(User, user_id) is None
    assert client.get(f"/api/v1/users/{user_id}", headers=headers).status_code == 404

    for action in ("user.create", "user.update", "user.delete"):
        rows = [r for r in audit_rows(db, action) if r.target_id == str(user_id)]
        assert len(rows) == 1, action
        row = rows[0]
        assert (row.actor, row.actor_id, row.target_type) == ("root", admin.id, "user")
        assert row.ip == "127.0.0.1"
        assert row.request_id == "req-users-1"
    assert audit_rows(db, "user.update")[-1].details == {"role": "viewer", "active": False}


def test_password_change_is_audited_without_the_password(client, admin_api, make_user, db):
    _, headers = admin_api
    user = make_user("viewer")
    response = client.patch(f"/api/v1/users/{user.id}", headers=headers, json={"password": "another-long-pw"})
    assert response.status_code == 200
    db.session.expire_all()
    assert service.authenticate(user.username, "another-long-pw") is not None
    assert service.authenticate(user.username, "correct-horse-battery") is None
    row = audit_rows(db, "user.update")[-1]
    assert row.details == {"password": "changed"}
    assert "another-long-pw" not in str(row.details)


def test_passwords_are_hashed_with_a_kdf(make_user, db):
    user = make_user("viewer", password="correct-horse-battery")
    assert user.password_hash.startswith(("pbkdf2:", "scrypt:"))
    assert "correct-horse-battery" not in user.password_hash


def test_list_users_paginates_with_a_cursor(client, admin_api, make_user):
    _, headers = admin_api
    for _ in range(4):
        make_user("viewer")
    first = client.get("/api/v1/users?limit=3", headers=headers).json
    assert len(first["items"]) == 3 and first["next_cursor"]
    second = client.get(f"/api/v1/users?limit=3&cursor={first['next_cursor']}", headers=headers).json
    assert len(second["items"]) == 2 and second["next_cursor"] is None
    ids = [u["id"] for u in first["items"] + second["items"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    too_big = client.get("/api/v1/users?limit=1000", headers=headers)
    assert too_big.status_code == 422 and "limit" in too_big.json["errors"]["query"]
    bad_cursor = client.get("/api/v1/users?cursor=@@@", headers=headers)
    assert bad_cursor.status_code == 422 and "cursor" in bad_cursor.json["errors"]["query"]


@pytest.mark.parametrize(("body", "field"), [
    ({"password": "long-enough-pw"}, "username"),
    ({"username": "ok"}, "password"),
    ({"username": "ok", "password": "short"}, "password"),
    ({"username": "ok", "password": "long-enough-pw", "role": "emperor"}, "role"),
    ({"username": "ok", "password": "long-enough-pw", "email": "not-an-email"}, "email"),
    ({"username": "has space", "password": "long-enough-pw"}, "username"),
])
def test_invalid_user_is_422_with_field_errors(client, admin_api, body, field):
    _, headers = admin_api
    response = client.post("/api/v1/users", headers=headers, json=body)
    assert response.status_code == 422, response.json
    assert response.json["code"] == "validation_error"
    errors = response.json["errors"]
    assert field in errors.get("json", errors)
    assert service.find_user("ok") is None


def test_invalid_update_is_422(client, admin_api, make_user):
    _, headers = admin_api
    user = make_user("viewer")
    response = client.patch(f"/api/v1/users/{user.id}", headers=headers, json={"role": "god", "shoe_size": 9})
    assert response.status_code == 422
    assert set(response.json["errors"]["json"]) == {"role", "shoe_size"}


def test_duplicate_username_or_email_is_409(client, admin_api, make_user, db):
    _, headers = admin_api
    make_user("viewer", username="taken", email="taken@example.test")
    response = client.post("/api/v1/users", headers=headers, json={"username": "TAKEN", "password": "long-enough-pw"})
    assert response.status_code == 409
    assert response.json["errors"] == {"username": ["already taken"]}
    response = client.post("/api/v1/users", headers=headers,
                           json={"username": "fresh", "email": "Taken@example.test", "password": "long-enough-pw"})
    assert response.status_code == 409
    assert "email" in response.json["errors"]
    other = make_user("viewer")
    response = client.patch(f"/api/v1/users/{other.id}", headers=headers, json={"email": "taken@example.test"})
    assert response.status_code == 409
    db.session.expire_all()
    assert db.session.query(User).filter(User.username.in_(["fresh", "TAKEN"])).count() == 0


@pytest.mark.parametrize("change", [{"role": "maintainer"}, {"active": False}, "delete"])
def test_last_active_admin_cannot_be_removed(client, admin_api, make_user, db, change):
    admin, headers = admin_api
    make_user("admin", active=False)  # an inactive admin does not count
    if change == "delete":
        response = client.delete(f"/api/v1/users/{admin.id}", headers=headers)
    else:
        response = client.patch(f"/api/v1/users/{admin.id}", headers=headers, json=change)
    assert response.status_code == 409
    assert response.json["code"] == "last_admin"
    db.session.expire_all()
    row = db.session.get(User, admin.id)
    assert (row.role, row.active) == ("admin", True)


def test_an_admin_can_step_down_once_another_exists(client, admin_api, make_user, db):
    admin, headers = admin_api
    make_user("admin")
    response = client.patch(f"/api/v1/users/{admin.id}", headers=headers, json={"role": "viewer"})
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(User, admin.id).role == "viewer"


def test_unknown_user_is_404(client, admin_api):
    _, headers = admin_api
    for method in ("GET", "PATCH", "DELETE"):
        response = client.open("/api/v1/users/999999", method=method, headers=headers, json={})
        assert response.status_code == 404, method
        assert response.json["code"] == "not_found"


def test_deleting_a_user_removes_their_keys(client, admin_api, make_user, make_key, db):
    _, headers = admin_api
    user = make_user("viewer")
    their_key = make_key(user, "read")
    assert client.delete(f"/api/v1/users/{user.id}", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=their_key).status_code == 401


# --- pages ---------------------------------------------------------------------------------


def test_users_page_creates_updates_and_deletes(browser, make_user, db):
    admin = make_user("admin", username="root")
    browser.login("root")
    response = browser.post("/admin/users", data={
        "username": "pat", "email": "pat@example.test", "password": "long-enough-pw", "role": "maintainer",
    }, htmx=True)
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    assert "pat@example.test" in page and "<html" not in page  # the panel fragment only
    pat = found(service.find_user("pat"))
    assert pat.role == "maintainer"

    response = browser.post(f"/admin/users/{pat.id}", data={"role": "viewer"}, htmx=True)
    assert response.status_code == 200
    response = browser.post(f"/admin/users/{pat.id}", data={"active": "false"})
    assert response.status_code == 200
    db.session.expire_all()
    pat = found(db.session.get(User, pat.id))
    assert (pat.role, pat.active) == ("viewer", False)

    assert browser.post(f"/admin/users/{pat.id}/delete").status_code == 200
    db.session.expire_all()
    assert service.find_user("pat") is None
    actions = [(r.action, r.actor) for r in audit_rows(db, "user.update")]
    assert actions == [("user.update", "root"), ("user.update", "root")]
    assert audit_rows(db, "user.delete")[0].actor_id == admin.id


def test_users_page_shows_validation_errors_inline(browser, make_user):
    make_user("admin", username="root")
    browser.login("root")
    response = browser.post("/admin/users", data={"username": "x y", "password": "short"}, htmx=True)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in page
    assert "at least 10 characters" in page
    assert 'value="x y"' in page  # what was typed is kept
    assert service.find_user("x y") is None
    response = browser.post("/admin/users", data={"username": "root", "password": "long-enough-pw"})
    assert response.status_code == 409
    assert "is taken" in response.get_data(as_text=True)


def test_users_page_refuses_to_remove_the_last_admin(browser, make_user, db):
    admin = make_user("admin", username="root")
    browser.login("root")
    for url, data in ((f"/admin/users/{admin.id}", {"role": "viewer"}),
                      (f"/admin/users/{admin.id}", {"active": "false"}),
                      (f"/admin/users/{admin.id}/delete", {})):
        response = browser.post(url, data=data, htmx=True)
        assert response.status_code == 409
        assert "last active admin" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(User, admin.id).role == "admin"


def test_two_admins_demoting_each_other_at_once_leave_one_admin(app, make_user, db):
    import threading

    from webapp.core.errors import Conflict

    first_id, second_id = make_user("admin").id, make_user("admin").id
    db.session.remove()  # the test's own transaction must not hold the rows
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def demote(target_id: int, actor_name: str) -> None:
        with app.app_context():
            barrier.wait()
            try:
                service.update_user(target_id, {"role": "viewer"}, actor=actor_name)
                outcomes.append("demoted")
            except Conflict:
                outcomes.append("refused")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=demote, args=(second_id, "first")),
               threading.Thread(target=demote, args=(first_id, "second"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(outcomes) == ["demoted", "refused"]
    assert db.session.query(User).filter_by(role="admin", active=True).count() == 1
