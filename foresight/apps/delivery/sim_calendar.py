"""Simulated households' calendars: their events, the truth they drive and the ``.ics`` export.

Every household has events, whether or not it connects its calendar (plan §4.7):

- 1–3 weekly series from its archetype's pool (``RRULE:FREQ=WEEKLY;BYDAY=…;UNTIL=…``)
  running from the first matching day to the period's last day, each with one ``EXDATE``
  (that instance does not happen) and one instance moved (``RECURRENCE-ID``) to the next
  day, 1 h later;
- one-offs ~ Poisson(0.7 a week), 60–120 min on 15-minute marks within 09:00–19:00, 80 %
  exported (the rest are "forgotten" but still attended);
- one cancelled one-off (``STATUS:CANCELLED``; not attended);
- the vacations as all-day ``OPAQUE`` events of 7 days, 90 % exported;
- 1–3 birthdays as yearly all-day ``TRANSPARENT`` events (never busy, not away).

Exports alternate by household: ``"tzid"`` writes ``DTSTART;TZID=America/New_York`` with a
``VTIMEZONE``; ``"utc"`` is Google-style, ``X-WR-TIMEZONE`` with UTC times. Both describe
the same instants, so a weekly 08:30 class stays at 08:30 local across DST changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

import icalendar
import numpy as np

PRODID = "-//Foresight//delivery simulator//EN"
ONE_OFFS_PER_WEEK = 0.7
ONE_OFF_MINUTES = (60, 75, 90, 105, 120)
ONE_OFF_HOURS = (9, 19)
ONE_OFF_EXPORTED = 0.8
VACATION_EXPORTED = 0.9
VACATION_DAYS = 7
MARGIN_MINUTES = 15  # away from 15 min before an event to 15 min after
MOVE = (timedelta(days=1), 60)  # a moved instance: next day, 60 min later
_WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")

# name: (summary, weekdays, start minute, minutes)
SERIES = {
    "gym": ("Gym", (1, 3), 18 * 60, 90),
    "class": ("Class", (0, 2), 8 * 60 + 30, 90),
    "practice": ("Kids' practice", (2,), 16 * 60 + 30, 90),
    "choir": ("Choir", (5,), 10 * 60, 90),
    "volunteering": ("Volunteering", (4,), 13 * 60, 120),
}
POOLS = {
    "commuter": ("gym", "choir", "practice"),
    "remote_worker": ("gym", "class", "choir"),
    "shift_worker": ("gym", "choir", "volunteering"),
    "retired": ("class", "choir", "volunteering"),
    "student": ("class", "gym", "choir"),
    "parent": ("practice", "gym", "class"),
}


@dataclass(frozen=True)
class Timed:
    """One timed instance: local ``day``, start and end minute of the local clock."""

    uid: str
    summary: str
    day: date
    start: int
    end: int
    exported: bool = True
    cancelled: bool = False


@dataclass(frozen=True, eq=False)
class Series:
    """A weekly series: ``ordinals`` are the days it happens at its usual time (without
    the EXDATE and the moved instance's original day); ``moved`` is (RECURRENCE-ID day,
    the moved instance)."""

    uid: str
    summary: str
    weekdays: tuple[int, ...]
    start: int
    minutes: int
    ordinals: np.ndarray
    first: date
    last: date  # UNTIL is this day's 23:59:59 local
    exdate: date | None
    moved: tuple[date, Timed] | None

    @cached_property
    def instances(self) -> tuple[Timed, ...]:
        """Every instance that happens, the moved one at its new time."""
        end = self.start + self.minutes
        out = [
            Timed(self.uid, self.summary, date.fromordinal(o), self.start, end)
            for o in self.ordinals.tolist()
        ]
        return tuple(out + ([self.moved[1]] if self.moved else []))


@dataclass(frozen=True)
class AllDay:
    """An all-day event over [first, end) local days; ``yearly`` repeats it every year."""

    uid: str
    summary: str
    first: date
    end: date
    transparent: bool
    exported: bool
    yearly: bool = False


@dataclass(frozen=True, eq=False)
class HouseholdCalendar:
    """All of one household's events over the simulated period. ``once`` holds the
    one-offs as rows (day ordinal, start minute, end minute, exported)."""

    customer_id: str
    series: tuple[Series, ...]
    once: np.ndarray
    cancelled: Timed
    all_day: tuple[AllDay, ...]

    @cached_property
    def one_offs(self) -> tuple[Timed, ...]:
        """The one-offs as instances (the cancelled one last)."""
        out = [
            Timed(
                f"{self.customer_id}-once-{k}@foresight.sim",
                "Appointment",
                date.fromordinal(o),
                a,
                b,
                bool(x),
            )
            for k, (o, a, b, x) in enumerate(self.once.tolist())
        ]
        return (*out, self.cancelled)

    def attended(self) -> list[Timed]:
        """Timed instances that take the household away (in the truth), exported or not."""
        out = [i for s in self.series for i in s.instances]
        return out + [o for o in self.one_offs if not o.cancelled]

    @cached_property
    def cover_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Attended events as (day ordinal, first slot, last slot), sorted by day; an event
        covers the slots [first, last), 15 min either side included."""
        parts = [self.once[:, :3]]
        for s in self.series:
            regular = np.column_stack(
                [
                    s.ordinals,
                    np.full(len(s.ordinals), s.start),
                    np.full(len(s.ordinals), s.start + s.minutes),
                ]
            )
            parts.append(regular.reshape(-1, 3))
            if s.moved:
                m = s.moved[1]
                parts.append(np.array([[m.day.toordinal(), m.start, m.end]]))
        table = np.concatenate(parts).astype(np.int64)
        table = table[np.argsort(table[:, 0], kind="stable")]
        first = np.maximum(0, (table[:, 1] - MARGIN_MINUTES) // 15)
        last = np.minimum(96, (table[:, 2] + MARGIN_MINUTES) // 15)
        return table[:, 0], first, last


def event_table(cal: HouseholdCalendar, day0: date, n: int) -> np.ndarray:
    """Slot ranges of the attended events on days day0 … day0 + n − 1, ``(n, E, 2)``,
    padded with (0, 0) (see ``sim_truth.DayPlans``)."""
    ordinals, firsts, lasts = cal.cover_arrays
    lo, hi = np.searchsorted(ordinals, [day0.toordinal(), day0.toordinal() + n])
    offset = ordinals[lo:hi] - day0.toordinal()
    if not len(offset):
        return np.zeros((n, 0, 2), dtype=np.int64)
    rank = np.arange(len(offset)) - np.searchsorted(offset, offset)  # k-th event of its day
    table = np.zeros((n, int(rank.max()) + 1, 2), dtype=np.int64)
    table[offset, rank, 0] = firsts[lo:hi]
    table[offset, rank, 1] = lasts[lo:hi]
    return table


def _series(name: str, uid: str, first: date, end: date, rng: np.random.Generator) -> Series:
    summary, weekdays, start, minutes = SERIES[name]
    lo, hi = first.toordinal(), end.toordinal()
    days = sorted(o for w in weekdays for o in range(lo + (w - first.weekday()) % 7, hi, 7))
    pick = rng.random(2)  # always two draws, so the stream does not depend on the period
    exdate = moved = None
    regular = list(days)
    if len(days) >= 3:
        i = 1 + int(pick[0] * (len(days) - 1))
        j = 1 + int(pick[1] * (len(days) - 2))
        j = j if j < i else j + 1  # a different instance, never the first
        exdate = date.fromordinal(days[i])
        shifted = start + MOVE[1]
        was = date.fromordinal(days[j])
        moved = (was, Timed(uid, summary, was + MOVE[0], shifted, shifted + minutes))
        regular = [d for k, d in enumerate(days) if k not in (i, j)]
    first_day = date.fromordinal(days[0]) if days else first
    last_day = date.fromordinal(days[-1]) if days else first
    ordinals = np.array(regular, dtype=np.int64)
    return Series(
        uid, summary, weekdays, start, minutes, ordinals, first_day, last_day, exdate, moved
    )


def draw_calendar(
    *,
    customer_id: str,
    archetype: str,
    first: date,
    end: date,
    vacations: tuple[date, ...],
    rng: np.random.Generator,
) -> HouseholdCalendar:
    """Draw a household's events over [first, end) (local days)."""
    pool = POOLS[archetype]
    count = int(rng.integers(1, 4))
    names = [pool[i] for i in sorted(rng.permutation(len(pool))[:count])]
    series = tuple(_series(n, f"{customer_id}-{n}@foresight.sim", first, end, rng) for n in names)
    n_days = (end - first).days
    per_day = rng.poisson(ONE_OFFS_PER_WEEK / 7, n_days)
    total = int(per_day.sum())
    day_index = np.repeat(np.arange(n_days), per_day)
    minutes = rng.choice(ONE_OFF_MINUTES, total)
    span = (ONE_OFF_HOURS[1] - ONE_OFF_HOURS[0]) * 60
    starts = ONE_OFF_HOURS[0] * 60 + 15 * (rng.random(total) * ((span - minutes) // 15 + 1))
    starts = starts.astype(np.int64) // 15 * 15
    exported = rng.random(total) < ONE_OFF_EXPORTED
    once = np.column_stack(
        [first.toordinal() + day_index, starts, starts + minutes, exported]
    ).astype(np.int64)
    c_day, c_start = int(rng.integers(0, n_days)), 9 * 60 + 15 * int(rng.integers(0, 33))
    cancelled = Timed(
        f"{customer_id}-cancelled@foresight.sim",
        "Appointment",
        first + timedelta(days=c_day),
        c_start,
        c_start + 60,
        True,
        True,
    )
    away = rng.random(len(vacations)) < VACATION_EXPORTED
    all_day = [
        AllDay(
            f"{customer_id}-vacation-{k}@foresight.sim",
            "Vacation",
            v,
            v + timedelta(days=VACATION_DAYS),
            False,
            bool(away[k]),
        )
        for k, v in enumerate(vacations)
    ]
    for k in range(int(rng.integers(1, 4))):
        born = date(first.year, 1, 1) + timedelta(days=int(rng.integers(0, 365)))
        all_day.append(
            AllDay(
                f"{customer_id}-birthday-{k}@foresight.sim",
                "Birthday",
                born,
                born + timedelta(days=1),
                True,
                True,
                yearly=True,
            )
        )
    return HouseholdCalendar(customer_id, series, once.reshape(-1, 4), cancelled, tuple(all_day))


def _local(day: date, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)


def busy_instances(cal: HouseholdCalendar, tz: ZoneInfo) -> list[tuple[int, int, bool]]:
    """The exported calendar's busy instances as (start, end, all_day), UTC epoch seconds:
    opaque, not cancelled, not EXDATE'd; overrides at their moved time."""
    out = []
    for e in cal.attended():
        if e.exported:
            s = int(_local(e.day, e.start, tz).timestamp())
            out.append((s, int(_local(e.day, e.end, tz).timestamp()), False))
    for a in cal.all_day:
        if a.exported and not a.transparent:
            s = int(_local(a.first, 0, tz).timestamp())
            out.append((s, int(_local(a.end, 0, tz).timestamp()), True))
    return sorted(out)


def exported_busy(cal: HouseholdCalendar, tz: ZoneInfo) -> np.ndarray:
    """Busy intervals of the export, ``(n, 2)`` int64 UTC seconds, sorted, with
    overlapping or touching intervals merged (what ``calendars.parse_busy`` returns)."""
    merged: list[list[int]] = []
    for s, e, _ in busy_instances(cal, tz):
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return np.array(merged, dtype=np.int64).reshape(-1, 2)


@lru_cache(maxsize=8)
def _vtimezone(key: str, first_year: int, last_year: int) -> icalendar.Timezone:
    # What ``Calendar.add_missing_timezones()`` writes, but built once and covering only
    # the years around the period: the default 1970–2038 rules make every file 3 kB
    # longer and every export ~10 ms slower.
    return icalendar.Timezone.from_tzinfo(
        ZoneInfo(key), first_date=date(first_year, 1, 1), last_date=date(last_year + 1, 1, 1)
    )


def export_ics(
    cal: HouseholdCalendar, *, tz: ZoneInfo, form: str, stamp: datetime, name: str
) -> bytes:
    """The exported ``.ics`` (``form`` ``"tzid"`` or ``"utc"``); ``stamp`` is every
    DTSTAMP, so the bytes depend on the inputs only."""
    if form not in ("tzid", "utc"):
        raise ValueError(f"unknown export form {form!r}; use 'tzid' or 'utc'")
    ical = icalendar.Calendar()
    ical.add("prodid", PRODID)
    ical.add("version", "2.0")
    if form == "utc":
        ical.add("x-wr-calname", name)
        ical.add("x-wr-timezone", tz.key)
    else:
        years = [s.first.year for s in cal.series] + [s.last.year for s in cal.series]
        years += [stamp.year, cal.cancelled.day.year]
        ical.add_component(_vtimezone(tz.key, min(years) - 1, max(years) + 1))

    def when(day: date, minute: int) -> datetime:
        moment = _local(day, minute, tz)
        return moment.astimezone(UTC) if form == "utc" else moment

    def event(uid: str, summary: str | None) -> icalendar.Event:
        ev = icalendar.Event()
        ev.add("uid", uid)
        ev.add("dtstamp", stamp)
        if summary:
            ev.add("summary", summary)
        ical.add_component(ev)
        return ev

    for s in cal.series:
        ev = event(s.uid, s.summary)
        ev.add("dtstart", when(s.first, s.start))
        ev.add("dtend", when(s.first, s.start + s.minutes))
        until = datetime.combine(s.last, time(23, 59, 59), tzinfo=tz).astimezone(UTC)
        byday = [_WEEKDAYS[w] for w in s.weekdays]
        ev.add("rrule", {"freq": "weekly", "byday": byday, "until": until})
        if s.exdate is not None:
            ev.add("exdate", [when(s.exdate, s.start)])
        if s.moved is not None:
            was, moved = s.moved
            ov = event(s.uid, s.summary)
            ov.add("recurrence-id", when(was, s.start))
            ov.add("dtstart", when(moved.day, moved.start))
            ov.add("dtend", when(moved.day, moved.end))
    for o in cal.one_offs:
        if o.exported:
            ev = event(o.uid, o.summary)
            ev.add("dtstart", when(o.day, o.start))
            ev.add("dtend", when(o.day, o.end))
            if o.cancelled:
                ev.add("status", "CANCELLED")
    for a in cal.all_day:
        if a.exported:
            ev = event(a.uid, a.summary)
            ev.add("dtstart", a.first)
            ev.add("dtend", a.end)
            ev.add("transp", "TRANSPARENT" if a.transparent else "OPAQUE")
            if a.yearly:
                ev.add("rrule", {"freq": "yearly"})
    return ical.to_ical()
