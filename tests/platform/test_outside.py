"""Calls to outside services: the breaker, retries and back-off, the deadline, the size
cap, redirects and the public-URL guard; no real network (MockTransport, fake resolver)."""

from __future__ import annotations

import gzip
import random
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from foresight.platform.errors import InvalidInput, OutsideUnavailable, PayloadTooLarge
from foresight.platform.outside import Breaker, Breakers, check_public_url, fetch

URL = "https://feeds.example.com/a.ics"
MB = 2**20


class FakeClock:
    """Monotonic seconds that only ``sleep`` (or a handler) moves; records each sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Server:
    """Answers each request with the next of ``answers`` (the last repeats); an answer
    is a response, an exception to raise, or a callable of the request."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        # A fresh response with its raw body still to read, as a real transport gives (a
        # response made from bytes is read, and decoded, when it is made).
        raw = b"".join(answer.stream)
        return httpx.Response(answer.status_code, headers=answer.headers, content=iter([raw]))

    def client(self) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self), timeout=5.0)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def get(server: Server, clock: FakeClock, breaker: Breaker | None = None, **kw: Any) -> Any:
    kw.setdefault("max_bytes", MB)
    breaker = breaker or Breaker(clock=clock)
    kw.setdefault("allow_private", True)  # a MockTransport client: nothing is connected
    return fetch(server.client(), URL, breaker=breaker, sleep=clock.sleep, clock=clock, **kw)


# ---- the breaker ------------------------------------------------------------------------


def test_five_failures_open_the_breaker_and_it_then_refuses(clock: FakeClock) -> None:
    breaker = Breaker(failures=5, reset_seconds=300, clock=clock)
    for _ in range(4):
        breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open"
    assert not breaker.allow()
    clock.now += 299
    assert not breaker.allow()
    assert breaker.describe() == {"state": "open", "failures": 5, "retry_in": 1.0}


def test_a_success_resets_the_count(clock: FakeClock) -> None:
    breaker = Breaker(failures=3, clock=clock)
    breaker.failure(), breaker.failure(), breaker.success(), breaker.failure()
    assert breaker.state == "closed" and breaker.failures == 1


def test_half_open_lets_one_probe_through_and_its_success_closes(clock: FakeClock) -> None:
    breaker = Breaker(failures=1, reset_seconds=60, clock=clock)
    breaker.failure()
    clock.now += 60
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # a second caller waits for the probe
    breaker.success()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow()


def test_a_failed_probe_opens_the_breaker_again(clock: FakeClock) -> None:
    breaker = Breaker(failures=1, reset_seconds=60, clock=clock)
    breaker.failure()
    clock.now += 61
    assert breaker.allow()
    breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 59
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_a_probe_that_never_reports_is_given_up_after_the_reset_time(clock: FakeClock) -> None:
    breaker = Breaker(failures=1, reset_seconds=60, clock=clock)
    breaker.failure()
    clock.now += 60
    assert breaker.allow()
    clock.now += 59
    assert not breaker.allow()
    clock.now += 1
    assert breaker.allow()


def test_only_one_of_many_threads_gets_the_half_open_probe(clock: FakeClock) -> None:
    breaker = Breaker(failures=1, reset_seconds=1, clock=clock)
    breaker.failure()
    clock.now += 1
    start = threading.Barrier(16)
    allowed: list[bool] = []

    def call() -> None:
        start.wait()
        allowed.append(breaker.allow())

    threads = [threading.Thread(target=call) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(allowed) == [False] * 15 + [True]


def test_breakers_keep_one_per_key_and_report_them(clock: FakeClock) -> None:
    breakers = Breakers(failures=2, reset_seconds=100, clock=clock)
    assert breakers.for_key("a.example") is breakers.for_key("a.example")
    breakers.for_key("b.example").failure()
    breakers.for_key("b.example").failure()
    clock.now += 40
    assert breakers.snapshot() == {
        "a.example": {"state": "closed", "failures": 0, "retry_in": None},
        "b.example": {"state": "open", "failures": 2, "retry_in": 60.0},
    }


def test_breakers_are_capped_and_forget_a_healthy_one_first(clock: FakeClock) -> None:
    breakers = Breakers(failures=1, reset_seconds=100, clock=clock, max_keys=3)
    breakers.for_key("dead").failure()
    healthy = breakers.for_key("a")
    breakers.for_key("b")
    breakers.for_key("a")  # used again: "b" is now the least recently used healthy one
    breakers.for_key("c")
    assert sorted(breakers.snapshot()) == ["a", "c", "dead"]
    assert breakers.for_key("a") is healthy
    assert breakers.for_key("dead").state == "open"  # an open breaker is not reset by churn


# ---- fetch: retries, back-off and the breaker ---------------------------------------------


def test_two_503s_then_a_200_make_three_calls_with_jittered_back_off(clock: FakeClock) -> None:
    server = Server(httpx.Response(503), httpx.Response(503), httpx.Response(200, text="ok"))
    breaker = Breaker(clock=clock)
    response = get(server, clock, breaker)
    assert response.status_code == 200 and response.text == "ok"
    assert len(server.requests) == 3
    first, second = clock.sleeps
    assert 0.4 <= first <= 0.6 and 0.8 <= second <= 1.2
    assert breaker.state == "closed" and breaker.failures == 0


def test_back_off_jitter_stays_within_20_percent_and_varies(clock: FakeClock) -> None:
    for seed in range(30):
        server = Server(httpx.Response(502), httpx.Response(200))
        get(server, clock, rng=random.Random(seed), backoff=1.0)
    assert all(0.8 <= s <= 1.2 for s in clock.sleeps)
    assert len({round(s, 6) for s in clock.sleeps}) > 1


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "2"}, 2.0),
        ({"Retry-After": "120"}, 5.0),  # capped
        (
            {
                "Retry-After": "Mon, 05 Jan 2026 12:00:03 GMT",
                "Date": "Mon, 05 Jan 2026 12:00:00 GMT",
            },
            3.0,
        ),
    ],
)
def test_retry_after_is_honoured_up_to_five_seconds(
    clock: FakeClock, headers: dict[str, str], expected: float
) -> None:
    server = Server(httpx.Response(429, headers=headers), httpx.Response(200))
    assert get(server, clock).status_code == 200
    assert clock.sleeps == [expected]


