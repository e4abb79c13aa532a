"""Calls to outside HTTP services: a breaker per host, bounded retries, a size cap and
a guard against private targets.

An app reading a feed or a third-party API checks the URL once with
:func:`check_public_url` (a clear 422 for the user), then reads it with :func:`fetch`
through a :func:`public_client` (which checks every address it connects to) and a
breaker from one :class:`Breakers`. Any failure is an ``OutsideUnavailable`` (503)
whose message says what went wrong, so the app can answer a degraded result and say why.

The breakers themselves live in :mod:`foresight.platform.breakers`.
"""

from __future__ import annotations

import math
import random
import time
import zlib
from collections.abc import Callable, Iterator, Mapping
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx
import structlog

from foresight.platform.breakers import Breaker, Breakers, Clock
from foresight.platform.errors import (
    ForesightError,
    OutsideUnavailable,
    PayloadTooLarge,
)
from foresight.platform.public_urls import check_public_url, is_public_client, public_client

__all__ = ["Breaker", "Breakers", "check_public_url", "fetch", "public_client"]

log = structlog.get_logger(__name__)

MAX_RETRY_AFTER = 5.0  # seconds: a longer Retry-After is cut to this
JITTER = 0.2  # each back-off is its nominal length ± 20 %
MAX_REDIRECTS = 5
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
# Transport failures worth another try; the rest (a bad URL, a protocol the client
# does not speak) would fail the same way again.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


def fetch(
    client: httpx.Client,
    url: str,
    *,
    breaker: Breaker,
    attempts: int = 3,
    backoff: float = 0.5,
    deadline_s: float = 10,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    follow: Callable[[str], str] | None = None,
    allow_private: bool = False,
    sleep: Callable[[float], None] = time.sleep,
    clock: Clock = time.monotonic,
    rng: random.Random | None = None,
) -> httpx.Response:
    """GET ``url`` and return the response with its body read (``.content``, ``.text``).

    Connect errors, timeouts, 429 and 5xx are tried again, up to ``attempts`` calls, after
    ``backoff`` × 1, 2, 4… seconds (± 20 %) or the answer's ``Retry-After`` (at most
    5 s); no sleep reaches past ``deadline_s`` after the start. Any other status,
    304 and 404 included, is returned for the caller to handle; a redirect is followed
    only when ``follow`` is given, which gets each target URL and returns it or raises
    (pass :func:`check_public_url`). Raises ``OutsideUnavailable`` when the breaker is
    open (no call is made) or every try failed, and ``PayloadTooLarge`` when the body
    is over ``max_bytes``. Every failed call counts on ``breaker``; an answer resets it.

    ``client`` must come from :func:`public_client` (it refuses private peers at connect
    time) unless ``allow_private`` says the URL is the operator's, not a user's.
    """
    if attempts < 1:
        raise ValueError("attempts must be ≥ 1")
    if not allow_private and not is_public_client(client):
        raise ValueError(
            "fetch needs a client from outside.public_client() for URLs users give; "
            "pass allow_private=True only for URLs the operator configured"
        )
    host = urlsplit(url).hostname or url
    rng = rng or random.Random()
    deadline = clock() + deadline_s
    reason = ""
    for attempt in range(1, attempts + 1):
        if not breaker.allow():
            raise OutsideUnavailable(_open_message(host, breaker, reason))
        try:
            started = clock()
            response = _get(
                client,
                url,
                headers,
                follow=follow,
                max_bytes=max_bytes,
                deadline=deadline,
                clock=clock,
            )
        except _TRANSIENT as exc:
            breaker.failure()
            reason, delay = _describe(exc, host, clock() - started), None
        except ForesightError:
            breaker.success()  # the host answered; the size cap or the redirect guard refused
            raise
        except httpx.HTTPError as exc:
            breaker.failure()
            raise OutsideUnavailable(f"the call to {host} failed: {_error_text(exc)}") from exc
        except BaseException:
            breaker.failure()  # never leave a half-open probe unreported
            raise
        else:
            code = response.status_code
            if code != 429 and code < 500:
                breaker.success()
                return response
            breaker.failure()
            reason = f"{host} answered HTTP {code} {httpx.codes.get_reason_phrase(code)}".rstrip()
            delay = _retry_after(response)
        if attempt == attempts:
            reason += f" ({attempts} attempts)" if attempts > 1 else ""
            break
        if delay is None:
            delay = backoff * 2 ** (attempt - 1) * rng.uniform(1 - JITTER, 1 + JITTER)
        delay = min(delay, MAX_RETRY_AFTER)
        if clock() + delay >= deadline:
            reason += f"; gave up after {attempt} of {attempts} attempts within {deadline_s:g} s"
            break
        log.info("outside_retry", host=host, attempt=attempt, delay=round(delay, 3), reason=reason)
        sleep(delay)
    raise OutsideUnavailable(reason)


