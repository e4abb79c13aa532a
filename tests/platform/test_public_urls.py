"""The connect-time guard: a client from ``public_client`` resolves the host itself and
connects only to the public address it checked, so DNS rebinding and redirects cannot
reach inside. A real server on 127.0.0.1 shows that nothing is ever sent to it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpcore
import pytest

from foresight.platform.errors import InvalidInput, OutsideUnavailable
from foresight.platform.outside import Breaker, check_public_url, fetch, public_client
from foresight.platform.public_urls import PrivateTargetRefused


class Recorder(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:
        Recorder.paths.append(self.path)
        body = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def local_server() -> Iterator[int]:
    Recorder.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def answers(*ips: str) -> Any:
    """A resolver giving the next of ``ips`` on each lookup (the last one repeats)."""
    calls: list[str] = []

    def resolve(host: str, port: int, *args: Any, **kw: Any) -> list[tuple[Any, ...]]:
        ip = ips[min(len(calls), len(ips) - 1)]
        calls.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


def get(client: Any, url: str, **kw: Any) -> Any:
    return fetch(client, url, breaker=Breaker(), attempts=1, max_bytes=2**20, **kw)


def test_a_name_that_rebinds_to_loopback_after_the_check_is_refused_at_connect(
    local_server: int,
) -> None:
    url = f"http://calendar.example:{local_server}/feed.ics"
    resolve = answers("93.184.215.14", "127.0.0.1")  # public when checked, then loopback
    assert check_public_url(url, resolve=resolve) == url
    with pytest.raises(PrivateTargetRefused, match="loopback") as err:
        get(public_client(resolve=resolve), url)
    assert "127.0.0.1" not in err.value.message
    assert Recorder.paths == []  # nothing reached the server
    assert resolve.calls == ["calendar.example", "calendar.example"]


def test_an_address_literal_is_refused_without_a_lookup(local_server: int) -> None:
    resolve = answers("93.184.215.14")
    with pytest.raises(InvalidInput, match="loopback"):
        get(public_client(resolve=resolve), f"http://127.0.0.1:{local_server}/")
    with pytest.raises(InvalidInput, match="loopback"):
        get(public_client(resolve=resolve), f"http://[::1]:{local_server}/")
    assert Recorder.paths == [] and resolve.calls == []


def test_it_connects_to_the_address_it_checked_not_to_the_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dialled: list[tuple[str, int]] = []

    def connect_tcp(self: Any, host: str, port: int, *args: Any, **kw: Any) -> Any:
        dialled.append((host, port))
        raise httpcore.ConnectError("no network in tests")

    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_tcp)
    with pytest.raises(OutsideUnavailable, match=r"could not connect to calendar\.example"):
        get(public_client(resolve=answers("93.184.215.14")), "https://calendar.example/a.ics")
    assert dialled == [("93.184.215.14", 443)]


def test_an_unknown_name_is_a_connect_failure_not_a_crash() -> None:
    def unknown(*args: Any, **kw: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(OutsideUnavailable, match="could not be found"):
        get(public_client(resolve=unknown), "https://nowhere.example/a.ics")


def test_the_operator_may_allow_a_private_target_with_a_plain_client(local_server: int) -> None:
    import httpx

    with httpx.Client(timeout=5) as client:
        response = get(client, f"http://127.0.0.1:{local_server}/ok", allow_private=True)
    assert response.status_code == 200 and response.text.startswith("BEGIN:VCALENDAR")
    assert Recorder.paths == ["/ok"]


def test_a_public_client_refuses_anything_that_routes_around_its_transport() -> None:
    import httpx

    for option in ("proxy", "mounts", "transport"):
        value = {"mounts": {}, "transport": httpx.HTTPTransport()}.get(option, "http://p:3128")
        with pytest.raises(ValueError, match=f"{option} refused"):
            public_client(**{option: value})