@pytest.mark.parametrize("status", [404, 304, 400, 403])
def test_other_4xx_and_304_are_returned_after_one_call(clock: FakeClock, status: int) -> None:
    server = Server(httpx.Response(status, headers={"ETag": '"v1"'}))
    breaker = Breaker(clock=clock)
    breaker.failure()
    response = get(server, clock, breaker, headers={"If-None-Match": '"v1"'})
    assert response.status_code == status
    assert len(server.requests) == 1 and clock.sleeps == []
    assert server.requests[0].headers["If-None-Match"] == '"v1"'
    assert breaker.failures == 0  # the host answered


def test_connect_errors_are_retried_then_reported_by_host(clock: FakeClock) -> None:
    server = Server(httpx.ConnectError("connection refused"))
    with pytest.raises(OutsideUnavailable) as err:
        get(server, clock)
    assert len(server.requests) == 3
    assert err.value.status == 503
    assert "could not connect to feeds.example.com: connection refused" in err.value.message
    assert "3 attempts" in err.value.message


def test_a_5xx_to_the_end_says_the_host_and_status(clock: FakeClock) -> None:
    with pytest.raises(OutsideUnavailable, match=r"feeds\.example\.com answered HTTP 503"):
        get(Server(httpx.Response(503)), clock, attempts=2)


def test_a_timeout_says_how_long_it_waited(clock: FakeClock) -> None:
    def slow(request: httpx.Request) -> httpx.Response:
        clock.now += 3
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(OutsideUnavailable, match=r"feeds\.example\.com timed out after 3\.0 s"):
        get(Server(slow), clock, attempts=1)


def test_five_failed_calls_open_the_breaker_and_the_next_fetch_makes_no_call(
    clock: FakeClock,
) -> None:
    server = Server(httpx.Response(500))
    breaker = Breaker(failures=5, clock=clock)
    for _ in range(2):
        with pytest.raises(OutsideUnavailable):
            get(server, clock, breaker)
    assert len(server.requests) == 5  # the second fetch stopped when the breaker opened
    assert breaker.state == "open"
    with pytest.raises(OutsideUnavailable, match=r"feeds\.example\.com is unavailable"):
        get(server, clock, breaker)
    assert len(server.requests) == 5


def test_a_half_open_probe_through_fetch_closes_the_breaker(clock: FakeClock) -> None:
    breaker = Breaker(failures=1, reset_seconds=60, clock=clock)
    breaker.failure()
    clock.now += 60
    assert get(Server(httpx.Response(200)), clock, breaker).status_code == 200
    assert breaker.state == "closed"


def test_no_sleep_reaches_past_the_deadline(clock: FakeClock) -> None:
    started = clock.now

    def slow_503(request: httpx.Request) -> httpx.Response:
        clock.now += 2
        return httpx.Response(503)

    server = Server(slow_503)
    with pytest.raises(OutsideUnavailable, match="gave up after 2 of 5 attempts within 10 s"):
        get(server, clock, attempts=5, backoff=3.0, deadline_s=10)
    assert len(server.requests) == 2 and len(clock.sleeps) == 1
    assert clock.now <= started + 10


