"""POST /webhooks/github: every real payload stored and processed once; bad deliveries refused, nothing stored."""

from __future__ import annotations

import io
import json
import threading
import uuid

import pytest
import sqlalchemy as sa
from redis import Redis

from sandbox.github import DEFAULT_WEBHOOK_SECRET
from tests.drills.conftest import wait_for
from tests.webhooks.helpers import WEBHOOKS_DIR, payload_files, post_webhook, signature, webhook_request
from webapp.core import jobs
from webapp.webhooks import service
from webapp.webhooks.intake import intake_engine, job_id_for
from webapp.webhooks.models import WebhookDelivery

PAYLOADS = payload_files()


def deliveries(db):
    db.session.expire_all()
    return list(db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id)))


def snapshot(row: WebhookDelivery) -> dict:
    return {c.key: getattr(row, c.key) for c in sa.inspect(WebhookDelivery).mapper.column_attrs}


def test_every_payload_file_is_covered():
    events = {p.parent.name for p in PAYLOADS}
    assert len(PAYLOADS) >= 80
    assert {"workflow_job", "installation", "installation_repositories", "repository", "push", "ping"} <= events


@pytest.mark.parametrize("path", PAYLOADS, ids=[f"{p.parent.name}/{p.stem}" for p in PAYLOADS])
def test_real_payload_stored_processed_and_deduplicated(client, db, run_jobs, fake_github, path):
    event = path.parent.name
    payload = json.loads(path.read_text())
    delivery_id = str(uuid.uuid4())

    response = post_webhook(client, event, payload, DEFAULT_WEBHOOK_SECRET, delivery_id)

    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.json["status"] == "accepted" and response.json["queued"] is True
    [row] = deliveries(db)
    assert (row.delivery_id, row.event, row.status, row.attempts) == (delivery_id, event, "received", 0)
    assert row.action == payload.get("action")
    assert row.payload == payload
    assert row.installation_id == (payload.get("installation") or {}).get("id")
    assert row.repository_id == (payload.get("repository") or {}).get("id")
    assert row.repository_full_name == (payload.get("repository") or {}).get("full_name")
    assert jobs.job_status(job_id_for(delivery_id)) == "queued"

    run_jobs()
    [row] = deliveries(db)
    assert row.status in ("handled", "ignored"), row.error
    assert row.error is None and row.attempts == 1 and row.processed_at is not None
    assert isinstance(row.result["handlers"], dict)
    assert (row.status == "handled") == bool(row.result["handlers"])
    before = snapshot(row)

    again = post_webhook(client, event, payload, DEFAULT_WEBHOOK_SECRET, delivery_id)

    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.json["status"] == "duplicate"
    run_jobs()
    [row] = deliveries(db)
    assert snapshot(row) == before


def test_form_encoded_delivery_is_accepted(client, db):
    payload = json.loads((WEBHOOKS_DIR / "ping" / "default.json").read_text())

    response = post_webhook(client, "ping", payload, DEFAULT_WEBHOOK_SECRET, form=True)

    assert response.status_code == 202, response.get_data(as_text=True)
    [row] = deliveries(db)
    assert row.payload == payload and row.hook_id == payload["hook_id"]


def test_repository_hook_secret_verifies_its_own_deliveries(client, db, make_user):
    from webapp.repos.models import Repository, RepositoryHook

    db.session.add(Repository(id=1004, owner="acme", name="webhook-manager", full_name="acme/webhook-manager"))
    db.session.add(RepositoryHook(id=777, repository_id=1004, url="http://gantry.test/webhooks/github",
                                  events=["push"], secret="hook-only-secret"))
    db.session.commit()
    payload = {"zen": "Design for failure.", "hook_id": 777, "repository": {"id": 1004,
                                                                             "full_name": "acme/webhook-manager"}}

    ok = post_webhook(client, "ping", payload, "hook-only-secret", hook_id=777)
    with_app_secret = post_webhook(client, "ping", payload, DEFAULT_WEBHOOK_SECRET, hook_id=777)
    other_hook = post_webhook(client, "ping", payload, "hook-only-secret", hook_id=778)

    assert ok.status_code == 202, ok.get_data(as_text=True)
    assert with_app_secret.status_code == 202
    assert other_hook.status_code == 401
    rows = deliveries(db)
    assert [(r.hook_id, r.verified_with) for r in rows] == [(777, "hook"), (777, "app")]


