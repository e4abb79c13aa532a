"""The RMS entry of ``GET /health``: answered from the last probe, never by waiting on the
RMS (``/health`` is polled often, and a slow RMS must not make the API look dead).

A probe is one ``SELECT 1`` through the read-only source. It runs in a background thread
when the last one is older than ``max_age`` seconds, and each sync also records how it went,
so a failing sync turns the entry red at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from foresight.apps.restaurant.rms import RmsReader

PROBE_MAX_AGE = 15.0  # seconds; /health answers from a probe at most this old (plus one)


class RmsHealth:
    """The last known state of the RMS connection."""

    def __init__(
        self,
        reader: Callable[[], RmsReader],
        last_order: Callable[[], datetime | None],
        clock: Callable[[], datetime],
        max_age: float = PROBE_MAX_AGE,
    ) -> None:
        self._reader = reader
        self._last_order = last_order
        self._clock = clock
        self.max_age = max_age
        self._state: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = threading.Lock()
        self._running = False

    def snapshot(self) -> dict[str, Any]:
        """The entry for ``/health``: the last state, refreshed in the background when old.

        Before the first probe has answered, the RMS is not known to be away, so the entry
        is ok and says it is still being checked."""
        with self._lock:
            stale = time.monotonic() - self._at > self.max_age
            if stale and not self._running:
                self._running = True
                threading.Thread(target=self._probe_in_background, daemon=True).start()
            state = self._state
        return dict(state) if state is not None else {"ok": True, "checked_at": None}

    def probe(self) -> dict[str, Any]:
        """Check the RMS now (one ``SELECT 1``) and keep the result."""
        try:
            reader = self._reader()
            reader.source.scalar(select(1))
        except Exception as exc:  # any failure is the answer, not an error of /health
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            return self.record(ok=False, error=str(message)[:300])
        return self.record(ok=True, read_only=reader.source.guarantees.level)

    def record(self, *, ok: bool, **detail: Any) -> dict[str, Any]:
        """Keep the outcome of a probe or a sync as the current state."""
        state: dict[str, Any] = {"ok": ok, "checked_at": self._clock().isoformat(), **detail}
        lag = self._lag()
        if lag is not None:
            state["lag_seconds"] = lag
        with self._lock:
            previous = self._state or {}
            if ok and "read_only" not in state and "read_only" in previous:
                state["read_only"] = previous["read_only"]
            self._state = state
            self._at = time.monotonic()
        return dict(state)

    def lag_seconds(self) -> float | None:
        """Seconds from the newest mirrored order to now (None before any order)."""
        return self._lag()

    def _lag(self) -> float | None:
        try:
            last = self._last_order()
        except Exception:  # the platform database away: no lag to report
            return None
        if last is None:
            return None
        last = last if last.tzinfo is not None else last.replace(tzinfo=UTC)
        return round(max(0.0, (self._clock() - last).total_seconds()), 1)

    def _probe_in_background(self) -> None:
        try:
            self.probe()
        finally:
            with self._lock:
                self._running = False