def test_each_call_gets_at_most_the_time_left(clock: FakeClock) -> None:
    def slow_503(request: httpx.Request) -> httpx.Response:
        clock.now += 4
        return httpx.Response(503)

    server = Server(slow_503, httpx.Response(200))
    get(server, clock, rng=random.Random(0), deadline_s=6)
    timeouts = [r.extensions["timeout"] for r in server.requests]
    assert timeouts[0]["read"] == 5.0  # the client's own
    assert timeouts[1]["read"] == pytest.approx(6 - 4 - clock.sleeps[0])


# ---- fetch: the body --------------------------------------------------------------------


def chunks(total: int, size: int, sent: list[int]) -> Iterator[bytes]:
    while sum(sent) < total:
        sent.append(size)
        yield b"x" * size


def test_a_2_mb_streamed_body_over_a_1_mb_cap_is_cut_off(clock: FakeClock) -> None:
    sent: list[int] = []
    server = Server(lambda r: httpx.Response(200, content=chunks(2 * MB, 64 * 1024, sent)))
    breaker = Breaker(clock=clock)
    with pytest.raises(PayloadTooLarge, match=r"feeds\.example\.com .* limit of 1 MiB") as err:
        get(server, clock, breaker, max_bytes=MB)
    assert err.value.status == 413
    assert sum(sent) <= MB + 64 * 1024  # reading stopped just past the cap
    assert len(server.requests) == 1 and breaker.failures == 0


def test_a_declared_length_over_the_cap_is_refused_before_reading(clock: FakeClock) -> None:
    sent: list[int] = []
    body = chunks(2 * MB, 64 * 1024, sent)
    server = Server(
        lambda r: httpx.Response(200, headers={"Content-Length": str(2 * MB)}, content=body)
    )
    with pytest.raises(PayloadTooLarge):
        get(server, clock, max_bytes=MB)
    assert sent == []


def test_a_body_trickling_past_the_deadline_times_out(clock: FakeClock) -> None:
    def trickle() -> Iterator[bytes]:
        for _ in range(10):
            clock.now += 2
            yield b"x"

    with pytest.raises(OutsideUnavailable, match="timed out"):
        get(Server(lambda r: httpx.Response(200, content=trickle())), clock, deadline_s=5)


def test_a_compressed_body_comes_back_decoded(clock: FakeClock) -> None:
    text = "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n" * 100
    server = Server(
        httpx.Response(
            200,
            headers={"Content-Encoding": "gzip", "Content-Type": "text/calendar; charset=utf-8"},
            content=gzip.compress(text.encode()),
        )
    )
    response = get(server, clock)
    assert response.text == text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"


def test_a_compression_bomb_is_cut_off_at_the_cap(clock: FakeClock) -> None:
    bomb = gzip.compress(b"\0" * (64 * MB))  # 64 KB on the wire
    assert len(bomb) < 100_000
    server = Server(httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=bomb))
    with pytest.raises(PayloadTooLarge, match="larger than the limit of 1 MiB"):
        get(server, clock)
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_an_encoding_it_cannot_bound_or_a_corrupt_body_is_unavailable(clock: FakeClock) -> None:
    def encoded(encoding: str, body: bytes) -> Server:
        headers = {"Content-Encoding": encoding}
        return Server(lambda request: httpx.Response(200, headers=headers, content=iter([body])))

    with pytest.raises(OutsideUnavailable, match="unsupported encoding 'br'"):
        get(encoded("br", b"x"), clock)
    broken = encoded("gzip", b"nope")
    with pytest.raises(OutsideUnavailable, match="does not decode"):
        get(broken, clock)


def test_fetch_refuses_a_client_that_does_not_check_its_peers(clock: FakeClock) -> None:
    server = Server(httpx.Response(200))
    with pytest.raises(ValueError, match="public_client"):
        get(server, clock, allow_private=False)
    assert server.requests == []


# ---- fetch: redirects -------------------------------------------------------------------


def public(host: str, port: int, *args: Any, **kw: Any) -> list[tuple[Any, ...]]:
    """A fake resolver: every name is one public address, except *.internal."""
    ip = "192.168.1.2" if host.endswith(".internal") else "93.184.215.14"
    return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port))]


def guard(url: str) -> str:
    return check_public_url(url, resolve=public)


def redirect_to(target: str) -> Callable[[httpx.Request], httpx.Response]:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "feeds.example.com":
            return httpx.Response(302, headers={"Location": target})
        return httpx.Response(200, text=f"from {request.url.host}")

    return answer