@pytest.mark.parametrize("named", [
    {"repository": {"id": 2002, "full_name": "acme/payments"}},
    {"repository": {"id": 1004, "full_name": "acme/webhook-manager"}, "installation": {"id": 42}},
    {"installation": {"id": 41}},
    {},
], ids=["other repository", "other installation", "installation only", "no repository"])
def test_repository_hook_secret_refuses_deliveries_about_anything_else(client, db, named):
    from webapp.repos.models import Installation, Repository, RepositoryHook

    db.session.add_all([Installation(id=41, account_login="acme", account_type="Organization"),
                        Installation(id=42, account_login="other", account_type="Organization")])
    db.session.flush()
    db.session.add_all([
        Repository(id=1004, installation_id=41, owner="acme", name="webhook-manager",
                   full_name="acme/webhook-manager"),
        Repository(id=2002, installation_id=41, owner="acme", name="payments", full_name="acme/payments"),
    ])
    db.session.add(RepositoryHook(id=777, repository_id=1004, url="http://gantry.test/webhooks/github",
                                  events=["push"], secret="hook-only-secret"))
    db.session.commit()
    own = {"repository": {"id": 1004, "full_name": "acme/webhook-manager"}, "installation": {"id": 41}}

    refused = post_webhook(client, "push", {"ref": "refs/heads/main", **named}, "hook-only-secret", hook_id=777)
    accepted = post_webhook(client, "push", {"ref": "refs/heads/main", **own}, "hook-only-secret", hook_id=777)
    by_app = post_webhook(client, "push", {"ref": "refs/heads/main", **named}, DEFAULT_WEBHOOK_SECRET, hook_id=777)

    assert refused.status_code == 403, refused.get_data(as_text=True)
    assert refused.get_json()["code"] == "hook_scope_mismatch"
    assert accepted.status_code == 202 and by_app.status_code == 202
    assert [(r.repository_id, r.verified_with) for r in deliveries(db)] == [
        (1004, "hook"), (named.get("repository", {}).get("id"), "app")]


BAD_REQUESTS = {
    # name: (mutate(body, headers) -> (body, headers), status, code)
    "missing signature": (lambda b, h: (b, {k: v for k, v in h.items() if k != "X-Hub-Signature-256"}), 401,
                          "signature_missing"),
    "bad signature": (lambda b, h: (b, {**h, "X-Hub-Signature-256": "sha256=" + "0" * 64}), 401,
                      "signature_mismatch"),
    "sha1 signature only": (lambda b, h: (b, {**{k: v for k, v in h.items() if k != "X-Hub-Signature-256"},
                                             "X-Hub-Signature": "sha1=" + "0" * 40}), 401, "signature_missing"),
    "body changed after signing": (lambda b, h: (b + b" ", h), 401, "signature_mismatch"),
    "wrong content type": (lambda b, h: (b, {**h, "Content-Type": "text/plain"}), 415, "unsupported_media_type"),
    "no content type": (lambda b, h: (b, {k: v for k, v in h.items() if k != "Content-Type"}), 415,
                        "unsupported_media_type"),
    "missing event header": (lambda b, h: (b, {k: v for k, v in h.items() if k != "X-GitHub-Event"}), 400,
                             "bad_delivery"),
    "missing delivery header": (lambda b, h: (b, {k: v for k, v in h.items() if k != "X-GitHub-Delivery"}), 400,
                                "bad_delivery"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_deliveries_are_refused_and_not_stored(client, db, case):
    mutate, status, code = BAD_REQUESTS[case]
    body, headers = webhook_request("ping", {"zen": "Keep it logically awesome."}, DEFAULT_WEBHOOK_SECRET)
    body, headers = mutate(body, headers)

    response = client.post("/webhooks/github", data=body, headers=headers)

    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.json["code"] == code
    assert deliveries(db) == []


def test_wrong_secret_is_refused(client, db):
    response = post_webhook(client, "ping", {"zen": "x"}, "not-the-secret")

    assert response.status_code == 401 and response.json["code"] == "signature_mismatch"
    assert deliveries(db) == []


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b"", b'{"n": NaN}', b'{"n": -Infinity}'],
                         ids=["broken", "array", "binary", "empty", "nan", "infinity"])
