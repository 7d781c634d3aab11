"""End to end: an event is stored in the outbox, sent signed to a local receiver, retried, logged."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from tests.forwarding.conftest import (
    Reply,
    VerificationError,
    load_payload,
    purge_forwarded,
    verify_standard_webhook,
    webhook_event,
)
from tests.found import found
from webapp.extensions import db
from webapp.forwarding import outbox, sending
from webapp.forwarding.models import FAILED, PENDING, SUCCEEDED, ForwardAttempt, ForwardDelivery, ForwardTarget

pytestmark = pytest.mark.usefixtures("forwarding_settings")


def fresh(target: ForwardTarget) -> ForwardTarget:
    """The target re-read (running jobs ends the test's session, as a worker does)."""
    db.session.expire_all()
    found = db.session.get(ForwardTarget, target.id)
    assert found is not None
    return found


def deliveries() -> list[ForwardDelivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(ForwardDelivery).order_by(ForwardDelivery.id)))


def test_event_is_forwarded_signed_with_envelope(app, receiver, make_target, process, run_jobs, clock):
    target = make_target(receiver.url(), events=["push"], github_signature=True)
    event = webhook_event("push")
    assert process(event) == "forwarded to 1 target(s)"
    run_jobs()

    assert len(receiver.requests) == 1
    got = receiver.requests[0]
    verify_standard_webhook(target.secret, got.headers, got.body, now=clock.now.timestamp())
    body = got.json
    assert body["type"] == "github.push"
    assert body["delivery"]["id"] == event.delivery_id
    assert body["delivery"]["event"] == "push"
    assert body["delivery"]["repository"]["full_name"] == event.payload["repository"]["full_name"]
    assert body["payload"] == load_payload("push")
    import hashlib
    import hmac

    expected = "sha256=" + hmac.new(target.secret.encode(), got.body, hashlib.sha256).hexdigest()
    assert got.headers["X-Hub-Signature-256"] == expected

    [delivery] = deliveries()
    assert delivery.status == SUCCEEDED
    assert got.headers["webhook-id"] == delivery.message_id
    [attempt] = delivery.attempts
    assert attempt.number == 1 and attempt.response_status == 200 and attempt.outcome == "succeeded"
    assert attempt.request_headers["webhook-signature"].startswith("v1,")
    assert attempt.response_body == "ok" and attempt.latency_ms is not None
    assert attempt.address == "127.0.0.1"


def test_tampered_body_fails_verification(receiver, make_target, process, run_jobs, clock):
    target = make_target(receiver.url())
    process(webhook_event("push"))
    run_jobs()
    got = receiver.requests[0]
    with pytest.raises(VerificationError):
        verify_standard_webhook(target.secret, got.headers, got.body + b" ", now=clock.now.timestamp())


def test_redelivered_event_is_stored_once(receiver, make_target, process, run_jobs):
    make_target(receiver.url())
    event = webhook_event("push")
    process(event)
    assert process(event) is None
    run_jobs()
    assert len(deliveries()) == 1
    assert len(receiver.requests) == 1


def test_a_batch_of_events_reads_the_targets_once_and_a_new_target_counts_from_the_next(
        app, receiver, make_target, run_jobs):
    first = make_target(receiver.url("/first"))
    selects = []

    def count(conn, cursor, statement, *args):
        if statement.lstrip().upper().startswith("SELECT") and "FROM forward_targets" in statement:
            selects.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        for _ in range(3):  # three deliveries processed in one transaction, as a processing batch is
            outbox.on_event(webhook_event("push"))
        db.session.commit()
        assert len(selects) == 1
        second = make_target(receiver.url("/second"))  # committed by someone else between batches
        selects.clear()
        outbox.on_event(webhook_event("push"))
        db.session.commit()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    assert len(selects) == 1
    by_target = [d.target_id for d in deliveries()]
    assert by_target.count(first.id) == 4 and by_target.count(second.id) == 1


def test_filters_pick_targets(make_repo, receiver, make_target, process, run_jobs):
    payload = load_payload("release", "published")
    repo_id = payload["repository"]["id"]
    make_repo(repo_id, payload["repository"]["full_name"])
    wanted = make_target(receiver.url("/wanted"), events=["release.published"], repository_ids=(repo_id,),
                         tag_patterns=[payload["release"]["tag_name"][:1] + "*"])
    make_target(receiver.url("/other-action"), events=["release.deleted"])
    make_target(receiver.url("/other-repo"), repository_ids=(repo_id + 1,))
    make_target(receiver.url("/other-tag"), tag_patterns=["no-such-tag-*"])
    make_target(receiver.url("/branches-only"), branch_patterns=["main"])  # a tag event passes
    process(webhook_event("release", payload=payload))
    run_jobs()
    assert sorted(r.path for r in receiver.requests) == ["/branches-only", "/wanted"]
    assert {d.target_id for d in deliveries()} >= {wanted.id}


