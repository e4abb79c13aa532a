"""Stream windows: counts, lateness and supply carried forward; and the property the
consumer's exactly-once state rests on: any cut into batches, with the state stored and
restored between them (a commit, a crash and a replay), closes the same windows."""

from __future__ import annotations

import itertools
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foresight.apps.pricing.windows import Event, PartitionWindows, Window
from foresight.platform.errors import InvalidInput

MIN = 60_000


def run(
    events: list[Event], state: PartitionWindows | None = None
) -> tuple[list[Window], PartitionWindows]:
    state = state or PartitionWindows(lateness_ms=MIN)
    closed: list[Window] = []
    for e in events:
        closed += state.apply(e)
    return closed, state


def test_counts_close_when_the_watermark_passes_and_late_ones_are_counted() -> None:
    t0 = 10 * MIN
    events = [
        Event(t0 + 1_000, "north", "search"),
        Event(t0 + 2_000, "north", "booking"),
        Event(t0 + 3_000, "north", "supply_update", (1, 0), available=40, busy=10),
        Event(t0 + 5_000, "south", "search"),
        Event(t0 + MIN + 1_000, "north", "search"),  # watermark t0+1s: nothing closes yet
        Event(t0 + 30_000, "north", "cancel"),  # late but within the lateness: accepted
        Event(t0 + 2 * MIN + 1_000, "north", "search"),  # watermark t0+61s: 10:00 closes
        Event(t0 + 10_000, "north", "search"),  # its window has closed: dropped
        Event(t0 + 3 * MIN + 1_000, "north", "search"),  # 10:01 closes
    ]
    closed, state = run(events)
    ones = [w for w in closed if w.size == MIN]
    first = {w.region: w for w in ones if w.start == t0}
    assert (first["north"].searches, first["north"].bookings, first["north"].cancels) == (1, 1, 1)
    assert first["north"].supply[3:] == (40, 10) and first["south"].searches == 1
    second = next(w for w in ones if w.region == "north" and w.start == t0 + MIN)
    assert second.searches == 1 and second.supply[3:] == (40, 10)  # supply carried forward
    assert state.late_accepted == {"north": 1} and state.late_dropped == {"north": 1}
    assert [w.end for w in closed] == sorted(w.end for w in closed)
    assert all(w.size == 5 * MIN for w in closed if w.size != MIN)


def test_a_clock_running_ahead_cannot_close_other_regions_windows() -> None:
    now = 30 * MIN
    state = PartitionWindows(lateness_ms=MIN)
    # Stamped 4 minutes ahead, but stored now: the watermark follows its arrival.
    state.apply(Event(now + 4 * MIN, "fast-clock", "search", recorded=now))
    on_time = [Event(now - 20_000 + k, "other", "search", recorded=now) for k in range(10)]
    closed, state = run(on_time, state)
    assert state.late_dropped == {} and closed == []


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown event kind 'refund'"):
        PartitionWindows().apply(Event(0, "r", "refund"))


events_strategy = st.lists(
    st.builds(
        Event,
        t=st.integers(0, 20 * MIN),
        region=st.sampled_from(["a", "b", "c"]),
        kind=st.sampled_from(["search", "booking", "cancel", "supply_update"]),
        position=st.tuples(st.integers(0, 5), st.integers(0, 3)),
        available=st.integers(0, 50),
        busy=st.integers(0, 50),
    ),
    max_size=80,
)


@settings(max_examples=150, deadline=None)
@given(events=events_strategy, cuts=st.lists(st.integers(0, 80), max_size=6), replay=st.booleans())
def test_any_batching_with_commits_and_replays_closes_the_same_windows(
    events: list[Event], cuts: list[int], replay: bool
) -> None:
    whole, final = run(events)
    closed: list[Window] = []
    committed = PartitionWindows(lateness_ms=MIN).snapshot()
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        if replay:  # a crash before the commit: the batch is applied, lost, applied again
            run(events[lo:hi], PartitionWindows.restore(json.loads(json.dumps(committed))))
        state = PartitionWindows.restore(json.loads(json.dumps(committed)))
        got, state = run(events[lo:hi], state)
        closed += got
        committed = state.snapshot()
    assert [w.to_list() for w in closed] == [w.to_list() for w in whole]
    assert committed == final.snapshot()