def test_bad_json_is_refused_after_the_signature_passes(client, db, raw):
    response = post_webhook(client, "push", raw, DEFAULT_WEBHOOK_SECRET)

    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json["code"] == "bad_json"
    assert deliveries(db) == []


def test_form_delivery_without_payload_field_is_refused(client, db):
    body = b"other=1"
    _, headers = webhook_request("ping", body, DEFAULT_WEBHOOK_SECRET, form=True)
    from tests.webhooks.helpers import signature

    headers["X-Hub-Signature-256"] = signature(DEFAULT_WEBHOOK_SECRET, body)
    response = client.post("/webhooks/github", data=body, headers=headers)

    assert response.status_code == 400 and response.json["code"] == "bad_delivery"
    assert deliveries(db) == []


def test_body_over_25_mb_is_refused_before_it_is_read(client, db):
    huge = b'{"zen": "' + b"a" * (25 * 1024 * 1024) + b'"}'

    response = post_webhook(client, "push", huge, DEFAULT_WEBHOOK_SECRET)

    assert response.status_code == 413, response.get_data(as_text=True)
    assert response.json["code"] == "payload_too_large"
    assert deliveries(db) == []


def _chunked(client, body, secret=DEFAULT_WEBHOOK_SECRET, delivery="chunked-1"):
    """POST `body` as a server de-chunking Transfer-Encoding: chunked hands it over: no length."""
    return client.post("/webhooks/github", input_stream=io.BytesIO(body), content_type="application/json",
                       headers={"Transfer-Encoding": "chunked", "X-Hub-Signature-256": signature(secret, body),
                                "X-GitHub-Event": "ping", "X-GitHub-Delivery": delivery},
                       environ_overrides={"wsgi.input_terminated": True})


def test_chunked_body_over_25_mb_is_refused_not_cut(client, db):
    huge = b'{"zen": "' + b"a" * (25 * 1024 * 1024) + b'"}'

    response = _chunked(client, huge)

    assert response.status_code == 413, response.get_data(as_text=True)
    assert response.json["code"] == "payload_too_large"
    assert deliveries(db) == []


def test_chunked_body_within_the_limit_is_stored(client, db):
    response = _chunked(client, b'{"zen": "small"}', delivery="chunked-2")

    assert response.status_code == 202, response.get_data(as_text=True)
    assert [d.delivery_id for d in deliveries(db)] == ["chunked-2"]


def test_unconfigured_secret_refuses_everything(client, db, app, monkeypatch):
    monkeypatch.setitem(app.config, "GITHUB_WEBHOOK_SECRET", None)

    response = post_webhook(client, "ping", {"zen": "x"}, DEFAULT_WEBHOOK_SECRET)

    assert response.status_code == 401 and response.json["code"] == "signature_unverifiable"
    assert deliveries(db) == []


def test_webhooks_need_no_csrf_token_or_session(client, db):
    # A bare POST with nothing but GitHub's headers: no cookie, no CSRF token.
    response = post_webhook(client, "ping", {"zen": "x"}, DEFAULT_WEBHOOK_SECRET)
    assert response.status_code == 202
    assert "Set-Cookie" not in response.headers


