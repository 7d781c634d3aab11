"""The SSRF guard: hostile URLs are refused, with the reason recorded, on every attempt."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.forwarding.conftest import webhook_event
from tests.found import found
from webapp.extensions import db
from webapp.forwarding import ssrf
from webapp.forwarding.models import ForwardDelivery
from webapp.forwarding.ssrf import Policy, UnsafeURL, check_url

FAKE_DNS = {
    "localhost": ["127.0.0.1"],
    "foo.localtest.me": ["127.0.0.1"],
    "internal.example.com": ["10.1.2.3"],
    "metadata.google.internal": ["169.254.169.254"],
    "rebind.example.com": ["93.184.216.34", "127.0.0.1"],
    "v6only.example.com": ["fd12:3456::1"],
    "mapped.example.com": ["::ffff:10.0.0.1"],
    "hooks.example.com": ["93.184.216.34"],
}

HOSTILE = [
    ("https://[::127.0.0.1]/", "IPv4-compatible IPv6 address (of 127.0.0.1)"),
    ("https://[::7f00:1]/", "IPv4-compatible IPv6 address (of 127.0.0.1)"),
    ("https://[::a00:1]/", "IPv4-compatible IPv6 address (of 10.0.0.1)"),
    ("https://[2002:7f00:1::]/", "6to4 address (of 127.0.0.1)"),
    ("https://[2002:a00:1::1]/", "6to4 address (of 10.0.0.1)"),
    ("https://[64:ff9b:1::a00:1]/", "NAT64"),
    ("https://[64:ff9b::7f00:1]/", "NAT64"),
    ("https://[::ffff:10.0.0.1]/", "IPv4-mapped"),
    ("https://[::ffff:7f00:1]/", "IPv4-mapped"),
    ("https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/", "Teredo"),
    ("https://example.com:0/", "port 0"),
    ("http://127.0.0.1/hook", "loopback"),
    ("http://localhost:8080/hook", "localhost resolves to 127.0.0.1, which is a loopback"),
    ("http://foo.localtest.me/", "loopback"),
    ("http://2130706433/", "non-standard spelling of the IPv4 address 127.0.0.1"),
    ("http://0x7f000001/", "non-standard spelling of the IPv4 address 127.0.0.1"),
    ("http://0177.0.0.1/", "non-standard spelling of the IPv4 address 127.0.0.1"),
    ("http://0x7f.0.0.1/", "non-standard spelling of the IPv4 address 127.0.0.1"),
    ("http://127.1/", "non-standard spelling of the IPv4 address 127.0.0.1"),
    ("http://017700000001/", "non-standard spelling of the IPv4 address 127.0.0.1"),
    ("http://0/", "non-standard spelling of the IPv4 address 0.0.0.0"),
    ("http://0xa9fea9fe/latest/meta-data/", "non-standard spelling of the IPv4 address 169.254.169.254"),
    ("http://10.0.0.5/", "private"),
    ("http://172.16.3.4/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://[fd00:ec2::254]/", "cloud metadata"),
    ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
    ("http://169.254.10.10/", "link-local"),
    ("http://[fe80::1]/", "link-local"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://100.127.255.254/", "carrier-grade NAT"),
    ("http://[::1]/", "loopback"),
    ("http://[::]/", "unspecified"),
    ("http://0.0.0.0/", "unspecified"),
    ("http://[fc00::1]/", "unique-local"),
    ("http://v6only.example.com/", "unique-local"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped"),
    ("http://[::ffff:a9fe:a9fe]/", "IPv4-mapped"),
    ("http://mapped.example.com/", "IPv4-mapped"),
    ("http://[64:ff9b::7f00:1]/", "NAT64"),
    ("http://224.0.0.1/", "multicast"),
    ("http://internal.example.com/deploy", "internal.example.com resolves to 10.1.2.3, which is a private"),
    ("http://rebind.example.com/", "resolves to 127.0.0.1, which is a loopback"),
    ("ftp://hooks.example.com/", "only https"),
    ("gopher://127.0.0.1:6379/_FLUSHALL", "only https"),
    ("http://user:pass@hooks.example.com/", "credentials"),
    ("http://[fe80::1%25eth0]/", "link-local"),
]


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    def resolve(host: str, port: int) -> list[str]:
        if host not in FAKE_DNS:
            raise UnsafeURL(f"{host} does not resolve")
        return FAKE_DNS[host]

    monkeypatch.setattr(ssrf, "resolve", resolve)


def test_table_is_big_enough() -> None:
    assert len(HOSTILE) >= 20


@pytest.mark.parametrize(("url", "reason"), HOSTILE)
def test_hostile_url_is_refused(fake_dns: None, url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL) as refused:
        check_url(url, Policy(allow_http=True))
    assert reason in str(refused.value)


def test_public_name_resolves_to_pinned_address(fake_dns: None) -> None:
    destination = check_url("https://hooks.example.com/deploy?env=prod", Policy())
    assert destination == ssrf.Destination("https", "hooks.example.com", 443, "/deploy?env=prod", "93.184.216.34")


def test_http_needs_the_setting(fake_dns: None) -> None:
    with pytest.raises(UnsafeURL, match="only https"):
        check_url("http://hooks.example.com/", Policy())
    assert check_url("http://hooks.example.com/", Policy(allow_http=True)).port == 80


def test_allow_list_lets_internal_receivers_through(fake_dns: None) -> None:
    by_cidr = Policy.from_settings(True, [], ["10.0.0.0/8"])
    assert check_url("http://internal.example.com/", by_cidr).address == "10.1.2.3"
    by_host = Policy.from_settings(True, ["localhost"], [])
    assert check_url("http://localhost:9000/", by_host).address == "127.0.0.1"
    with pytest.raises(UnsafeURL):
        check_url("http://127.0.0.1/", by_cidr)


def test_every_hostile_url_is_refused_at_send_time_with_the_reason_recorded(
    app, fake_dns, forwarding_settings, monkeypatch, make_target, process, run_jobs
) -> None:
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_CIDRS", [])
    reasons = {}
    for i, (url, reason) in enumerate(HOSTILE):
        target = make_target(url, name=f"hostile-{i}")
        reasons[target.id] = (url, reason)
    process(webhook_event("push"))
    run_jobs()
    db.session.expire_all()
    sent = list(db.session.scalars(select(ForwardDelivery)))
    assert len(sent) == len(HOSTILE)
    for delivery in sent:
        url, reason = reasons[delivery.target_id]
        [attempt] = delivery.attempts
        assert attempt.outcome == "refused", url
        assert attempt.address is None and attempt.response_status is None
        assert found(attempt.error).startswith("refused: ") and reason in found(attempt.error), (url, attempt.error)
        assert reason in found(delivery.last_error)


def test_check_runs_on_every_attempt(app, forwarding_settings, monkeypatch, receiver, make_target, process,
                                     run_jobs, clock) -> None:
    """DNS that later points at a private address (rebinding) is caught on the retry."""
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_CIDRS", [])
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_HOSTS", [])
    answers = {"hooks.example.com": ["93.184.216.34"]}
    monkeypatch.setattr(ssrf, "resolve", lambda host, port: answers[host])
    sent = []

    def fake_post(destination, body, headers, **kwargs):
        sent.append(destination.address)
        from webapp.forwarding.sender import Response

        return Response(503, {}, "busy", 3)

    monkeypatch.setattr("webapp.forwarding.sender.post", fake_post)
    make_target("https://hooks.example.com/hook")
    process(webhook_event("push"))
    run_jobs()
    assert sent == ["93.184.216.34"]
    answers["hooks.example.com"] = ["10.9.8.7"]
    clock.advance(seconds=10)
    from webapp.forwarding import outbox

    outbox.sweep_due()
    run_jobs()
    assert sent == ["93.184.216.34"]
    db.session.expire_all()
    [delivery] = db.session.scalars(select(ForwardDelivery))
    assert [a.outcome for a in delivery.attempts] == ["failed", "refused"]
    assert "10.9.8.7, which is a private address" in found(delivery.attempts[1].error)