def test_branch_patterns_narrow_pushes(receiver, make_target, process, run_jobs):
    payload = load_payload("push", "default.with-new-branch")  # refs/heads/master
    branch = payload["ref"].removeprefix("refs/heads/")
    make_target(receiver.url("/yes"), branch_patterns=[branch[:2] + "*"])
    make_target(receiver.url("/no"), branch_patterns=["release/*"])
    process(webhook_event("push", payload=payload))
    run_jobs()
    assert [r.path for r in receiver.requests] == ["/yes"]


def test_retry_schedule_with_injected_clock(receiver, make_target, process, run_jobs, clock):
    receiver.default = Reply(500, body=b"boom")
    make_target(receiver.url())
    process(webhook_event("push"))
    run_jobs()
    expected = sending.RETRY_SCHEDULE[1:]
    for number, base in enumerate(expected, start=2):
        [delivery] = deliveries()
        assert delivery.status == PENDING and delivery.attempt_count == number - 1
        wait = (delivery.next_attempt_at - clock.now).total_seconds()
        assert base * 0.8 - 1 <= wait <= base * 1.2 + 1, (number, wait)
        clock.advance(seconds=wait - 1)
        assert outbox.sweep_due() == 0  # not due yet
        clock.advance(seconds=1)
        assert outbox.sweep_due() == 1
        run_jobs()
    [delivery] = deliveries()
    assert delivery.status == FAILED and delivery.attempt_count == len(sending.RETRY_SCHEDULE) == 8
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == 8
    assert {a.outcome for a in delivery.attempts} == {"failed"}
    assert delivery.attempts[0].error == "answered 500" and delivery.attempts[0].response_body == "boom"
    assert delivery.attempts[0].next_attempt_at is not None


def test_jitter_stays_within_twenty_percent(app):
    import random

    rng = random.Random(7)
    delays = [found(sending.next_delay(2, None, rng)) for _ in range(500)]
    assert min(delays) >= 240 and max(delays) <= 360
    assert max(delays) - min(delays) > 60  # it really is spread
    assert sending.next_delay(len(sending.RETRY_SCHEDULE), None) is None


def test_gone_disables_target(receiver, make_target, process, run_jobs):
    receiver.default = Reply(410)
    target = make_target(receiver.url())
    process(webhook_event("push"))
    run_jobs()
    target = fresh(target)
    assert target.active is False and "410" in found(target.disabled_reason)
    [delivery] = deliveries()
    assert delivery.status == FAILED
    # a new event is stored for later recovery, not sent
    process(webhook_event("push"))
    run_jobs()
    assert len(receiver.requests) == 1
    assert [d.status for d in deliveries()] == [FAILED, FAILED]
    assert "target disabled" in found(deliveries()[1].last_error)


def test_redirects_are_failures_and_not_followed(make_receiver, make_target, process, run_jobs):
    inner, outer = make_receiver(), make_receiver()
    outer.default = Reply(302, headers={"Location": inner.url("/steal")})
    make_target(outer.url())
    process(webhook_event("push"))
    run_jobs()
    assert inner.requests == []
    [delivery] = deliveries()
    assert delivery.status == PENDING and delivery.last_status_code == 302
    assert "redirects are not followed" in found(delivery.last_error) and "/steal" in found(delivery.last_error)


def test_redirect_to_loopback_from_allowed_host_is_not_followed(app, make_receiver, make_target, process,
                                                               run_jobs, monkeypatch):
    from webapp.forwarding import ssrf

    inner, outer = make_receiver(), make_receiver()
    outer.default = Reply(307, headers={"Location": f"http://127.0.0.1:{inner.port}/internal"})
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_CIDRS", [])
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_HOSTS", ["receiver.internal.test"])
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: ["127.0.0.1"])
    make_target(f"http://receiver.internal.test:{outer.port}/hook")
    process(webhook_event("push"))
    run_jobs()
    assert len(outer.requests) == 1 and outer.requests[0].headers["Host"] == f"receiver.internal.test:{outer.port}"
    assert inner.requests == []
    assert "redirects are not followed" in found(deliveries()[0].last_error)