def _get(
    client: httpx.Client,
    url: str,
    headers: Mapping[str, str] | None,
    *,
    follow: Callable[[str], str] | None,
    max_bytes: int,
    deadline: float,
    clock: Clock,
) -> httpx.Response:
    """One try: the answer of ``url``, after at most MAX_REDIRECTS redirects."""
    sent = dict(headers or {})
    for _ in range(MAX_REDIRECTS + 1):
        response = _read(client, url, sent, max_bytes=max_bytes, deadline=deadline, clock=clock)
        location = response.headers.get("location")
        if follow is None or response.status_code not in _REDIRECT_STATUS or not location:
            return response
        try:
            joined = str(response.url.join(location))
        except httpx.InvalidURL as exc:  # not an HTTPError: it would escape as a 500
            host = response.url.host
            raise OutsideUnavailable(f"{host} redirected to an invalid URL ({exc})") from None
        target = follow(joined)
        moved = httpx.URL(target)
        if (moved.scheme, moved.netloc) != (response.url.scheme, response.url.netloc):
            # Credentials meant for one origin are not handed to another, nor sent in clear.
            sent = {k: v for k, v in sent.items() if k.lower() not in ("authorization", "cookie")}
        url = target
    raise OutsideUnavailable(f"{urlsplit(url).hostname} redirected more than {MAX_REDIRECTS} times")


def _read(
    client: httpx.Client,
    url: str,
    headers: Mapping[str, str],
    *,
    max_bytes: int,
    deadline: float,
    clock: Clock,
) -> httpx.Response:
    """GET ``url`` and read its body as it arrives, stopping past ``max_bytes`` or the
    deadline; the answer comes back as a response whose body is read."""
    remaining = deadline - clock()
    if remaining <= 0:
        raise httpx.TimeoutException("no time left before the deadline")
    timeout = _bounded(client.timeout, remaining)
    # Only encodings we decode a bounded piece at a time: httpx's own decoder turns one
    # small compressed chunk into all it expands to (a zip bomb) before the cap sees it.
    sent = {"accept-encoding": "gzip, deflate", **{k.lower(): v for k, v in headers.items()}}
    with client.stream("GET", url, headers=sent, timeout=timeout, follow_redirects=False) as r:
        declared = r.headers.get("content-length", "")
        encoding = r.headers.get("content-encoding", "identity").strip().lower()
        if declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(r.url, max_bytes)  # compressed or not, it is at least that big
        chunks: list[bytes] = []
        size = 0
        # A response built from bytes (a mock transport) is read and decoded already.
        if r.is_stream_consumed:
            body: Iterator[bytes] = iter([r.content])
        else:
            body = _decoded(r.iter_raw(), encoding, max_bytes, r.url)
        for chunk in body:
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(r.url, max_bytes)
            if clock() > deadline:
                # httpx's read timeout is per chunk: a slow trickle would never trip it.
                raise httpx.ReadTimeout("the body did not arrive before the deadline")
            chunks.append(chunk)
    # The body is decoded already: drop the headers that describe the encoded one.
    encoded = ("content-encoding", "content-length", "transfer-encoding")
    kept = [(k, v) for k, v in r.headers.multi_items() if k.lower() not in encoded]
    return httpx.Response(r.status_code, headers=kept, content=b"".join(chunks), request=r.request)


def _decoded(
    raw: Iterator[bytes], encoding: str, max_bytes: int, url: httpx.URL
) -> Iterator[bytes]:
    """The body decoded from ``encoding``, at most ``max_bytes`` + 1 bytes out of one
    decompression step, so a small bomb cannot fill memory before the cap sees it."""
    if encoding in ("identity", ""):
        yield from raw
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise OutsideUnavailable(f"{url.host} answered in an unsupported encoding {encoding!r}")
    # wbits 47: a gzip or zlib header, whichever comes; "deflate" without the zlib
    # header (raw, as some servers send it) is tried when the first chunk has neither.
    decoder = zlib.decompressobj(47)
    first = True
    try:
        for data in raw:
            if first and encoding == "deflate" and data:
                try:
                    zlib.decompressobj(47).decompress(data[:64], 1)
                except zlib.error:
                    decoder = zlib.decompressobj(-15)
            first = False
            while data:
                yield decoder.decompress(data, max_bytes + 1)
                data = decoder.unconsumed_tail
        yield decoder.flush()
    except zlib.error as exc:
        raise OutsideUnavailable(f"{url.host} sent a body that does not decode ({exc})") from None


def _bounded(timeout: httpx.Timeout, remaining: float) -> httpx.Timeout:
    """The client's timeouts, none longer than ``remaining`` seconds."""
    caps = {k: remaining if v is None else min(v, remaining) for k, v in timeout.as_dict().items()}
    return httpx.Timeout(**caps)


def _too_large(url: httpx.URL, max_bytes: int) -> PayloadTooLarge:
    limit = f"{max_bytes / 2**20:g} MiB" if max_bytes >= 2**20 else f"{max_bytes:,} bytes"
    return PayloadTooLarge(f"the answer from {url.host} is larger than the limit of {limit}")


def _describe(exc: Exception, host: str, elapsed: float) -> str:
    """A transport failure in words: what failed, on which host."""
    if isinstance(exc, httpx.TimeoutException):
        return f"{host} timed out after {elapsed:.1f} s"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {host}: {_error_text(exc)}"
    return f"the connection to {host} broke: {_error_text(exc)}"


def _error_text(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds the answer asks to wait (``Retry-After`` as seconds, or as a date against
    the answer's own ``Date``), or None."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
            now = parsedate_to_datetime(response.headers["date"])
            seconds = (when - now).total_seconds()
        except (KeyError, TypeError, ValueError, IndexError):
            return None
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _open_message(host: str, breaker: Breaker, reason: str) -> str:
    why = reason or f"it failed {breaker.failures} times in a row"
    return f"{host} is unavailable ({why}); next try in {breaker.retry_in():.0f} s"
