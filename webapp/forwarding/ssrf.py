"""The SSRF guard: which outbound URLs Gantry may POST to, and the one address it may connect to.

The host is resolved here and the caller connects to the returned address (no second lookup, so
DNS rebinding between check and connect is impossible). Every address the name resolves to must
be public; numeric hosts must be written canonically, so `0x7f.1` or `2130706433` never slip by.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
CGNAT = ipaddress.ip_network("100.64.0.0/10")
UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))  # RFC 6052, RFC 8215
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d, still routed to a.b.c.d by some stacks
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$", re.IGNORECASE)


class UnsafeURL(ValueError):
    """The URL may not be forwarded to; the message is the reason, for people."""


@dataclass(frozen=True)
class Destination:
    """A checked URL: connect to `address`, present `host` (Host header and TLS SNI)."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


@dataclass(frozen=True)
class Policy:
    allow_http: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()

    @classmethod
    def from_settings(cls, allow_http: bool, hosts: Sequence[str], cidrs: Sequence[str]) -> Policy:
        return cls(
            allow_http=allow_http,
            allowed_hosts=frozenset(h.lower() for h in hosts),
            allowed_networks=tuple(ipaddress.ip_network(c, strict=False) for c in cidrs),
        )


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (tests replace this to play DNS)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeURL(f"{host} does not resolve ({exc})") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def address_problem(ip: IPAddress) -> str | None:
    """Why connecting to `ip` is refused, or None when it is a public address."""
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if isinstance(ip, ipaddress.IPv6Address):
        # Every IPv6 form that carries an IPv4 address reaches that address: refused whatever it embeds,
        # since a public IPv4 has no need of them and a private one must not get through by them.
        if ip.ipv4_mapped is not None:
            return f"an IPv4-mapped IPv6 address (of {ip.ipv4_mapped})"
        if ip.sixtofour is not None:
            return f"a 6to4 address (of {ip.sixtofour})"
        if ip.teredo is not None:
            return f"a Teredo address (of {ip.teredo[1]})"
        if any(ip in net for net in NAT64):
            return "a NAT64 address"
        if ip in IPV4_COMPATIBLE and int(ip) > 1:
            return f"an IPv4-compatible IPv6 address (of {ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)})"
        if ip in UNIQUE_LOCAL:
            return "a unique-local IPv6 address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_link_local:
        return "a link-local address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in CGNAT:
        return "a carrier-grade NAT address (100.64.0.0/10)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "a reserved, non-public address"
    return None


def _literal_address(host: str) -> IPAddress | None:
    """The address a numeric host names, refusing every spelling but the canonical one."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if "%" in host:
        raise UnsafeURL(f"{host}: IPv6 zone identifiers are not allowed")
    if _NUMERIC_HOST.match(host):
        try:
            decoded = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
        raise UnsafeURL(f"{host} is a non-standard spelling of the IPv4 address {decoded}")
    return None


def check_url(url: str, policy: Policy) -> Destination:
    """Check `url` against the policy and resolve it; raise UnsafeURL with the reason if refused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"not a valid URL ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL("only https URLs can be forwarded to")
    if scheme == "http" and not policy.allow_http:
        raise UnsafeURL("only https URLs can be forwarded to (http needs FORWARDING_ALLOW_HTTP)")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("credentials in the URL are not allowed; the payload is signed instead")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeURL("the URL has no host")
    if port == 0:
        raise UnsafeURL("port 0 is not a port anything listens on")
    port = port or (443 if scheme == "https" else 80)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query

    literal = _literal_address(host)
    addresses = [str(literal)] if literal is not None else resolve(host, port)
    if not addresses:
        raise UnsafeURL(f"{host} does not resolve to any address")
    host_allowed = host.lower() in policy.allowed_hosts
    for raw in addresses:
        ip = ipaddress.ip_address(raw.split("%", 1)[0])
        if host_allowed or any(ip in net for net in policy.allowed_networks):
            continue
        problem = address_problem(ip)
        if problem:
            subject = host if literal is not None else f"{host} resolves to {ip}, which"
            raise UnsafeURL(f"{subject} is {problem}")
    return Destination(scheme, host, port, path, addresses[0].split("%", 1)[0])
