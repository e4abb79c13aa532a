"""Simulated households' weekly routines: archetypes, away blocks and holidays (plan §4.7).

A *block* is an interval the household is away. Each block is a row
``(leave mean, leave σ, return mean, return σ, π)`` in local clock hours: on a given day
the block happens w.p. π, and its leave and return times are normal around their means,
truncated at ±2σ. A σ of 0 marks a fixed end (a night shift split at midnight). Block means
of one day are at least 1 h apart and all of a household's blocks move by the same offset,
so with the ±2σ truncation two blocks never overlap; that is what makes
``away(t) = Σ π_b (F_L(t) − F_R(t))`` exact (``sim_truth.py``).

Constants are frozen (docs/delivery-simulator.md); the benchmark reports what it gets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from functools import lru_cache

import numpy as np

ARCHETYPES = ("commuter", "remote_worker", "shift_worker", "retired", "student", "parent")
MIX = (0.30, 0.15, 0.10, 0.15, 0.10, 0.20)

SD_WORK = 0.4  # h, leave/return jitter of work shifts and commutes
SD_OTHER = 0.25  # h, every other block
SHIFT_RANGE = 0.5  # a household's blocks sit at the archetype's means ± U(−0.5, 0.5) h
WORK_LEAVE = (6.5, 9.0)  # commuter leaves at U(6.5, 9) …
WORK_HOURS = (9.0, 10.5)  # … and is away U(9, 10.5) h
RAIN_ERRANDS = 0.5  # rain in the block's leave hour halves an errand's π
HEAT_RETIRED = 0.6  # ≥ 90 °F in that hour: retired errands × 0.6
HEAT_C = 32.2  # 90 °F
NIGHT_SLEEP_SLOTS = (32, 56)  # 08:00–14:00 asleep after a night shift …
NIGHT_SLEEP_ANSWER = 0.3  # … answering w.p. × 0.3
STUDENT_EARLY_SLOTS = 40  # before 10:00 …
STUDENT_EARLY_ANSWER = 0.6  # … a student answers w.p. × 0.6

# (leave, return, π) by weekday for the commuter's and remote worker's weekends.
WEEKEND_ERRANDS = {5: (10.0, 13.0, 0.5), 6: (11.0, 15.0, 0.3)}
SHIFTS = ((6.0, 14.0), (14.0, 22.0), (22.0, 6.0))  # morning, afternoon, night (split at 0)
SCHOOL_ONLY = ("Washington's Birthday", "Columbus Day", "Veterans Day")

ERRAND, WORK = 0, 1  # block kinds: only errand-like blocks react to the weather
Block = tuple[float, float, float, float, float, int]  # leave, σ, return, σ, π, kind


@dataclass(frozen=True)
class Routine:
    """One household's routine: its archetype and the parameters drawn for it once."""

    archetype: str
    shift: float  # h, added to every nominal block time
    work_leave: float  # commuter (and a remote worker's office day): mean leave hour
    work_hours: float  # … and mean hours away
    office_day: int  # remote worker: weekday 0–4 spent as a commuter
    days_off: int  # shift worker: first of two consecutive weekdays off
    rotation: int  # shift worker: offset of the weekly rotation (0, 1, 2)

    def to_dict(self) -> dict[str, object]:
        """The routine as JSON-ready values (rounded for the households file)."""
        return {k: round(v, 4) if isinstance(v, float) else v for k, v in asdict(self).items()}


def draw_routine(archetype: str, rng: np.random.Generator) -> Routine:
    """Draw a routine; every field is drawn whatever the archetype, so streams stay aligned."""
    shift = float(rng.uniform(-SHIFT_RANGE, SHIFT_RANGE))
    leave = float(rng.uniform(*WORK_LEAVE))
    hours = float(rng.uniform(*WORK_HOURS))
    office_day = int(rng.integers(0, 5))
    days_off = int(rng.integers(0, 7))
    rotation = int(rng.integers(0, 3))
    return Routine(archetype, shift, leave, hours, office_day, days_off, rotation)