def test_a_session_cookie_sent_with_a_delivery_is_not_read(app, client, db, make_user):
    from flask import request
    from flask.sessions import NullSession

    user = make_user(role="admin")
    with client.session_transaction() as browser_session:
        browser_session["_user_id"] = str(user.id)
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    headers = {"Cookie": f"{app.config['SESSION_COOKIE_NAME']}={cookie}"}

    with app.test_request_context("/webhooks/github", method="POST", headers=headers):
        delivery_session = app.session_interface.open_session(app, request)
    with app.test_request_context("/", headers=headers):
        page_session = app.session_interface.open_session(app, request)

    assert isinstance(delivery_session, NullSession) and dict(delivery_session) == {}
    assert page_session["_user_id"] == str(user.id)
    response = post_webhook(client, "ping", {"zen": "x"}, DEFAULT_WEBHOOK_SECRET)
    assert response.status_code == 202 and "Set-Cookie" not in response.headers


def test_database_down_answers_503_and_nothing_is_acknowledged(client, app, db, monkeypatch):
    # Point the app's engine at a port where no PostgreSQL listens: every query fails to connect.
    unreachable = sa.create_engine("postgresql://postgres@127.0.0.1:1/gantry", connect_args={"connect_timeout": 2})
    engines = db._app_engines[app]
    monkeypatch.setitem(engines, None, unreachable)

    response = post_webhook(client, "ping", {"zen": "x"}, DEFAULT_WEBHOOK_SECRET)

    assert response.status_code == 503, response.get_data(as_text=True)
    assert response.is_json and response.json["code"] == "unavailable"
    monkeypatch.undo()
    unreachable.dispose()
    assert deliveries(db) == []


def test_redis_down_still_stores_and_answers_202_then_the_sweep_processes_everything(client, app, db, run_jobs,
                                                                                     monkeypatch):
    nowhere = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1, socket_timeout=1)
    monkeypatch.setitem(app.extensions, jobs.EXTENSION_KEY, nowhere)
    payload = json.loads((WEBHOOKS_DIR / "push" / "default.json").read_text())

    answers = [post_webhook(client, "push", payload, DEFAULT_WEBHOOK_SECRET) for _ in range(3)]

    assert [a.status_code for a in answers] == [202, 202, 202]
    assert [a.json["queued"] for a in answers] == [False, False, False]
    assert [r.status for r in deliveries(db)] == ["received"] * 3
    assert service.enqueue_pending(older_than=0) == 0  # Redis still away: nothing queued, nothing lost

    monkeypatch.undo()  # Redis is back
    assert service.enqueue_pending(older_than=3600) == 0  # too recent for the sweep's threshold
    assert service.enqueue_pending(older_than=0) == 3
    assert service.enqueue_pending(older_than=0) == 0  # already waiting in the queue: not queued twice
    run_jobs()
    rows = deliveries(db)
    assert [r.status for r in rows] == [rows[0].status] * 3 and rows[0].status in ("handled", "ignored")
    assert all(r.error is None and r.attempts == 1 for r in rows)


def test_the_sweep_works_through_a_backlog_a_chunk_at_a_time(client, app, db, run_jobs, monkeypatch):
    nowhere = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1, socket_timeout=1)
    monkeypatch.setitem(app.extensions, jobs.EXTENSION_KEY, nowhere)
    for n in range(7):
        assert post_webhook(client, "ping", {"zen": str(n)}, DEFAULT_WEBHOOK_SECRET).status_code == 202
    monkeypatch.undo()
    monkeypatch.setattr(service, "SWEEP_CHUNK", 2)
    commits: list[int] = []
    real_commit = db.session.commit

    def counted_commit() -> None:
        commits.append(1)
        real_commit()

    monkeypatch.setattr(db.session, "commit", counted_commit)
    first, second = deliveries(db)[:2]
    jobs.enqueue(print, job_id=job_id_for(first.delivery_id), queue="high")  # one already waiting

    assert service.enqueue_pending(older_than=0, limit=5) == 4  # five looked at, the waiting one left alone
    assert len(commits) == 3  # chunks of 2, 2 and 1, each its own transaction
    assert service.enqueue_pending(older_than=0) == 2  # the rest
    assert jobs.job_statuses([job_id_for(second.delivery_id), "no-such-job"]) == {
        job_id_for(second.delivery_id): "queued", "no-such-job": None}