def test_redirects_are_returned_unless_a_guard_is_given(clock: FakeClock) -> None:
    server = Server(redirect_to("https://cdn.example.net/a.ics"))
    assert get(server, clock).status_code == 302
    response = get(server, clock, follow=guard, headers={"Authorization": "Bearer t"})
    assert response.text == "from cdn.example.net"
    assert "authorization" not in server.requests[-1].headers  # not handed to another host


def test_a_redirect_to_a_private_address_is_refused_without_calling_it(clock: FakeClock) -> None:
    server = Server(redirect_to("http://169.254.169.254/latest/meta-data"))
    with pytest.raises(InvalidInput, match="link-local"):
        get(server, clock, follow=guard)
    assert [r.url.host for r in server.requests] == ["feeds.example.com"]


@pytest.mark.parametrize("location", ["http://[::1", "https://exa mple.com:99999/"])
def test_a_redirect_to_an_invalid_url_is_unavailable_not_a_crash(
    clock: FakeClock, location: str
) -> None:
    server = Server(redirect_to(location))
    with pytest.raises((OutsideUnavailable, InvalidInput)):
        get(server, clock, follow=guard)


def test_a_redirect_to_plain_http_keeps_no_credentials(clock: FakeClock) -> None:
    def downgrade(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "https":  # same host and netloc, plain http
            return httpx.Response(302, headers={"Location": "http://feeds.example.com/a.ics"})
        return httpx.Response(200, text="in clear")

    server = Server(downgrade)
    get(server, clock, follow=guard, headers={"Authorization": "Bearer t", "Cookie": "s=1"})
    assert server.requests[-1].url.scheme == "http"
    assert "authorization" in server.requests[0].headers
    assert "authorization" not in server.requests[-1].headers
    assert "cookie" not in server.requests[-1].headers


def test_raw_deflate_is_decoded_too(clock: FakeClock) -> None:
    import zlib

    text = b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n" * 50
    packer = zlib.compressobj(wbits=-15)
    raw = packer.compress(text) + packer.flush()
    headers = {"Content-Encoding": "deflate"}
    server = Server(lambda request: httpx.Response(200, headers=headers, content=iter([raw])))
    assert get(server, clock).content == text


# ---- the public-URL guard ---------------------------------------------------------------


def no_lookup(*args: Any, **kw: Any) -> list[tuple[Any, ...]]:
    raise AssertionError("an address literal needs no lookup")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://127.0.0.1/feed", "loopback"),
        ("http://10.0.0.5/feed", "private"),
        ("http://[::1]/feed", "loopback"),
        ("http://169.254.169.254/latest", "link-local"),
        ("http://[::ffff:127.0.0.1]/", "loopback"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://224.0.0.1/", "multicast"),
        ("http://240.0.0.1/", "reserved"),
        ("http://100.64.0.1/", "non-public"),
    ],
)
def test_private_address_literals_are_refused(url: str, why: str) -> None:
    with pytest.raises(InvalidInput, match=why) as err:
        check_public_url(url, resolve=no_lookup)
    assert url in err.value.message


def test_a_name_resolving_to_a_private_address_is_refused() -> None:
    with pytest.raises(InvalidInput) as err:
        check_public_url("https://cal.internal/a.ics", resolve=public)
    assert "'https://cal.internal/a.ics'" in err.value.message
    assert "private" in err.value.message
    assert "192.168" not in err.value.message  # the inside network is not mapped for a prober


def test_one_private_address_among_several_is_enough_to_refuse() -> None:
    def mixed(host: str, port: int, *args: Any, **kw: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
        ]

    with pytest.raises(InvalidInput, match="loopback"):
        check_public_url("https://example.com/", resolve=mixed)


@pytest.mark.parametrize("url", ["ftp://x/a.ics", "file:///etc/passwd", "example.com/a.ics", ""])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match=r"http://, https:// or webcal://"):
        check_public_url(url, resolve=public)


def test_an_unknown_host_is_refused() -> None:
    def unknown(*args: Any, **kw: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(InvalidInput, match=r"nowhere\.example could not be found"):
        check_public_url("https://nowhere.example/a.ics", resolve=unknown)


def test_webcal_becomes_https_when_the_host_is_public() -> None:
    looked_up: list[tuple[str, int]] = []

    def resolve(host: str, port: int, *args: Any, **kw: Any) -> list[tuple[Any, ...]]:
        looked_up.append((host, port))
        return public(host, port)

    assert check_public_url("webcal://example.com/a.ics", resolve=resolve) == (
        "https://example.com/a.ics"
    )
    assert looked_up == [("example.com", 443)]


def test_allow_private_accepts_local_targets_without_a_lookup() -> None:
    url = "http://10.0.0.5:8080/feed.ics"
    assert check_public_url(url, allow_private=True, resolve=no_lookup) == url