def holiday_kinds(first: date, last: date) -> dict[date, str]:
    """Simulated holidays: ``"federal"`` (the US federal list plus the day after
    Thanksgiving) or ``"school"`` (a federal day that only schools close for)."""
    import holidays

    listed = holidays.country_holidays("US", years=range(first.year, last.year + 1))
    out: dict[date, str] = {}
    for day, name in sorted(listed.items()):
        out[day] = "school" if any(n in name for n in SCHOOL_ONLY) else "federal"
        if "Thanksgiving" in name:
            out[day + timedelta(days=1)] = "federal"
    return out


def shift_index(routine: Routine, day: date) -> int | None:
    """The shift (0 morning, 1 afternoon, 2 night) a shift worker works, or None (day off).

    The rotation changes on the weekday after the two days off, so a night shift is never
    followed directly by a morning shift.
    """
    weekday = day.weekday()
    if weekday in (routine.days_off, (routine.days_off + 1) % 7):
        return None
    start = (routine.days_off + 2) % 7
    week = (day.toordinal() - 1 - start) // 7  # ordinal 1 (0001-01-01) is a Monday
    return (week + routine.rotation) % 3


def _around(leave: float, back: float, pi: float, kind: int, shift: float) -> Block:
    return (leave + shift, SD_OTHER, back + shift, SD_OTHER, pi, kind)


def _commute(r: Routine) -> list[Block]:
    return [(r.work_leave, SD_WORK, r.work_leave + r.work_hours, SD_WORK, 1.0, WORK)]


def _weekend(r: Routine, weekday: int) -> list[Block]:
    leave, back, pi = WEEKEND_ERRANDS[6 if weekday == 6 else 5]
    return [_around(leave, back, pi, ERRAND, r.shift)]


def _shift_blocks(r: Routine, today: int | None, yesterday: int | None) -> list[Block]:
    blocks: list[Block] = []
    if yesterday == 2:  # home from last night's shift: away since midnight (a fixed end)
        blocks.append((0.0, 0.0, SHIFTS[2][1] + r.shift, SD_WORK, 1.0, WORK))
    if today == 2:  # tonight's shift: away until midnight
        blocks.append((SHIFTS[2][0] + r.shift, SD_WORK, 24.0, 0.0, 1.0, WORK))
    elif today is not None:
        leave, back = SHIFTS[today]
        blocks.append((leave + r.shift, SD_WORK, back + r.shift, SD_WORK, 1.0, WORK))
    return blocks


def _blocks(
    r: Routine, weekday: int, holiday: str | None, today: int | None, yesterday: int | None
) -> list[Block]:
    """Blocks before the weather (``today``/``yesterday``: a shift worker's shifts)."""
    u = r.shift
    off_work = weekday >= 5 or holiday == "federal"
    off_school = weekday >= 5 or holiday is not None
    a = r.archetype
    if a == "commuter":
        return _weekend(r, weekday) if off_work else _commute(r)
    if a == "remote_worker":
        if weekday >= 5 or (weekday == r.office_day and off_work):
            return _weekend(r, weekday)
        if weekday == r.office_day:
            return _commute(r)
        return [_around(12, 13, 0.3, ERRAND, u), _around(17.5, 19, 0.4, ERRAND, u)]
    if a == "shift_worker":
        return _shift_blocks(r, today, yesterday)
    if a == "retired":
        return [_around(9.5, 11.5, 0.5, ERRAND, u), _around(14, 16, 0.3, ERRAND, u)]
    if a == "student":
        out = [] if off_school else [_around(9, 12, 0.8, WORK, u), _around(13, 16, 0.6, WORK, u)]
        if weekday in (3, 4, 5) or (off_school and weekday < 5):  # a day off runs as Saturday
            out.append((20 + u, SD_OTHER, 24.0, 0.0, 0.5, ERRAND))  # out until midnight
        return out
    if a == "parent":
        if off_school:
            return [_around(10, 12, 0.5, ERRAND, u)]
        return [
            _around(8, 9, 0.9, WORK, u),
            _around(10, 12, 0.4, ERRAND, u),
            _around(15, 16, 0.9, WORK, u),
        ]
    raise ValueError(f"unknown archetype {a!r}")


