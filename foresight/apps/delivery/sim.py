"""The delivery simulator: households whose exact success probability is known (plan §4.7).

No public data records when people are home, so the delivery app is measured against a
documented simulation (docs/delivery-simulator.md). ``simulate(SimConfig())`` builds the
households, their calendars (``.ics`` for the connected half), orders and attempts; the
result knows the truth of every 15-minute slot, so any window's exact
P(delivered) is ``result.truth(customer_id, start, end)``.

>>> r = simulate(SimConfig(households=3, weeks=1))
>>> list(r.customers.customer_id)
['c-00001', 'c-00002', 'c-00003']
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pandas as pd

from foresight.apps.delivery import sim_weather
from foresight.apps.delivery.sim_calendar import (
    HouseholdCalendar,
    draw_calendar,
    event_table,
    export_ics,
    exported_busy,
)
from foresight.apps.delivery.sim_households import HOLIDAY_OUT, Household, draw_household
from foresight.apps.delivery.sim_orders import (
    COLUMNS,
    HouseholdDays,
    attempts_frame,
    household_attempts,
)
from foresight.apps.delivery.sim_routine import HOLIDAY_CODES, blocks_for_days, holiday_kinds
from foresight.apps.delivery.sim_truth import DayPlans, p_home, p_true
from foresight.platform.errors import InvalidInput

MAX_TRUTH_DAYS = 31
_SLOT_CACHE = 20_000  # household-days of truth kept for repeated truth() calls
_README = """# Simulated delivery data

Written by `foresight.apps.delivery.sim` ({config}).
The model, its constants and the truth formula: docs/delivery-simulator.md.

- `customers.csv`: the import shape (customer_id, timezone, address_zone, household_type,
  country, preferences as JSON: preferred and blocked windows, days "mon".."sun", "HH:MM").