def test_secret_stored_by_the_manifest_flow_verifies_and_a_new_one_is_seen_at_once(client, db, app, monkeypatch):
    from webapp.repos.models import GitHubAppConfig

    monkeypatch.setitem(app.config, "GITHUB_WEBHOOK_SECRET", None)
    config = GitHubAppConfig(app_id=1, slug="gantry-test", webhook_secret="stored-secret-1")
    db.session.add(config)
    db.session.commit()

    first = post_webhook(client, "ping", {"zen": "x"}, "stored-secret-1")
    config.webhook_secret = "stored-secret-2"  # the App's secret was changed
    db.session.commit()
    rotated = post_webhook(client, "ping", {"zen": "x"}, "stored-secret-2")
    old = post_webhook(client, "ping", {"zen": "x"}, "stored-secret-1")

    assert (first.status_code, rotated.status_code, old.status_code) == (202, 202, 401)
    assert [r.verified_with for r in deliveries(db)] == ["app", "app"]
    stored = db.session.execute(sa.text("SELECT webhook_secret FROM github_app_config")).scalar_one()
    assert "stored-secret" not in stored  # encrypted at rest


def test_the_same_delivery_posted_concurrently_is_stored_once(app, db):
    import threading

    body, headers = webhook_request("ping", {"zen": "Approachable is better than simple."}, DEFAULT_WEBHOOK_SECRET)
    statuses: list[int] = []
    start = threading.Barrier(6)

    def post() -> None:
        client = app.test_client()
        start.wait(10)
        statuses.append(client.post("/webhooks/github", data=body, headers=headers).status_code)

    threads = [threading.Thread(target=post) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    assert sorted(statuses) == [200, 200, 200, 200, 200, 202]
    assert len(deliveries(db)) == 1


@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_nul_characters_are_stored_as_replacement_characters(client, db, form):
    payload = {"action": "opened", "commit": {"message": "tab\tnul\u0000end"}, "k\u0000ey": ["a\u0000"]}

    response = post_webhook(client, "push", payload, DEFAULT_WEBHOOK_SECRET, form=form)

    assert response.status_code == 202, response.get_data(as_text=True)
    [row] = deliveries(db)
    assert row.payload == {"action": "opened", "commit": {"message": "tab\tnul\ufffdend"}, "k\ufffdey": ["a\ufffd"]}


def test_ids_too_large_for_the_database_are_stored_as_unknown(client, db):
    huge = 2**70
    payload = {"action": "x", "repository": {"id": huge, "full_name": "a/b"}, "installation": {"id": huge}}

    response = post_webhook(client, "push", payload, DEFAULT_WEBHOOK_SECRET)
    bad_hook = post_webhook(client, "push", payload, DEFAULT_WEBHOOK_SECRET, hook_id=huge)

    assert response.status_code == 202, response.get_data(as_text=True)
    assert bad_hook.status_code == 400 and bad_hook.json["code"] == "bad_delivery"
    [row] = deliveries(db)
    assert (row.repository_id, row.installation_id, row.repository_full_name) == (None, None, "a/b")
    assert row.payload["repository"]["id"] == huge


def test_the_payload_is_stored_as_the_text_github_sent(client, db):
    # Key order and spacing kept: what is stored is the body, checked to be JSON, not a re-encoding.
    body = b'{"zen": "Keep it logically awesome.",  "hook_id": 7, "action":"pinged", "a": {"z": 1, "b": [1.50, 2]}}'

    response = post_webhook(client, "ping", body, DEFAULT_WEBHOOK_SECRET)

    assert response.status_code == 202, response.get_data(as_text=True)
    stored = db.session.execute(sa.text("SELECT payload::text, action, hook_id FROM webhook_deliveries")).one()
    assert stored == (body.decode(), "pinged", 7)
    [row] = deliveries(db)
    assert row.payload == json.loads(body)


def test_utf16_json_is_stored_re_encoded(client, db):
    payload = {"action": "opened", "title": "ünïcödé"}
    body = json.dumps(payload).encode("utf-16")

    response = post_webhook(client, "issues", body, DEFAULT_WEBHOOK_SECRET)

    assert response.status_code == 202, response.get_data(as_text=True)
    assert deliveries(db)[0].payload == payload


def test_a_pooled_connection_the_server_dropped_is_replaced_and_the_delivery_stored(client, app, db):
    first = post_webhook(client, "ping", {"zen": "one"}, DEFAULT_WEBHOOK_SECRET)
    assert first.status_code == 202
    with intake_engine().connect() as connection:  # the connection the intake will use next
        pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    # Wait for the server to end it (5 s at most): pg_terminate_backend only sends the signal.
    assert db.session.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid}).scalar() is True
    db.session.commit()

    second = post_webhook(client, "ping", {"zen": "two"}, DEFAULT_WEBHOOK_SECRET)

    assert second.status_code == 202, second.get_data(as_text=True)
    assert [row.payload["zen"] for row in deliveries(db)] == ["one", "two"]
    assert second.json["queued"] is True