MAX_BLOCKS = 3  # the most blocks any archetype has in a day
_PAD: Block = (0.0, 1.0, 0.0, 1.0, 0.0, WORK)  # π = 0 and F_L = F_R: contributes nothing
HOLIDAY_CODES = (None, "federal", "school")


@lru_cache(maxsize=65_536)
def _template(
    r: Routine, weekday: int, holiday: str | None, today: int | None, yesterday: int | None
) -> np.ndarray:
    blocks = _blocks(r, weekday, holiday, today, yesterday)
    return np.array(blocks + [_PAD] * (MAX_BLOCKS - len(blocks)), dtype=np.float64)


def _quirks() -> np.ndarray:
    """Answer multipliers: row 0 none, 1 asleep after a night shift, 2 a student's mornings."""
    out = np.ones((3, 96))
    out[1, slice(*NIGHT_SLEEP_SLOTS)] = NIGHT_SLEEP_ANSWER
    out[2, :STUDENT_EARLY_SLOTS] = STUDENT_EARLY_ANSWER
    return out


QUIRKS = _quirks()


def _shifts(r: Routine, ordinals: np.ndarray) -> np.ndarray:
    """``shift_index`` for many days at once (−1: a day off)."""
    weekday = (ordinals - 1) % 7
    off = (weekday == r.days_off) | (weekday == (r.days_off + 1) % 7)
    week = (ordinals - 1 - (r.days_off + 2) % 7) // 7
    return np.where(off, -1, (week + r.rotation) % 3)


def blocks_for_days(
    r: Routine,
    ordinals: np.ndarray,
    holidays: np.ndarray,
    *,
    rain: np.ndarray | None = None,
    temp_c: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Blocks ``(n, 3, 5)`` (leave, σ, return, σ, π; padded with π = 0) of routine ``r`` on
    days ``ordinals`` (``date.toordinal()``) after the weather, and the answer-rate
    multipliers ``(n, 96)``. ``holidays`` are indexes into ``HOLIDAY_CODES``.

    ``rain`` (bool) and ``temp_c`` are ``(n, 24)``: the days' local hours. The weather of
    the hour a block is due to start in sets its π, so π stays one number per block and day.
    """
    ordinals = np.asarray(ordinals, dtype=np.int64)
    n = len(ordinals)
    weekday = (ordinals - 1) % 7  # ordinal 1 (0001-01-01) is a Monday
    today = yesterday = np.full(n, -1)
    quirk = np.zeros(n, dtype=np.int64)
    if r.archetype == "shift_worker":
        today, yesterday = _shifts(r, ordinals), _shifts(r, ordinals - 1)
        quirk = np.where(yesterday == 2, 1, 0)
    elif r.archetype == "student":
        quirk[:] = 2
    # Days of one kind share a template; build each kind once.
    key = weekday + 7 * (holidays + 3 * ((today + 1) + 4 * (yesterday + 1)))
    kinds, which = np.unique(key, return_inverse=True)
    templates = [np.zeros((0, MAX_BLOCKS, 6))]
    for k in kinds.tolist():
        w, h, t, y = k % 7, (k // 7) % 3, (k // 21) % 4 - 1, k // 84 - 1
        args = (HOLIDAY_CODES[h], None if t < 0 else t, None if y < 0 else y)
        templates.append(_template(r, w, *args)[None])
    table = np.concatenate(templates)[which.reshape(-1)]
    pi = table[..., 4].copy()
    errand = table[..., 5] == ERRAND
    hour = np.clip(table[..., 0].astype(np.int64), 0, 23)
    rows = np.arange(n)[:, None]
    if rain is not None:
        pi[errand & rain[rows, hour]] *= RAIN_ERRANDS
    if temp_c is not None and r.archetype == "retired":
        pi[errand & (temp_c[rows, hour] >= HEAT_C)] *= HEAT_RETIRED
    return np.concatenate([table[..., :4], pi[..., None]], axis=-1), QUIRKS[quirk]
