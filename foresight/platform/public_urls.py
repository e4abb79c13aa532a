"""A guard against private targets: a URL a user gives (a calendar feed, a callback) is
checked before the server fetches it, so it cannot reach the machine or its network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from foresight.platform.errors import InvalidInput

Resolver = Callable[..., Iterable[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_public_url(
    url: str, *, allow_private: bool = False, resolve: Resolver = socket.getaddrinfo
) -> str:
    """``url`` normalised (``webcal://`` becomes ``https://``) if it is http(s) and its
    host resolves only to public addresses; else InvalidInput naming the URL and why.

    Loopback, private, link-local, multicast, unspecified and reserved targets are
    refused (IPv4 and IPv6, and IPv4 inside IPv6), so a URL a user gives cannot reach
    the machine or its network. ``allow_private`` skips the address check.

    >>> check_public_url("webcal://93.184.215.14/a.ics")
    'https://93.184.215.14/a.ics'
    """
    text = url.strip() if isinstance(url, str) else ""
    shown = text if len(text) <= 80 else text[:77] + "..."
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidInput(f"url {shown!r} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme in ("webcal", "webcals"):
        scheme = "https"
    if scheme not in ("http", "https"):
        raise InvalidInput(f"url {shown!r} must start with http://, https:// or webcal://")
    if not host:
        raise InvalidInput(f"url {shown!r} has no host; write https://<host>/<path>")
    normalised = urlunsplit((scheme, parts.netloc, parts.path, parts.query, parts.fragment))
    if allow_private:
        return normalised
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)  # "fe80::1%eth0" too
    except ValueError:
        literal = None
    addresses = [literal] if literal else _resolve(host, port or _PORTS[scheme], resolve, shown)
    for address in addresses:
        kind = _private_kind(address)
        if kind:
            via = "" if literal else f" resolves to {address}, which"
            raise InvalidInput(
                f"url {shown!r} is refused: {host}{via} is a {kind} address; "
                "give a public http(s) URL"
            )
    return normalised


def _resolve(host: str, port: int, resolve: Resolver, shown: str) -> list[IPAddress]:
    """Every address ``host`` resolves to; InvalidInput when it resolves to none."""
    try:
        infos = list(resolve(host, port, proto=socket.IPPROTO_TCP))
    except (OSError, UnicodeError) as exc:
        raise InvalidInput(f"url {shown!r}: its host {host} could not be found ({exc})") from None
    # An IPv6 scope ("fe80::1%eth0") is cut off before parsing.
    found = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not found:
        raise InvalidInput(f"url {shown!r}: its host {host} has no address")
    return found


def _private_kind(address: IPAddress) -> str | None:
    """Why ``address`` is not a public target ("loopback", "private"…), or None."""
    if isinstance(address, ipaddress.IPv6Address):
        # These carry an IPv4 address that the host or a gateway goes on to reach.
        if address.ipv4_mapped:
            return _private_kind(address.ipv4_mapped)
        if address in _NAT64:
            return _private_kind(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.sixtofour and (kind := _private_kind(address.sixtofour)):
            return kind
        if address.is_site_local:
            return "site-local"
    for kind, test in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if test:
            return kind
    # Shared (carrier-grade NAT) space and the like are neither private nor global.
    return None if address.is_global else "non-public"


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # an IPv4 address in its last 32 bits
_PORTS = {"http": 80, "https": 443}
