"""Weather forecasts over HTTP (an Open-Meteo-compatible API), kept one hour per place.

The hot path never calls out: ``ForecastCache.get`` reads the cache only, and the
``delivery:weather-refresh`` task (or ``refresh``) fills it. A window whose middle hour a
cached forecast covers reads the forecast's precipitation and temperature; any other reads
the climatology (``weather.py``), and each answer names the source it used. A provider that
fails (timeouts, retries and a breaker through ``outside.fetch``) leaves the cache as it
was: answers fall back to climatology and say so.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from cachetools import TTLCache

from foresight.platform.breakers import Breakers
from foresight.platform.errors import ForesightError
from foresight.platform.outside import fetch

HOURLY = "temperature_2m,precipitation,precipitation_probability"
MAX_BYTES = 2 * 2**20
WEATHER_COLUMNS = 3  # precip_mm, precip_prob, temp_c: WEATHER_FEATURES' order


@dataclass(frozen=True)
class Forecast:
    """Consecutive hours from ``first`` (UTC epoch seconds of the first hour's start)."""

    first: int
    precip_mm: np.ndarray
    precip_prob: np.ndarray  # 0–1
    temp_c: np.ndarray

    def at(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(n, 3) precip_mm, precip_prob, temp_c of the hours holding the instants ``t``,
        and which of them the forecast covers (the others' values are NaN)."""
        index = (np.asarray(t, dtype=np.int64) - self.first) // 3600
        inside = (index >= 0) & (index < len(self.temp_c))
        safe = np.where(inside, index, 0)
        values = np.column_stack([self.precip_mm[safe], self.precip_prob[safe], self.temp_c[safe]])
        covered = inside & np.isfinite(values).all(axis=1)
        values[~covered] = np.nan
        return values, covered


def parse_open_meteo(payload: Any) -> Forecast:
    """A ``Forecast`` from an Open-Meteo answer (``timeformat=unixtime``); a ValueError
    says what is missing or malformed."""
    hourly = payload.get("hourly") if isinstance(payload, dict) else None
    if not isinstance(hourly, dict):
        raise ValueError("the answer has no 'hourly' object")
    times = np.asarray(hourly.get("time") or [], dtype=np.float64)
    if times.size == 0 or np.any(np.diff(times) != 3600):
        raise ValueError("'hourly.time' must be consecutive hours (unix seconds)")

    def column(name: str, scale: float = 1.0) -> np.ndarray:
        values = hourly.get(name)
        if not isinstance(values, list) or len(values) != times.size:
            raise ValueError(f"'hourly.{name}' must list one value per hour")
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64) * scale

    return Forecast(
        first=int(times[0]),
        precip_mm=column("precipitation"),
        precip_prob=column("precipitation_probability", 0.01),
        temp_c=column("temperature_2m"),
    )


def apply_forecast(x: np.ndarray, start: np.ndarray, end: np.ndarray, forecast: Forecast | None,
                   columns: slice) -> bool:  # fmt: skip
    """Overwrite the weather ``columns`` of ``x`` where ``forecast`` covers the window's
    middle hour; True when it covered every window (the answer's source is then "http")."""
    if forecast is None or len(x) == 0:
        return False
    values, covered = forecast.at((np.asarray(start) + np.asarray(end)) // 2)
    x[covered, columns] = values[covered]
    return bool(covered.all())


class ForecastCache:
    """Forecasts per place, ``ttl`` seconds each (the seed's one hour)."""

    def __init__(
        self,
        base_url: str | None,
        *,
        ttl: float = 3600.0,
        timeout_s: float = 2.0,
        client: httpx.Client | None = None,
        breakers: Breakers | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        # The operator's URL, not a user's: a plain client (private addresses allowed).
        self.client = client or httpx.Client(timeout=timeout_s, trust_env=False)
        self.breakers = breakers or Breakers(failures=5, reset_seconds=300)
        self.sleep = sleep
        self._cache: TTLCache[tuple[float, float], Forecast] = TTLCache(
            maxsize=4096, ttl=max(ttl, 1e-6), timer=clock
        )
        self._lock = threading.Lock()

    def get(self, lat: float, lon: float) -> Forecast | None:
        """The cached forecast of the place, or None (never a call out)."""
        with self._lock:
            return self._cache.get(_key(lat, lon))

    def refresh(self, places: Iterable[tuple[float, float]]) -> dict[str, int]:
        """Fetch every place not cached; returns counts of fetched, cached and failed."""
        counts = {"fetched": 0, "cached": 0, "failed": 0}
        if self.base_url is None:
            return counts
        for lat, lon in sorted({_key(lat, lon) for lat, lon in places}):
            if self.get(lat, lon) is not None:
                counts["cached"] += 1
                continue
            try:
                forecast = self._fetch(lat, lon)
            except (ForesightError, ValueError):
                counts["failed"] += 1
                continue
            with self._lock:
                self._cache[(lat, lon)] = forecast
            counts["fetched"] += 1
        return counts

    def _fetch(self, lat: float, lon: float) -> Forecast:
        url = (
            f"{self.base_url}/v1/forecast?latitude={lat}&longitude={lon}&hourly={HOURLY}"
            "&timezone=GMT&timeformat=unixtime&forecast_days=16"
        )
        response = fetch(
            self.client,
            url,
            breaker=self.breakers.for_key(self.base_url or url),
            attempts=2,
            deadline_s=10,
            max_bytes=MAX_BYTES,
            allow_private=True,
            sleep=self.sleep,
        )
        if response.status_code != 200:
            raise ValueError(f"the weather service answered HTTP {response.status_code}")
        return parse_open_meteo(response.json())


def _key(lat: float, lon: float) -> tuple[float, float]:
    return round(float(lat), 2), round(float(lon), 2)
