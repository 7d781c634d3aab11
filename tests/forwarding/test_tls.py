"""https receivers: the connection goes to the checked address while SNI and the certificate use the name."""

from __future__ import annotations

import datetime as dt
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import select

from tests.forwarding.conftest import webhook_event
from tests.found import found
from webapp.extensions import db
from webapp.forwarding import ssrf
from webapp.forwarding.models import ForwardDelivery


def self_signed(tmp_path: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path: Path):
    cert, key = self_signed(tmp_path, "hooks.test")
    seen: dict[str, Any] = {"sni": [], "hosts": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["hosts"].append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server.server_address[1], cert, seen
    server.shutdown()
    server.server_close()


def test_https_goes_to_checked_address_with_name_for_sni_and_certificate(app, monkeypatch, tls_receiver,
                                                                         make_target, process, run_jobs):
    port, cert, seen = tls_receiver
    monkeypatch.setitem(app.config, "FORWARDING_ALLOW_HTTP", False)
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_HOSTS", ["hooks.test", "wrong-name.test"])
    monkeypatch.setitem(app.config, "FORWARDING_ALLOWED_CIDRS", [])
    monkeypatch.setitem(app.config, "FORWARDING_CA_BUNDLE", str(cert))
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    monkeypatch.setattr(ssrf, "resolve", resolve)
    good = make_target(f"https://hooks.test:{port}/hook", name="good")
    bad = make_target(f"https://wrong-name.test:{port}/hook", name="bad")
    process(webhook_event("push"))
    run_jobs()
    db.session.expire_all()
    by_target = {d.target_id: d for d in db.session.scalars(select(ForwardDelivery))}
    assert by_target[good.id].status == "succeeded" and by_target[good.id].last_status_code == 204
    assert by_target[good.id].attempts[0].address == "127.0.0.1"
    assert seen["hosts"] == [f"hooks.test:{port}"]
    assert "hooks.test" in seen["sni"] and "wrong-name.test" in seen["sni"]
    assert "TLS failed" in found(by_target[bad.id].last_error)
    assert sorted(lookups) == ["hooks.test", "wrong-name.test"]  # one lookup per attempt, none by the client
