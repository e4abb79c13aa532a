"""A guard against private targets: a URL a user gives (a calendar feed, a callback) is
checked before the server fetches it, so it cannot reach the machine or its network.

Two checks, because one is not enough. :func:`check_public_url` refuses a bad URL when a
user gives it, with a message. :func:`public_client` checks again at connect time: its
transport resolves the host itself and connects only to the address it checked, so a
name that resolves to a public address at check time and to a private one a second
later (DNS rebinding), a redirect, or a host spelled so that two IDNA codecs read it
differently, still cannot reach inside.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpcore
import httpx

from foresight.platform.errors import InvalidInput

Resolver = Callable[..., Iterable[tuple[Any, ...]]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def check_public_url(
    url: str, *, allow_private: bool = False, resolve: Resolver | None = None
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
    # socket.getaddrinfo looked up per call (not bound as a default): a test can stub it.
    resolver = resolve or socket.getaddrinfo
    addresses = [literal] if literal else _resolve(host, port or _PORTS[scheme], resolver, shown)
    for address in addresses:
        kind = _private_kind(address)
        if kind:
            # The resolved address is not named: it would map the inside network for
            # whoever probes with URLs.
            via = "" if literal else " resolves to an address that"
            raise InvalidInput(
                f"url {shown!r} is refused: {host}{via} is a {kind} address; "
                "give a public http(s) URL"
            )
    return normalised


class PrivateTargetRefused(InvalidInput):
    """A connection was about to reach a non-public address; nothing was sent."""


class _PublicOnlyBackend(httpcore.SyncBackend):
    """Connects only to public addresses: resolves the host once, refuses it when any of
    its addresses is not public, and connects to the checked address itself (so a second
    lookup cannot answer differently)."""

    def __init__(self, resolve: Resolver | None) -> None:
        self._given = resolve

    def _resolve(self, host: str, port: int, **kwargs: Any) -> Any:
        return (self._given or socket.getaddrinfo)(host, port, **kwargs)

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            addresses = [literal]
        else:
            try:
                infos = list(self._resolve(host, port, proto=socket.IPPROTO_TCP))
            except (OSError, UnicodeError) as exc:
                raise httpcore.ConnectError(f"{host} could not be found ({exc})") from exc
            addresses = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
        if not addresses:
            raise httpcore.ConnectError(f"{host} has no address")
        for address in addresses:
            if kind := _private_kind(address):
                raise PrivateTargetRefused(
                    f"{host} is refused: it resolves to a {kind} address; give a public http(s) URL"
                )
        last: Exception | None = None
        for address in addresses:
            try:
                return super().connect_tcp(
                    str(address), port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last


class PublicTransport(httpx.HTTPTransport):
    """An ``httpx.HTTPTransport`` that connects only to public addresses (TLS still
    checks the certificate against the host name). No proxy: a proxy would make the
    connection on our behalf, past the check."""

    def __init__(self, *, resolve: Resolver | None = None, **kwargs: Any) -> None:
        if kwargs.get("proxy") is not None or kwargs.get("uds") is not None:
            raise ValueError("a public-only transport connects directly: no proxy, no socket")
        super().__init__(trust_env=False, **kwargs)
        pool = self._pool
        # httpx has no argument for the network backend; its pool keeps one attribute for
        # it (pinned by tests/platform/test_outside.py, which connect through this).
        if not isinstance(pool, httpcore.ConnectionPool) or not hasattr(pool, "_network_backend"):
            raise RuntimeError("this httpx version's transport cannot take a public-only backend")
        pool._network_backend = _PublicOnlyBackend(resolve)


def public_client(
    *, timeout: httpx.Timeout | float = 10.0, resolve: Resolver | None = None, **kwargs: Any
) -> httpx.Client:
    """An ``httpx.Client`` for URLs users give: it never connects to a loopback, private,
    link-local or otherwise non-public address, whatever DNS answers (see the module)."""
    routing = {"proxy", "mounts", "transport", "trust_env"} & set(kwargs)
    if routing:
        # Each would send some requests past the checking transport.
        raise ValueError(f"a public client connects directly: {', '.join(sorted(routing))} refused")
    transport = PublicTransport(resolve=resolve)
    return httpx.Client(transport=transport, timeout=timeout, trust_env=False, **kwargs)


def is_public_client(client: httpx.Client) -> bool:
    """Whether ``client`` was made by :func:`public_client` (its transport checks peers)."""
    mounted = getattr(client, "_mounts", {}) or {}
    return isinstance(getattr(client, "_transport", None), PublicTransport) and not mounted


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