- `attempts.csv`: one row per delivery attempt, sorted by attempted_at; times are UTC
  (ISO 8601, `Z`). `p_true_window` is the exact P(delivered) of the window (the mean of
  the 15-minute slots' truth; the attempt time is uniform in the window) and
  `p_true_at_slot` that of the attempt's own slot: the outcome is Bernoulli(p_true_at_slot).
- `households.csv`: the hidden side: archetype, declared type, zone, join date, whether the
  calendar is connected, and every drawn parameter (JSON).
- `calendars/<customer_id>.ics`: the exported calendars of connected households (half
  with `TZID` + `VTIMEZONE`, half Google-style `X-WR-TIMEZONE` with UTC times).
"""


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. Late joiners join in ``join_late_weeks`` of a 52-week year
    (scaled to ``weeks``); ``calendar_share`` of households connect a calendar."""

    households: int = 3000
    start: date = date(2025, 1, 6)
    weeks: int = 52
    seed: int = 2026
    tz: str = "America/New_York"
    join_late_share: float = 0.2
    join_late_weeks: tuple[int, int] = (30, 50)
    calendar_share: float = 0.5

    @property
    def end(self) -> date:
        """The first day after the simulated period."""
        return self.start + timedelta(days=7 * self.weeks)


def _check(config: SimConfig) -> ZoneInfo:
    if not 1 <= config.households <= 100_000:
        raise InvalidInput(f"households must be 1–100,000, not {config.households}")
    if not 1 <= config.weeks <= 104:
        raise InvalidInput(f"weeks must be 1–104, not {config.weeks}")
    for name in ("join_late_share", "calendar_share"):
        if not 0.0 <= getattr(config, name) <= 1.0:
            raise InvalidInput(f"{name} must be between 0 and 1")
    lo, hi = config.join_late_weeks
    if not 0 <= lo <= hi <= 52:
        raise InvalidInput("join_late_weeks must be (first, last) with 0 ≤ first ≤ last ≤ 52")
    try:
        return ZoneInfo(config.tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {config.tz!r}; use an IANA name") from None


def _hourly(frame: pd.DataFrame, day0: date, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Rain (bool) and temperature (°C) ``(n, 24)`` of days day0 … from a replay frame."""
    rain, temp = np.zeros((n, 24), dtype=bool), np.full((n, 24), 15.0)
    offset = np.array([(d - day0).days for d in frame["date"]], dtype=np.int64)
    hour = frame["hour"].to_numpy(dtype=np.int64)
    keep = (offset >= 0) & (offset < n) & (hour >= 0) & (hour < 24)
    rain[offset[keep], hour[keep]] = frame["precip_mm"].to_numpy()[keep] > 0
    temp[offset[keep], hour[keep]] = frame["temp_c"].to_numpy()[keep]
    return rain, temp


@lru_cache(maxsize=16)
def _holidays(year: int) -> dict[date, str]:
    return holiday_kinds(date(year, 1, 1), date(year, 12, 31))


class _Days:
    """What every household shares, day by day: dates, weekdays, holidays, the replayed
    weather and each local day's UTC anchor (``sim_orders.HouseholdDays.clock0``)."""

    def __init__(self, tz: ZoneInfo, day0: date, n: int, weather: pd.DataFrame) -> None:
        self.tz, self.day0, self.n = tz, day0, n
        self.dates = [day0 + timedelta(days=k) for k in range(n)]
        self.ordinal = day0.toordinal() + np.arange(n)
        self.weekday = (self.ordinal - 1) % 7
        codes = {name: k for k, name in enumerate(HOLIDAY_CODES)}
        holidays = [codes[_holidays(d.year).get(d)] for d in self.dates]
        self.holiday = np.array(holidays, dtype=np.int64)
        self.rain, self.temp = _hourly(weather, day0, n)
        noon = [
            datetime.combine(d, datetime.min.time(), tzinfo=tz) + timedelta(hours=12)
            for d in self.dates
        ]
        self.clock0 = np.array([int(t.timestamp()) - 12 * 3600 for t in noon], dtype=np.int64)

    def household(self, h: Household, cal: HouseholdCalendar, day0: date, n: int) -> HouseholdDays:
        """Household ``h``'s plans and truth on the n days from ``day0`` (inside these)."""
        i = (day0 - self.day0).days
        if i < 0 or i + n > self.n:
            raise ValueError("days outside the prepared range")
        take = slice(i, i + n)
        # Before and after a routine change the days follow different routines.
        split = n if h.change_day is None else min(n, max(0, (h.change_day - day0).days))
        parts = [
            blocks_for_days(
                r,
                self.ordinal[i + a : i + b],
                self.holiday[i + a : i + b],
                rain=self.rain[i + a : i + b],
                temp_c=self.temp[i + a : i + b],
            )
            for r, a, b in ((h.routine, 0, split), (h.later or h.routine, split, n))
        ]
        blocks = np.concatenate([p[0] for p in parts])
        quirks = np.concatenate([p[1] for p in parts])
        vacation = np.zeros(n, dtype=bool)
        for v in h.vacations:
            first = (v - day0).days
            vacation[max(0, first) : max(0, first + 7)] = True
        q = np.minimum(1.0, h.out_day + HOLIDAY_OUT * (self.holiday[take] > 0))
        events = event_table(cal, day0, n)
        plans = DayPlans(blocks, events, h.answer * quirks, q, vacation, h.concierge)
        home = p_home(plans)
        return HouseholdDays(
            plans, home, p_true(plans, home), self.clock0[take], self.weekday[take]
        )


class _Calendars(Mapping[str, bytes]):
    """The connected households' ``.ics`` exports, built on first read and kept."""

    def __init__(self, result: SimResult, ids: list[str]) -> None:
        self._result, self._ids, self._known = result, ids, frozenset(ids)
        self._bytes: dict[str, bytes] = {}

    def __getitem__(self, customer_id: str) -> bytes:
        if customer_id not in self._bytes:
            if customer_id not in self._known:
                raise KeyError(customer_id)
            self._bytes[customer_id] = self._result.export(customer_id)
        return self._bytes[customer_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class SimResult:
    """A simulation's data frames, calendars and exact truth.

    ``households`` holds the hidden side, ``customers`` the import shape, ``attempts``
    every attempt with ``p_true_window`` and ``p_true_at_slot``, ``calendars`` the
    connected households' ``.ics`` bytes and ``weather`` the replayed hours.
    """

    def __init__(
        self,
        config: SimConfig,
        members: list[Household],
        events: list[HouseholdCalendar],
        attempts: pd.DataFrame,
        days: _Days,
        weather: pd.DataFrame,
    ) -> None:
        self.config = config
        self.tz = ZoneInfo(config.tz)
        self._members = {h.customer_id: h for h in members}
        self._events = {h.customer_id: e for h, e in zip(members, events, strict=True)}
        self._days = days
        self._slots: dict[tuple[str, date], np.ndarray] = {}
        self.attempts = attempts
        self.weather = weather
        self.households = pd.DataFrame(
            {
                "customer_id": [h.customer_id for h in members],
                "archetype": [h.archetype for h in members],
                "declared_type": [h.declared_type for h in members],
                "zone": [h.zone for h in members],
                "joined": [h.joined for h in members],
                "calendar_connected": [h.connected for h in members],
                "params": [h.params_json() for h in members],
            }
        )
        self.customers = pd.DataFrame(
            {
                "customer_id": [h.customer_id for h in members],
                "timezone": config.tz,
                "address_zone": [h.zone for h in members],
                "household_type": [h.declared_type for h in members],
                "country": "US",
                "preferences": [
                    json.dumps(h.preferences, sort_keys=True, separators=(",", ":"))
                    for h in members
                ],
            }
        )
        self.calendars: Mapping[str, bytes] = _Calendars(
            self, [h.customer_id for h in members if h.connected]
        )

    def household(self, customer_id: str) -> Household:
        """The household behind ``customer_id``."""
        try:
            return self._members[customer_id]
        except KeyError:
            raise InvalidInput(f"no simulated customer {customer_id!r}") from None

    def calendar_events(self, customer_id: str) -> HouseholdCalendar:
        """Every event of the household, exported or not."""
        self.household(customer_id)
        return self._events[customer_id]

    def exported_busy(self, customer_id: str) -> np.ndarray:
        """The busy intervals its export describes (``sim_calendar.exported_busy``)."""
        return exported_busy(self.calendar_events(customer_id), self.tz)

    def export(self, customer_id: str) -> bytes:
        """The household's ``.ics`` in its export form (connected or not)."""
        h = self.household(customer_id)
        stamp = datetime.combine(self.config.start, datetime.min.time(), tzinfo=UTC)
        return export_ics(
            self._events[customer_id], tz=self.tz, form=h.form, stamp=stamp, name=customer_id
        )

    def household_days(
        self,
        customer_id: str,
        day0: date,
        n: int = 1,
        *,
        replace: tuple[Household, HouseholdCalendar] | None = None,
    ) -> HouseholdDays:
        """The household's latent plans, P(home) and p_true on n local days from ``day0``
        (days outside the simulated period replay their weather on the fly); ``replace``
        swaps in an edited household and calendar (``sim_observable``)."""
        h, cal = replace or (self.household(customer_id), self._events[customer_id])
        days = self._days
        if not (days.day0 <= day0 and (day0 - days.day0).days + n <= days.n):
            last = day0 + timedelta(days=n - 1)
            days = _Days(self.tz, day0, n, sim_weather.replay(day0, last))
        return days.household(h, cal, day0, n)

    def truth_slots(self, customer_id: str, day: date) -> np.ndarray:
        """p_true of each of the local day's 96 clock slots (00:00, 00:15, …), read-only.

        On the spring-forward day the 02:00–02:45 slots never occur; on the fall-back day
        01:00–01:45 occur twice and both instants have that slot's value.
        """
        key = (customer_id, day)
        if key not in self._slots:
            if len(self._slots) >= _SLOT_CACHE:
                self._slots.clear()
            values = self.household_days(customer_id, day, 1).true[0]
            values.flags.writeable = False
            self._slots[key] = values
        return self._slots[key]

    def truth(self, customer_id: str, start: datetime, end: datetime) -> float:
        """Exact P(delivered) of a window: the mean p_true over its 15-minute slots.

        ``start`` and ``end`` are time-zone aware and on 15-minute marks.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise InvalidInput("window start and end need a time zone (e.g. +00:00)")
        first, last = int(start.timestamp()), int(end.timestamp())
        if first % 900 or last % 900:
            raise InvalidInput("window start and end must be on 15-minute marks")
        if not 0 < last - first <= MAX_TRUTH_DAYS * 86_400:
            raise InvalidInput(f"window must end after it starts, within {MAX_TRUTH_DAYS} days")
        by_day: dict[date, list[int]] = {}
        for step in range(first, last, 900):
            local = datetime.fromtimestamp(step, self.tz)
            by_day.setdefault(local.date(), []).append(local.hour * 4 + local.minute // 15)
        values = [self.truth_slots(customer_id, d)[slots] for d, slots in by_day.items()]
        return float(np.concatenate(values).mean())

    def write(self, folder: Path) -> None:
        """Write customers.csv, attempts.csv, households.csv, calendars/*.ics and README.md
        (the same bytes for the same config)."""
        folder = Path(folder)
        (folder / "calendars").mkdir(parents=True, exist_ok=True)
        self.customers.to_csv(folder / "customers.csv", index=False, lineterminator="\n")
        self.households.to_csv(folder / "households.csv", index=False, lineterminator="\n")
        out = self.attempts.copy()
        for c in ("attempted_at", "window_start", "window_end"):
            out[c] = out[c].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        out.to_csv(folder / "attempts.csv", index=False, lineterminator="\n", float_format="%.10g")
        for customer_id, data in self.calendars.items():
            (folder / "calendars" / f"{customer_id}.ics").write_bytes(data)
        text = _README.format(config=self.config)
        (folder / "README.md").write_text(text, encoding="utf-8")


def _streams(seed: int, n: int) -> list[list[np.random.Generator]]:
    # Household i's stream depends on (seed, i) only: spawn gives child i the key (i,).
    children = np.random.SeedSequence(seed).spawn(n)
    return [[np.random.default_rng(s) for s in child.spawn(4)] for child in children]


def simulate(config: SimConfig) -> SimResult:
    """Simulate ``config.households`` households over ``config.weeks`` weeks."""
    tz = _check(config)
    first, end = config.start, config.end
    weather = sim_weather.replay(first, end - timedelta(days=1))
    days = _Days(tz, first, (end - first).days, weather)
    members, events, parts = [], [], []
    for i, (r_params, r_calendar, r_orders, r_outcomes) in enumerate(
        _streams(config.seed, config.households)
    ):
        h = draw_household(
            i,
            r_params,
            start=first,
            weeks=config.weeks,
            join_late_share=config.join_late_share,
            join_late_weeks=config.join_late_weeks,
            calendar_share=config.calendar_share,
        )
        cal = draw_calendar(
            customer_id=h.customer_id,
            archetype=h.archetype,
            first=first,
            end=end,
            vacations=h.vacations,
            rng=r_calendar,
        )
        day0 = max(h.joined, first)
        if day0 < end:
            own = days.household(h, cal, day0, (end - day0).days)
            cols = household_attempts(h, own, orders_rng=r_orders, outcomes_rng=r_outcomes)
        else:
            cols = {c: np.zeros(0) for c in COLUMNS}
        cols["customer_id"] = np.full(len(cols["delivered"]), h.customer_id, dtype=object)
        members.append(h)
        events.append(cal)
        parts.append(cols)
    return SimResult(config, members, events, attempts_frame(parts), days, weather)


__all__ = ["SimConfig", "SimResult", "simulate"]
