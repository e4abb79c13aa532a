"""Calls to outside HTTP services: a breaker per host, bounded retries, a size cap and
a guard against private targets.

An app reading a feed or a third-party API checks the URL once with
:func:`check_public_url`, then reads it with :func:`fetch` and the host's breaker from
one :class:`Breakers`. Any failure is an ``OutsideUnavailable`` (503) whose message says
what went wrong, so the app can answer a degraded result and say why.

>>> b = Breaker(failures=2, reset_seconds=60, clock=lambda: 0.0)
>>> b.failure(); b.failure(); b.state, b.allow()
('open', False)
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog

from foresight.platform.errors import (
    ForesightError,
    OutsideUnavailable,
    PayloadTooLarge,
)
from foresight.platform.public_urls import check_public_url

__all__ = ["Breaker", "Breakers", "check_public_url", "fetch"]

log = structlog.get_logger(__name__)

MAX_RETRY_AFTER = 5.0  # seconds: a longer Retry-After is cut to this
JITTER = 0.2  # each back-off is its nominal length ± 20 %
MAX_REDIRECTS = 5
_REDIRECT_STATUS = frozenset({301, 302, 303, 307, 308})
# Transport failures worth another try; the rest (a bad URL, a protocol the client
# does not speak) would fail the same way again.
_TRANSIENT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)

Clock = Callable[[], float]


class Breaker:
    """A circuit breaker: ``failures`` failures in a row open it for ``reset_seconds``;
    then it is half-open and lets exactly one probe through at a time, which closes it
    on success and opens it again on failure. Safe to share between threads."""

    def __init__(
        self, failures: int = 5, reset_seconds: float = 300, clock: Clock = time.monotonic
    ) -> None:
        if failures < 1 or reset_seconds <= 0:
            raise ValueError("failures must be ≥ 1 and reset_seconds > 0")
        self.threshold, self.reset_seconds, self.clock = failures, reset_seconds, clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._probe_since: float | None = None

    def _state(self, now: float) -> str:
        if self._opened_at is None:
            return "closed"
        return "open" if now - self._opened_at < self.reset_seconds else "half_open"

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"``."""
        with self._lock:
            return self._state(self.clock())

    @property
    def failures(self) -> int:
        """Failures since the last success."""
        return self._failures

    def allow(self) -> bool:
        """Whether a call may go now (half-open: True for the one probe only)."""
        with self._lock:
            now = self.clock()
            state = self._state(now)
            if state != "half_open":
                return state == "closed"
            # A probe whose caller never reported is given up after reset_seconds, so a
            # crashed caller cannot hold the breaker half-open for ever.
            if self._probe_since is not None and now - self._probe_since < self.reset_seconds:
                return False
            self._probe_since = now
            return True

    def success(self) -> None:
        """The service answered: close the breaker and forget the failures."""
        with self._lock:
            self._failures, self._opened_at, self._probe_since = 0, None, None

    def failure(self) -> None:
        """A call failed: count it, and open the breaker at the threshold or when the
        half-open probe failed."""
        with self._lock:
            now = self.clock()
            self._failures += 1
            state = self._state(now)
            if state == "half_open" or (state == "closed" and self._failures >= self.threshold):
                self._opened_at, self._probe_since = now, None

    def retry_in(self) -> float:
        """Seconds until the breaker lets a probe through (0 unless it is open)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self._opened_at + self.reset_seconds - self.clock())

    def describe(self) -> dict[str, Any]:
        """``{"state", "failures", "retry_in"}`` for a health report."""
        with self._lock:
            state = self._state(now := self.clock())
            left = (
                self._opened_at + self.reset_seconds - now if self._opened_at is not None else 0.0
            )
            retry_in = round(left, 1) if state == "open" else None
            return {"state": state, "failures": self._failures, "retry_in": retry_in}


class Breakers:
    """One :class:`Breaker` per key (usually the host), made on first use, all with the
    same settings."""

    def __init__(
        self, *, failures: int = 5, reset_seconds: float = 300, clock: Clock = time.monotonic
    ) -> None:
        self.failures, self.reset_seconds, self.clock = failures, reset_seconds, clock
        self._lock = threading.Lock()
        self._breakers: dict[str, Breaker] = {}

    def for_key(self, key: str) -> Breaker:
        """The breaker of ``key``, made closed if there is none yet."""
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is None:
                breaker = Breaker(self.failures, self.reset_seconds, self.clock)
                self._breakers[key] = breaker
            return breaker

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Each key's :meth:`Breaker.describe`, sorted by key (for ``/health``)."""
        with self._lock:
            breakers = sorted(self._breakers.items())
        return {key: breaker.describe() for key, breaker in breakers}


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
    """
    if attempts < 1:
        raise ValueError("attempts must be ≥ 1")
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
        target = follow(str(response.url.join(location)))
        if httpx.URL(target).netloc != response.url.netloc:
            # Credentials meant for one host are not handed to another.
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
    with client.stream("GET", url, headers=headers, timeout=timeout, follow_redirects=False) as r:
        declared = r.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise _too_large(r.url, max_bytes)
        chunks: list[bytes] = []
        size = 0
        for chunk in r.iter_bytes():
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