def test_deliveries_are_written_without_a_ping_per_request(client, app, db):
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement.split()[0].upper())

    engine = intake_engine()
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            assert post_webhook(client, "ping", {"zen": "x"}, DEFAULT_WEBHOOK_SECRET).status_code == 202
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    assert statements == ["INSERT"] * 3  # one statement per delivery: no SELECT 1, no BEGIN/COMMIT


class HeldInserts:
    """Wraps the intake's INSERT so that the first one waits until released: deliveries posted
    meanwhile queue up behind it and are written together, as under load."""

    def __init__(self, monkeypatch):
        from webapp.webhooks import intake

        self.sizes: list[int] = []
        self.release = threading.Event()
        real = intake._insert_new

        def held(rows):
            self.sizes.append(len(rows))
            if len(self.sizes) == 1:
                assert self.release.wait(10)
            return real(rows)

        monkeypatch.setattr(intake, "_insert_new", held)


def post_from_threads(app, requests: list[tuple[bytes, dict]]) -> tuple[list[threading.Thread], list]:
    answers: list = [None] * len(requests)

    def post(i: int) -> None:
        body, headers = requests[i]
        answers[i] = app.test_client().post("/webhooks/github", data=body, headers=headers)

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(requests))]
    for t in threads:
        t.start()
    return threads, answers


def post_in_one_batch(app, monkeypatch, requests: list[tuple[bytes, dict]]) -> tuple[HeldInserts, list]:
    """Post requests[0] alone, then the rest while its INSERT is held: the rest form one batch."""
    from webapp.webhooks import intake

    held = HeldInserts(monkeypatch)
    with app.app_context():
        writer = intake.delivery_writer()
    first, first_answer = post_from_threads(app, requests[:1])
    wait_for(lambda: len(held.sizes) == 1, 10, "the first INSERT", every=0.002)
    rest, rest_answers = post_from_threads(app, requests[1:])
    wait_for(lambda: writer.waiting == len(requests) - 1, 10, "the rest to wait behind it", every=0.002)
    held.release.set()
    for t in first + rest:
        t.join(30)
        assert not t.is_alive()
    return held, first_answer + rest_answers