def test_retry_after_is_honoured_and_capped(app, receiver, make_target, process, run_jobs, clock, monkeypatch):
    monkeypatch.setitem(app.config, "FORWARDING_RETRY_AFTER_MAX", 600)
    receiver.replies = [Reply(429, headers={"Retry-After": "120"}), Reply(503, headers={"Retry-After": "86400"})]
    make_target(receiver.url())
    process(webhook_event("push"))
    run_jobs()
    [delivery] = deliveries()
    assert (delivery.next_attempt_at - clock.now).total_seconds() == pytest.approx(120, abs=1)
    clock.advance(seconds=120)
    outbox.sweep_due()
    run_jobs()
    [delivery] = deliveries()
    assert delivery.attempt_count == 2
    assert (delivery.next_attempt_at - clock.now).total_seconds() == pytest.approx(600, abs=1)
    clock.advance(seconds=600)
    outbox.sweep_due()
    run_jobs()
    assert deliveries()[0].status == SUCCEEDED


def test_retry_after_http_date(app):
    from datetime import UTC, datetime
    from email.utils import format_datetime

    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert sending.retry_after_seconds(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90
    assert sending.retry_after_seconds("soon", now) is None


def test_auto_disable_after_five_days_then_recover_since(receiver, make_target, process, run_jobs, clock,
                                                          make_user, make_repo, grant, browser):
    receiver.default = Reply(500)
    repo_id = load_payload("push")["repository"]["id"]
    make_repo(repo_id)
    owner = make_user("maintainer")
    owner_name = owner.username
    grant(owner, repo_id)
    target = make_target(receiver.url(), repository_ids=(repo_id,), owner=owner)
    start = clock.now
    for _day in range(6):
        process(webhook_event("push"))
        run_jobs()
        clock.advance(days=1)
        outbox.sweep_due()
        run_jobs()
    target = fresh(target)
    assert target.active is False
    assert "failing continuously since" in found(target.disabled_reason)
    assert all(d.status == FAILED for d in deliveries())
    sent_before = len(receiver.requests)
    # new events are kept while disabled
    process(webhook_event("push"))
    run_jobs()
    assert len(receiver.requests) == sent_before
    stored = len(deliveries())
    assert stored == 7

    # the owner sees why
    browser.login(owner_name)
    page = browser.get("/forwarding").get_data(as_text=True)
    assert "is disabled" in page and "failing continuously since" in page

    # re-enable, then recover everything since the third day
    receiver.default = Reply(200)
    response = browser.post(f"/forwarding/targets/{target.id}/active", data={"active": "true"})
    assert response.status_code == 200
    since = (start + timedelta(days=2, hours=12)).strftime("%Y-%m-%dT%H:%M")
    response = browser.post(f"/forwarding/targets/{target.id}/recover", data={"since": since})
    assert response.status_code == 200, response.get_data(as_text=True)
    run_jobs()
    statuses = [d.status for d in deliveries()]
    assert statuses[:3] == [FAILED] * 3
    assert statuses[3:] == [SUCCEEDED] * 4


def test_dual_signatures_during_rotation(app, receiver, make_target, process, run_jobs, clock, make_user):
    from webapp.forwarding import service

    admin = make_user("admin")
    target = make_target(receiver.url())
    old_secret = target.secret
    _, new_secret = service.rotate_secret(admin, target.id, actor=admin)
    process(webhook_event("push"))
    run_jobs()
    got = receiver.requests[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    verify_standard_webhook(old_secret, got.headers, got.body, now=clock.now.timestamp())
    verify_standard_webhook(new_secret, got.headers, got.body, now=clock.now.timestamp())

    clock.advance(hours=24, seconds=1)
    process(webhook_event("push"))
    run_jobs()
    got = receiver.requests[-1]
    assert len(got.headers["webhook-signature"].split(" ")) == 1
    verify_standard_webhook(new_secret, got.headers, got.body, now=clock.now.timestamp())
    with pytest.raises(VerificationError):
        verify_standard_webhook(old_secret, got.headers, got.body, now=clock.now.timestamp())


def test_hanging_receiver_does_not_block_others(make_receiver, make_target, process, run_jobs):
    slow, fast = make_receiver(), make_receiver()
    slow.default = Reply(200, delay=30)
    make_target(slow.url(), name="slow")
    make_target(fast.url(), name="fast")
    process(webhook_event("push"))
    started = time.monotonic()
    run_jobs()
    elapsed = time.monotonic() - started
    assert elapsed < 10  # the 1 s total timeout cut the hanging receiver off
    by_name = {d.target.name: d for d in deliveries()}
    assert by_name["fast"].status == SUCCEEDED
    assert by_name["slow"].status == PENDING and "timed out" in found(by_name["slow"].last_error)
    assert len(fast.requests) == 1


def test_receiver_trickling_headers_is_cut_at_total_timeout(app, make_target, process, run_jobs):
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def trickle() -> None:
        conn, _ = server.accept()
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            stop.wait(0.2)
        conn.close()

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        make_target(f"http://127.0.0.1:{server.getsockname()[1]}/")
        process(webhook_event("push"))
        started = time.monotonic()
        run_jobs()
        assert time.monotonic() - started < 5
        assert "timed out" in found(deliveries()[0].last_error)
    finally:
        stop.set()
        server.close()


def test_response_body_is_truncated_at_64_kb(receiver, make_target, process, run_jobs):
    receiver.default = Reply(200, body=b"x" * 200_000)
    make_target(receiver.url())
    process(webhook_event("push"))
    run_jobs()
    [attempt] = deliveries()[0].attempts
    assert found(attempt.response_body).startswith("x" * 1000)
    assert len(found(attempt.response_body)) < 64 * 1024 + 100
    assert found(attempt.response_body).endswith("[truncated at 64 KB]")


def test_lost_redis_loses_nothing(app, receiver, make_target, process, run_jobs, monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    from webapp.core import jobs
    from webapp.core.jobs import get_queue

    make_target(receiver.url())

    def down(*args, **kwargs):
        raise RedisConnectionError("Redis is down")

    real_enqueue = jobs._enqueue_on  # what every enqueue, deferred or not, goes through
    monkeypatch.setattr(jobs, "_enqueue_on", down)
    process(webhook_event("push"))
    assert get_queue("default").count == 0
    run_jobs()
    assert deliveries()[0].status == PENDING and receiver.requests == []
    monkeypatch.setattr(jobs, "_enqueue_on", real_enqueue)
    assert outbox.sweep_due() == 1
    run_jobs()
    assert deliveries()[0].status == SUCCEEDED


def test_claimed_delivery_is_not_sent_twice(receiver, make_target, process, run_jobs, clock):
    make_target(receiver.url())
    process(webhook_event("push"))
    [delivery] = deliveries()
    assert sending._claim(delivery.id, clock.now) is True
    assert sending.attempt_delivery(delivery.id) == "not due"  # someone else holds it
    assert outbox.sweep_due() == 0
    clock.advance(minutes=2)  # the claim lapsed (a worker died mid-send)
    assert outbox.sweep_due() == 1
    run_jobs()
    assert len(receiver.requests) == 1
    assert deliveries()[0].status == SUCCEEDED


def test_manual_resend(app, receiver, make_target, process, run_jobs, make_user):
    make_target(receiver.url())
    process(webhook_event("push"))
    run_jobs()
    admin = make_user("admin")
    delivery = deliveries()[0]
    outbox.resend(admin, delivery.id, actor=admin)
    run_jobs()
    [delivery] = deliveries()
    assert delivery.status == SUCCEEDED and delivery.attempt_count == 2
    assert len(receiver.requests) == 2
    assert receiver.requests[0].headers["webhook-id"] == receiver.requests[1].headers["webhook-id"]


def test_purge_removes_old_finished_deliveries(receiver, make_target, process, run_jobs, clock):
    receiver.replies = [Reply(200), Reply(500)]
    make_target(receiver.url())
    process(webhook_event("push"))
    process(webhook_event("push"))
    run_jobs()
    clock.advance(days=31)
    process(webhook_event("push"))
    removed = purge_forwarded()
    assert removed == 1  # the old success; the old pending retry and the new one stay
    left = deliveries()
    assert sorted(d.status for d in left) == [PENDING, PENDING]
    orphans = select(ForwardAttempt.id).where(ForwardAttempt.delivery_id.not_in([d.id for d in left]))
    assert db.session.scalar(orphans) is None


def test_dead_receiver_backs_the_whole_target_off(make_target, process, run_jobs, clock):
    import socket

    with socket.socket() as s:  # a port nobody listens on: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    make_target(f"http://127.0.0.1:{port}/hook")
    for _ in range(sending.CLAIM_BATCH + 5):  # more than one claimed batch
        process(webhook_event("push"))
    run_jobs()
    first, *rest = deliveries()
    assert first.attempt_count == 1 and "connection failed" in found(first.last_error)
    assert all(d.attempt_count == 0 and d.status == PENDING for d in rest)
    assert {d.next_attempt_at for d in rest} == {first.next_attempt_at}  # all wait for the retry
    assert first.next_attempt_at > clock.now
    assert outbox.sweep_due() == 0
    clock.now = first.next_attempt_at
    assert outbox.sweep_due() == 1
    run_jobs()
    assert sum(d.attempt_count for d in deliveries()) == 2  # one attempt per retry step, not one per delivery


def test_one_job_drains_many_deliveries_in_order(receiver, make_target, process, run_jobs):
    make_target(receiver.url())
    events = [webhook_event("push") for _ in range(sending.CLAIM_BATCH + 5)]
    for event in events:
        process(event)
    run_jobs()
    assert [r.json["delivery"]["id"] for r in receiver.requests] == [e.delivery_id for e in events]
    assert {d.status for d in deliveries()} == {SUCCEEDED}
