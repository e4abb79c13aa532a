"""Circuit breakers for outside services: after ``failures`` failures in a row a breaker
opens and calls fail at once, without waiting on a service that is down; after a pause one
probe finds out whether it is back.

>>> b = Breaker(failures=2, reset_seconds=60, clock=lambda: 0.0)
>>> b.failure(); b.failure(); b.state, b.allow()
('open', False)
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["Breaker", "Breakers", "Clock"]

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
    """One :class:`Breaker` per key, made on first use, all with the same settings.

    Key by what fails together: one URL for a feed users give (one user's dead feed must
    not block everyone else's feeds on a shared host such as a big calendar provider),
    the service's name for an API the app calls. At most ``max_keys`` are kept; past that
    the least recently used breaker without failures is forgotten (one with failures only
    when all have some), so a stream of new URLs cannot grow the map for ever.
    """

    def __init__(
        self,
        *,
        failures: int = 5,
        reset_seconds: float = 300,
        clock: Clock = time.monotonic,
        max_keys: int = 10_000,
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be ≥ 1")
        self.failures, self.reset_seconds, self.clock = failures, reset_seconds, clock
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._breakers: OrderedDict[str, Breaker] = OrderedDict()

    def for_key(self, key: str) -> Breaker:
        """The breaker of ``key``, made closed if there is none yet."""
        with self._lock:
            breaker = self._breakers.get(key)
            if breaker is not None:
                self._breakers.move_to_end(key)
                return breaker
            if len(self._breakers) >= self.max_keys:
                healthy = (k for k, b in self._breakers.items() if b.failures == 0)
                del self._breakers[next(healthy, None) or next(iter(self._breakers))]
            breaker = Breaker(self.failures, self.reset_seconds, self.clock)
            self._breakers[key] = breaker
            return breaker

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Each key's :meth:`Breaker.describe`, sorted by key (for ``/health``)."""
        with self._lock:
            breakers = sorted(self._breakers.items())
        return {key: breaker.describe() for key, breaker in breakers}
