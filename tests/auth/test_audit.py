"""The audit log through the API and its page: newest first, filters, cursor pages."""

from __future__ import annotations

import re

from tests.found import found
from webapp.core import audit


def record_some(db, make_user):
    root = make_user("admin", username="root")
    for i in range(3):
        audit.record("thing.poke", "thing", i, actor=root, details={"n": i})
    audit.record("thing.drop", "widget", 9, actor="github")
    db.session.commit()
    return root


def test_api_lists_newest_first_with_filters(client, make_key, make_user, db):
    root = record_some(db, make_user)
    headers = make_key(root, "admin")
    items = client.get("/api/v1/audit?limit=100", headers=headers).json["items"]
    ids = [e["id"] for e in items]
    assert ids == sorted(ids, reverse=True)
    things = [e for e in items if e["action"].startswith("thing.")]
    assert [e["action"] for e in things] == ["thing.drop", "thing.poke", "thing.poke", "thing.poke"]
    assert things[0]["actor"] == "github" and things[0]["actor_id"] is None

    pokes = client.get("/api/v1/audit?action=thing.poke", headers=headers).json["items"]
    assert [e["details"] for e in pokes] == [{"n": 2}, {"n": 1}, {"n": 0}]
    assert all(e["actor"] == "root" and e["actor_id"] == root.id for e in pokes)
    by_actor = client.get("/api/v1/audit?actor=github", headers=headers).json["items"]
    assert [e["action"] for e in by_actor] == ["thing.drop"]
    by_target = client.get("/api/v1/audit?target_type=widget", headers=headers).json["items"]
    assert [(e["target_type"], e["target_id"]) for e in by_target] == [("widget", "9")]


def test_api_pages_with_a_cursor(client, make_key, make_user, db):
    root = record_some(db, make_user)
    headers = make_key(root, "admin")
    seen, cursor = [], None
    for _ in range(10):
        url = "/api/v1/audit?action=thing.poke&limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers).json
        seen += [e["details"]["n"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [2, 1, 0]


def test_audit_page_filters(browser, client, make_user, db):
    record_some(db, make_user)
    browser.login("root")
    page = client.get("/admin/audit?action=thing.drop").get_data(as_text=True)
    assert "thing.drop" in page and "thing.poke" not in page
    rows = client.get("/admin/audit?actor=root&action=thing.poke", headers={"HX-Request": "true"})
    body = rows.get_data(as_text=True)
    assert body.count("<tr>") == 3 and "<html" not in body


def test_audit_page_reads_details_as_words_not_json(browser, client, make_user, db):
    root = make_user("admin", username="root")
    audit.record("user.update", "user", 7, actor=root, details={"role": "viewer", "active": False, "scopes": []})
    audit.record("thing.drop", "widget", 9, actor="github")
    db.session.commit()
    browser.login("root")
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "<small>Role: viewer, Active: no, Scopes: —</small>" in page
    assert '{"role"' not in page and "{}" not in page and "None" not in page
    when = r'<time datetime="\d{4}-\d\d-\d\dT[\d:]+Z" title="[^"]+">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>'
    assert re.search(when, page)


def test_actions_record_ip_and_request_id(client, make_key, make_user, db):
    from webapp.core.audit import AuditEvent

    headers = {**make_key(make_user("admin", username="root"), "admin"), "X-Request-ID": "trace-me"}
    client.post("/api/v1/users", headers=headers, json={"username": "newbie", "password": "long-enough-pw"},
                environ_base={"REMOTE_ADDR": "192.0.2.44"})
    db.session.expire_all()
    event = db.session.query(AuditEvent).filter_by(action="user.create", actor="root").one()
    assert (event.ip, event.request_id, event.target_type) == ("192.0.2.44", "trace-me", "user")
    assert event.details == {"username": "newbie", "role": "viewer"}


def test_audit_page_links_to_older_events_keeping_the_filters(browser, client, make_user, db):
    from urllib.parse import parse_qs, urlsplit

    make_user("admin", username="root")
    for i in range(55):
        audit.record("odd&action", "thing", i, actor="a b")
    db.session.commit()
    browser.login("root")
    page = client.get("/admin/audit?action=odd%26action&actor=a+b").get_data(as_text=True)
    href = found(re.search(r'<a href="([^"]+)">Older events</a>', page)).group(1).replace("&amp;", "&")
    query = parse_qs(urlsplit(href).query)
    assert query["action"] == ["odd&action"] and query["actor"] == ["a b"] and query["cursor"]
    older = client.get("/admin/audit" + href).get_data(as_text=True)
    assert older.count("<code>odd&amp;action</code>") == 5