def test_deliveries_arriving_together_share_one_insert_and_one_enqueue(app, db, monkeypatch):
    from webapp.webhooks import intake

    enqueued: list[list[tuple]] = []
    real_enqueue_new = jobs.enqueue_new

    def spy(func, calls, **kwargs):
        enqueued.append(list(calls))
        return real_enqueue_new(func, calls, **kwargs)

    monkeypatch.setattr(jobs, "enqueue_new", spy)
    statements: list[str] = []
    engine = intake_engine()
    record = lambda conn, cursor, statement, *args: statements.append(statement.split()[0].upper())  # noqa: E731
    sa.event.listen(engine, "before_cursor_execute", record)
    requests = [webhook_request("ping", {"zen": f"batch {i}"}, DEFAULT_WEBHOOK_SECRET) for i in range(5)]
    try:
        held, answers = post_in_one_batch(app, monkeypatch, requests)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)

    assert [a.status_code for a in answers] == [202] * 5, [a.get_data(as_text=True) for a in answers]
    assert held.sizes == [1, 4] and statements == ["INSERT", "INSERT"]  # one statement for the four
    assert [len(calls) for calls in enqueued] == [1, 4]  # and one Redis round trip
    rows = deliveries(db)
    assert sorted(r.payload["zen"] for r in rows) == [f"batch {i}" for i in range(5)]
    for (_, headers), answer in zip(requests, answers, strict=True):
        [row] = [r for r in rows if r.delivery_id == headers["X-GitHub-Delivery"]]
        assert (answer.json["id"], answer.json["queued"]) == (row.id, True)  # each caller got its own row
        job = jobs.fetch_job(intake.job_id_for(row.delivery_id), jobs.redis_connection(app))
        assert job is not None and job.args == (row.id,) and job.get_status() == "queued"
        assert job.meta["request_id"] == answer.headers["X-Request-ID"]  # the request it came with


def test_a_row_the_database_refuses_fails_only_its_own_delivery_in_a_batch(app, db, monkeypatch):
    from webapp.webhooks import intake

    # Nothing GitHub sends gets this far and is then refused (the checks before the INSERT see to
    # that), so one delivery's stored text is made something PostgreSQL's JSON type refuses.
    real_parse = intake.parse_payload

    def parse(body, mimetype):
        payload, text = real_parse(body, mimetype)
        return payload, ("{not json" if payload.get("zen") == "refused" else text)

    monkeypatch.setattr(intake, "parse_payload", parse)
    requests = [webhook_request("ping", {"zen": zen}, DEFAULT_WEBHOOK_SECRET)
                for zen in ("first", "good", "refused", "also good")]

    held, answers = post_in_one_batch(app, monkeypatch, requests)

    assert held.sizes[:2] == [1, 3]  # the batch failed as a whole, then each was written on its own
    assert sorted(held.sizes[2:]) == [1, 1, 1]
    assert [a.status_code for a in answers] == [202, 202, 400, 202]
    assert answers[2].json["code"] == "bad_json"
    assert sorted(r.payload["zen"] for r in deliveries(db)) == ["also good", "first", "good"]
    assert all(a.json["queued"] for a in answers if a.status_code == 202)


def test_the_same_delivery_twice_in_one_batch_is_stored_once(app, db, monkeypatch):
    twice = webhook_request("ping", {"zen": "twice"}, DEFAULT_WEBHOOK_SECRET)
    requests = [webhook_request("ping", {"zen": "first"}, DEFAULT_WEBHOOK_SECRET), twice, twice]

    held, answers = post_in_one_batch(app, monkeypatch, requests)

    assert held.sizes == [1, 2]
    assert sorted(a.status_code for a in answers[1:]) == [200, 202]
    assert sorted(a.json["status"] for a in answers[1:]) == ["accepted", "duplicate"]
    assert sorted(r.payload["zen"] for r in deliveries(db)) == ["first", "twice"]
