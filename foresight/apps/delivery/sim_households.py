"""Simulated households: who they are, their parameters and their declared preferences.

Each household draws everything from its own random stream, so household *h* is the same
whatever the number of households (``sim.simulate`` spawns the streams).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from foresight.apps.delivery.sim_routine import (
    ARCHETYPES,
    MIX,
    Routine,
    blocks_for_days,
    draw_routine,
)
from foresight.apps.delivery.sim_truth import DayPlans, p_home

ZONES = tuple(f"Z{i:02d}" for i in range(1, 13))
CONCIERGE = {"Z03": 0.5, "Z07": 0.5, "Z11": 0.5}  # a concierge accepts w.p. 0.5
OUT_DAY_BETA = (2.0, 20.0)  # q_h: P(out all day) ~ Beta(2, 20) …
HOLIDAY_OUT = 0.15  # … + 0.15 on a holiday
ANSWER_BETA = (18.0, 2.0)  # a_h: answer rate ~ Beta(18, 2)
ORDERS_GAMMA = (2.0, 0.75)  # λ_h: orders a week ~ Gamma(shape 2, scale 0.75), mean 1.5
VACATION_WEEKS = (0.3, 0.5, 0.2)  # P(0, 1, 2 vacation weeks a year)
ROUTINE_CHANGE = 0.10  # share of households that switch archetype …
CHANGE_WEEKS = (10, 45)  # … on a uniform day in these weeks (from the start)
DECLARED = 0.7  # declared_type is the archetype w.p. 0.7, else "unknown"
PREFERRED = 0.6  # share declaring preferred windows …
BLOCKED = 0.2  # … and blocked windows (independently)
PREFER_HOME, BLOCK_HOME = 0.8, 0.2  # mean-routine P(home) thresholds for those windows
PREFERENCE_HOURS = (8, 21)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Household:
    """One simulated household and every parameter its truth depends on."""

    index: int
    customer_id: str
    archetype: str
    declared_type: str
    zone: str
    concierge: float
    joined: date
    connected: bool
    form: str  # calendar export form: "tzid" or "utc"
    out_day: float  # q_h
    answer: float  # a_h
    orders_per_week: float  # λ_h
    routine: Routine
    change_day: date | None
    later: Routine | None  # the routine from change_day on
    vacations: tuple[date, ...]  # first days of 7-day vacations
    preferences: dict[str, list[dict[str, object]]]

    def routine_on(self, day: date) -> Routine:
        """The routine in force on ``day``."""
        if self.change_day is not None and self.later is not None and day >= self.change_day:
            return self.later
        return self.routine

    def params_json(self) -> str:
        """Every drawn parameter as compact, sorted JSON (the households file's column)."""
        return json.dumps(
            {
                "out_day": round(self.out_day, 6),
                "answer": round(self.answer, 6),
                "orders_per_week": round(self.orders_per_week, 6),
                "concierge": self.concierge,
                "export_form": self.form,
                "routine": self.routine.to_dict(),
                "change_day": self.change_day.isoformat() if self.change_day else None,
                "routine_after": self.later.to_dict() if self.later else None,
                "vacations": [v.isoformat() for v in self.vacations],
            },
            sort_keys=True,
            separators=(",", ":"),
        )


def _runs(mask: np.ndarray, first_hour: int) -> list[tuple[int, int]]:
    """[start, end) hours of runs of True at least 2 h long."""
    out, start = [], None
    for i, on in enumerate([*mask.tolist(), False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            if i - start >= 2:
                out.append((first_hour + start, first_hour + i))
            start = None
    return out


def mean_routine_home(routine: Routine, start: date) -> np.ndarray:
    """P(home) per weekday and hour ``(7, 24)`` from the routine alone (no events, out-days,
    holidays or weather), averaged over three weeks so a shift rotation is covered."""
    days = [start + timedelta(days=k) for k in range(21)]
    ordinals = np.array([d.toordinal() for d in days])
    blocks, answer = blocks_for_days(routine, ordinals, np.zeros(21, dtype=np.int64))
    none = np.zeros((21, 0, 2), dtype=np.int64)
    plans = DayPlans(blocks, none, answer, np.zeros(21), np.zeros(21, dtype=bool), 0.0)
    hourly = p_home(plans).reshape(21, 24, 4).mean(axis=2)
    out = np.zeros((7, 24))
    for day, row in zip(days, hourly, strict=True):
        out[day.weekday()] += row / 3
    return out


def declared_preferences(
    routine: Routine, start: date, *, preferred: bool, blocked: bool
) -> dict[str, list[dict[str, object]]]:
    """Preferred and blocked windows a household declares, from its *mean* routine (so
    they are imperfect by design): hours 08–21 with P(home) ≥ 0.8, or ≤ 0.2, ≥ 2 h long.
    Weekdays with the same windows share one entry."""
    out: dict[str, list[dict[str, object]]] = {"preferred": [], "blocked": []}
    if not (preferred or blocked):
        return out
    home = mean_routine_home(routine, start)[:, slice(*PREFERENCE_HOURS)]
    for key, wanted, mask in (
        ("preferred", preferred, home >= PREFER_HOME),
        ("blocked", blocked, home <= BLOCK_HOME),
    ):
        if not wanted:
            continue
        by_runs: dict[tuple[tuple[int, int], ...], list[str]] = {}
        for weekday in range(7):
            runs = tuple(_runs(mask[weekday], PREFERENCE_HOURS[0]))
            if runs:
                by_runs.setdefault(runs, []).append(DAY_NAMES[weekday])
        for runs, days in by_runs.items():
            for a, b in runs:
                out[key].append({"days": days, "start": f"{a:02d}:00", "end": f"{b:02d}:00"})
    return out


def draw_household(
    index: int,
    rng: np.random.Generator,
    *,
    start: date,
    weeks: int,
    join_late_share: float,
    join_late_weeks: tuple[int, int],
    calendar_share: float,
) -> Household:
    """Draw household ``index`` (ids ``c-00001`` for index 0) from its own stream.

    Late joiners join ``U(join_late_weeks)`` weeks into a 52-week year, scaled to the
    run's length, so a 12-week demo also has cold starts.
    """
    archetype = str(rng.choice(ARCHETYPES, p=MIX))
    declared = archetype if rng.random() < DECLARED else "unknown"
    zone = ZONES[int(rng.integers(0, len(ZONES)))]
    late = rng.random() < join_late_share
    frac = rng.uniform(join_late_weeks[0] / 52, join_late_weeks[1] / 52)
    joined = start + timedelta(days=round(frac * weeks * 7)) if late else start
    connected = bool(rng.random() < calendar_share)
    out_day = float(rng.beta(*OUT_DAY_BETA))
    answer = float(rng.beta(*ANSWER_BETA))
    orders = float(rng.gamma(*ORDERS_GAMMA))
    n_vacations = int(rng.choice(3, p=VACATION_WEEKS))
    vacation_weeks = np.sort(rng.permutation(52)[:n_vacations])
    weekday = int(rng.integers(0, 7))  # both vacations start on the same weekday: no overlap
    vacations = tuple(start + timedelta(days=int(w) * 7 + weekday) for w in vacation_weeks)
    routine = draw_routine(archetype, rng)
    changes = rng.random() < ROUTINE_CHANGE
    change_offset = int(rng.integers(CHANGE_WEEKS[0] * 7, CHANGE_WEEKS[1] * 7 + 7))
    others = [a for a in ARCHETYPES if a != archetype]
    weights = np.array([MIX[ARCHETYPES.index(a)] for a in others])
    later = draw_routine(str(rng.choice(others, p=weights / weights.sum())), rng)
    prefs = declared_preferences(
        routine, start, preferred=rng.random() < PREFERRED, blocked=rng.random() < BLOCKED
    )
    return Household(
        index=index,
        customer_id=f"c-{index + 1:05d}",
        archetype=archetype,
        declared_type=declared,
        zone=zone,
        concierge=CONCIERGE.get(zone, 0.0),
        joined=joined,
        connected=connected,
        form="tzid" if index % 2 == 0 else "utc",
        out_day=out_day,
        answer=answer,
        orders_per_week=orders,
        routine=routine,
        change_day=start + timedelta(days=change_offset) if changes else None,
        later=later if changes else None,
        vacations=vacations,
        preferences=prefs,
    )
