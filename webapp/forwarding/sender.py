"""One HTTP POST to a checked destination: connect to the checked address, never follow redirects.

http.client is used directly because it lets the connection go to the address the SSRF guard
approved while the Host header and TLS SNI/certificate check use the name, and it never
follows redirects. A watchdog shuts the socket at the overall deadline, so a receiver that
trickles bytes cannot hold a worker past the total timeout.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from webapp.forwarding.ssrf import Destination

MAX_LOGGED_BODY = 64 * 1024


@dataclass
class Response:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: str = ""
    latency_ms: int = 0
    error: str | None = None


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._address = destination.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, destination: Destination, timeout: float, context: ssl.SSLContext) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout, context=context)
        self._address = destination.address
        self._tls_context = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)


def _default_tls() -> ssl.SSLContext:
    return make_tls_context(None)


@functools.lru_cache(maxsize=4)
def make_tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """A verifying TLS context (system CAs, or the bundle given), built once: loading CAs is slow."""
    return ssl.create_default_context(cafile=ca_bundle or None)


def _decode(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _connection(destination: Destination, connect_timeout: float,
                tls_context: ssl.SSLContext | None) -> http.client.HTTPConnection:
    if destination.scheme == "https":
        return _PinnedHTTPSConnection(destination, connect_timeout, tls_context or _default_tls())
    return _PinnedHTTPConnection(destination, connect_timeout)


def _start_watchdog(conn: http.client.HTTPConnection, total_timeout: float,
                    timed_out: threading.Event) -> threading.Timer:
    """After `total_timeout`, mark the request timed out and shut its socket, wherever it is blocked."""

    def expire() -> None:
        timed_out.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(total_timeout, expire)
    watchdog.daemon = True
    watchdog.start()
    return watchdog


def post(
    destination: Destination,
    body: bytes,
    headers: dict[str, str],
    *,
    connect_timeout: float,
    total_timeout: float,
    tls_context: ssl.SSLContext | None = None,
) -> Response:
    """POST `body` and return what came back (status None and an error when nothing did)."""
    started = time.monotonic()
    deadline = started + total_timeout
    conn = _connection(destination, min(connect_timeout, total_timeout), tls_context)
    timed_out = threading.Event()
    watchdog = _start_watchdog(conn, total_timeout, timed_out)

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        try:
            conn.connect()
        except TimeoutError:
            return Response(None, latency_ms=elapsed_ms(), error=f"connect timed out after {connect_timeout:g} s")
        except ssl.SSLError as exc:
            return Response(None, latency_ms=elapsed_ms(), error=f"TLS failed: {exc}")
        except OSError as exc:
            return Response(None, latency_ms=elapsed_ms(), error=f"connection failed: {exc}")
        assert conn.sock is not None
        conn.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            conn.request("POST", destination.path, body=body, headers=headers)
            raw = conn.getresponse()
            kept = raw.read(MAX_LOGGED_BODY)
            if not timed_out.is_set() and len(kept) == MAX_LOGGED_BODY:
                kept += b"\n[truncated at 64 KB]"
        except (OSError, http.client.HTTPException) as exc:
            if timed_out.is_set() or isinstance(exc, TimeoutError):
                return Response(None, latency_ms=elapsed_ms(), error=f"timed out after {total_timeout:g} s")
            return Response(None, latency_ms=elapsed_ms(), error=f"{type(exc).__name__}: {exc}")
        if timed_out.is_set():
            return Response(raw.status, dict(raw.getheaders()), _decode(kept), elapsed_ms(),
                            error=f"timed out after {total_timeout:g} s reading the response")
        return Response(raw.status, dict(raw.getheaders()), _decode(kept), elapsed_ms())
    finally:
        watchdog.cancel()
        conn.close()
