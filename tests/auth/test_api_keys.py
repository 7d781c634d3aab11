"""API keys: shown once, stored as a hash, accepted in two headers, tracked, revocable, expiring."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tests.auth.conftest import key_row
from tests.conftest import PASSWORD
from webapp.auth import service
from webapp.auth.models import ApiKey
from webapp.core.audit import AuditEvent
from webapp.core.crypto import hash_token


def all_key_columns(db) -> list[str]:
    """Every value of every api_keys row, as text: where a leaked secret would show."""
    db.session.expire_all()
    rows = db.session.execute(sa.text("SELECT * FROM api_keys")).all()
    return [str(value) for row in rows for value in row]


def test_created_key_is_shown_once_and_stored_only_as_a_hash(client, make_user, make_key, db):
    user = make_user("maintainer")
    headers = make_key(user, "read", "builds:write")
    response = client.post("/api/v1/api-keys", headers=headers, json={
        "name": "ci", "scopes": ["read", "builds:write"], "expires_at": "2999-01-01T00:00:00Z",
    })
    assert response.status_code == 201, response.json
    body = response.json
    secret = body["key"]
    assert secret.startswith("gty_") and len(secret) > 40
    assert body["prefix"] == secret[:12]
    assert (body["name"], body["scopes"], body["status"], body["owner"]) == (
        "ci", ["builds:write", "read"], "active", user.username)
    assert body["expires_at"].startswith("2999-01-01")

    stored = all_key_columns(db)
    assert secret not in " ".join(stored)
    assert hash_token(secret) in stored
    row = db.session.query(ApiKey).filter_by(name="ci").one()
    assert row.key_hash == hash_token(secret) and row.key_hash != secret

    # never again: not in the list, not in the item, not in the audit log
    listed = client.get("/api/v1/api-keys", headers=headers)
    item = client.get(f"/api/v1/api-keys/{body['id']}", headers=headers)
    assert secret not in listed.get_data(as_text=True)
    assert "key" not in item.json
    audit = db.session.query(AuditEvent).filter_by(action="api_key.create", target_id=str(body["id"])).one()
    assert secret not in str(audit.details)

    assert client.get("/api/v1/me", headers={"X-API-Key": secret}).json["username"] == user.username


def test_key_works_in_both_headers_and_records_last_use(client, make_user, make_key, db):
    user = make_user("viewer")
    headers = make_key(user, "read")
    assert key_row(headers).last_used_at is None
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    db.session.expire_all()
    first_use = key_row(headers).last_used_at
    assert first_use is not None and datetime.now(UTC) - first_use < timedelta(seconds=30)

    bearer = {"Authorization": f"Bearer {headers['X-API-Key']}"}
    assert client.get("/api/v1/me", headers=bearer).json["username"] == user.username
    lowercase = {"Authorization": f"bearer {headers['X-API-Key']}"}
    assert client.get("/api/v1/me", headers=lowercase).status_code == 200


def test_last_used_is_written_at_most_once_a_minute(client, make_user, make_key, db):
    headers = make_key(make_user("viewer"), "read")
    client.get("/api/v1/me", headers=headers)
    db.session.expire_all()
    first = key_row(headers).last_used_at
    client.get("/api/v1/me", headers=headers)
    db.session.expire_all()
    assert key_row(headers).last_used_at == first
    key_row(headers).last_used_at = first - timedelta(minutes=5)
    db.session.commit()
    client.get("/api/v1/me", headers=headers)
    db.session.expire_all()
    assert key_row(headers).last_used_at > first


def test_revoke_through_the_api(client, make_user, make_key, db):
    user = make_user("viewer")
    tokens = client.post("/api/v1/auth/token", json={"username": user.username, "password": PASSWORD}).json
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    doomed = make_key(user, "read")
    doomed_id = key_row(doomed).id
    response = client.delete(f"/api/v1/api-keys/{doomed_id}", headers=headers)
    assert response.status_code == 200
    assert response.json["status"] == "revoked" and response.json["revoked_at"]
    response = client.get("/api/v1/me", headers=doomed)
    assert response.status_code == 401
    assert response.json["code"] == "invalid_credentials"
    # revoking twice is harmless and audited once
    assert client.delete(f"/api/v1/api-keys/{doomed_id}", headers=headers).status_code == 200
    db.session.expire_all()
    assert db.session.query(AuditEvent).filter_by(action="api_key.revoke", target_id=str(doomed_id)).count() == 1


def test_admin_can_revoke_anyones_key(client, make_user, make_key, db):
    victim = make_user("maintainer")
    their_key = make_key(victim, "read")
    admin_headers = make_key(make_user("admin"), "admin")
    response = client.delete(f"/api/v1/api-keys/{key_row(their_key).id}", headers=admin_headers)
    assert response.status_code == 200
    assert client.get("/api/v1/me", headers=their_key).status_code == 401


def test_expired_key_is_refused_and_shown_expired(client, make_user, make_key, db):
    user = make_user("viewer")
    headers = make_key(user, "read")
    lasting = make_key(user, "read")
    row = key_row(headers)
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.commit()
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    listed = {k["id"]: k["status"] for k in client.get("/api/v1/api-keys", headers=lasting).json}
    assert listed[row.id] == "expired"


def test_expiry_must_be_in_the_future(client, make_user, make_key):
    headers = make_key(make_user("viewer"), "read")
    response = client.post("/api/v1/api-keys", headers=headers,
                           json={"name": "old", "scopes": ["read"], "expires_at": "2000-01-01T00:00:00Z"})
    assert response.status_code == 422
    assert "expires_at" in response.json["errors"]
    response = client.post("/api/v1/api-keys", headers=headers,
                           json={"name": "naive", "scopes": ["read"], "expires_at": "2999-01-01T00:00:00"})
    assert response.status_code == 422  # a time without its zone is ambiguous


def test_invalid_key_requests_are_422(client, make_user, make_key, db):
    headers = make_key(make_user("viewer"), "read")
    for body in ({"scopes": ["read"]}, {"name": "x", "scopes": []}, {"name": "x", "scopes": ["root"]},
                 {"name": "", "scopes": ["read"]}, {"name": "x" * 101, "scopes": ["read"]}):
        response = client.post("/api/v1/api-keys", headers=headers, json=body)
        assert response.status_code == 422, body
        assert response.json["errors"], body
    db.session.expire_all()
    assert db.session.query(ApiKey).count() == 1


# --- pages ---------------------------------------------------------------------------------


def test_keys_page_shows_a_new_key_once(browser, client, make_user, db):
    user = make_user("maintainer")
    browser.login(user.username)
    response = browser.post("/account/api-keys", data={"name": "laptop", "scopes": ["read", "builds:write"],
                                                       "expires_at": "2999-12-31"}, htmx=True)
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    match = re.search(r'<code id="new-key">(gty_[^<]+)</code>', page)
    assert match, page
    secret = match.group(1)
    assert "<html" not in page  # HTMX gets the panel
    assert 'data-copy="#new-key"' in page  # a copy button for it
    assert 'id="f-name" name="name" type="text" value=""' in page  # the form is ready for the next key
    assert "report builds and their states" in page  # each scope says what it allows

    row = db.session.query(ApiKey).filter_by(name="laptop").one()
    assert row.key_hash == hash_token(secret)
    assert row.scopes == ["builds:write", "read"]
    assert row.expires_at.date().isoformat() == "2999-12-31"
    assert secret not in " ".join(all_key_columns(db))

    again = client.get("/account/api-keys").get_data(as_text=True)
    assert secret not in again and row.prefix in again
    assert client.get("/api/v1/me", headers={"X-API-Key": secret}).status_code == 200


def test_keys_page_offers_only_scopes_within_the_role(browser, client, make_user, db):
    user = make_user("viewer")
    browser.login(user.username)
    page = client.get("/account/api-keys").get_data(as_text=True)
    assert 'value="read"' in page and 'value="builds:write"' not in page and 'value="admin"' not in page
    response = browser.post("/account/api-keys", data={"name": "sneaky", "scopes": ["admin"]})
    assert response.status_code == 422
    assert "beyond your role" in response.get_data(as_text=True)
    assert db.session.query(ApiKey).filter_by(name="sneaky").count() == 0
    response = browser.post("/account/api-keys", data={"name": "late", "scopes": ["read"], "expires_at": "soon"})
    assert response.status_code == 422
    assert "YYYY-MM-DD" in response.get_data(as_text=True)


def test_keys_page_revokes(browser, client, make_user, make_key, db):
    user = make_user("viewer")
    headers = make_key(user, "read")
    key_id = key_row(headers).id
    browser.login(user.username)
    response = browser.post(f"/account/api-keys/{key_id}/revoke", htmx=True)
    assert response.status_code == 200
    assert "revoked" in response.get_data(as_text=True)
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_keys_page_cannot_revoke_someone_elses_key(browser, make_user, make_key, db):
    other_headers = make_key(make_user("maintainer"), "read")
    user = make_user("viewer")
    browser.login(user.username)
    response = browser.post(f"/account/api-keys/{key_row(other_headers).id}/revoke")
    assert response.status_code == 404
    db.session.expire_all()
    assert key_row(other_headers).revoked_at is None


# --- what a key may do with keys -------------------------------------------------------------


def test_a_read_key_cannot_revoke_its_owners_other_keys(client, make_user, make_key, db):
    user = make_user("maintainer")
    reader = make_key(user, "read")
    writer = make_key(user, "read", "builds:write")
    for headers in (reader, writer):
        doomed_id = key_row(make_key(user, "read")).id
        response = client.delete(f"/api/v1/api-keys/{doomed_id}", headers=headers)
        assert response.status_code == 403 and response.json["code"] == "scope_required"
        db.session.expire_all()
        assert service.get_api_key(doomed_id, visible_to=user).revoked_at is None


def test_a_key_can_always_revoke_itself(client, make_user, make_key):
    headers = make_key(make_user("viewer"), "read")
    response = client.delete(f"/api/v1/api-keys/{key_row(headers).id}", headers=headers)
    assert response.status_code == 200 and response.json["status"] == "revoked"
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_an_admins_read_key_neither_sees_nor_revokes_other_peoples_keys(client, make_user, make_key, db):
    victim_key = key_row(make_key(make_user("maintainer"), "read"))
    admin_read = make_key(make_user("admin"), "read")
    assert client.get(f"/api/v1/api-keys/{victim_key.id}", headers=admin_read).status_code == 404
    response = client.delete(f"/api/v1/api-keys/{victim_key.id}", headers=admin_read)
    assert response.status_code == 404
    db.session.expire_all()
    assert victim_key.revoked_at is None


def test_a_person_with_a_token_revokes_their_keys(client, make_user, make_key):
    user = make_user("viewer")
    doomed = make_key(user, "read")
    tokens = client.post("/api/v1/auth/token", json={"username": user.username, "password": PASSWORD}).json
    response = client.delete(f"/api/v1/api-keys/{key_row(doomed).id}",
                             headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200
