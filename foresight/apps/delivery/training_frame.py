"""The training table: one row per delivery attempt, its window's inputs computed with
only the attempts before the window's start (as serving would have seen them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import pandas as pd

from foresight.apps.delivery.features import describe
from foresight.apps.delivery.history import History, HistoryParams
from foresight.apps.delivery.inputs import MODEL_FEATURES, NO_CALENDAR, Calendar, Profile, matrix
from foresight.apps.delivery.model import TARGET, TIME_COLUMN
from foresight.apps.delivery.weather import Climatology


class Attempts(Protocol):
    """One customer's attempts, oldest first; times are UTC epoch seconds."""

    @property
    def at(self) -> np.ndarray: ...
    @property
    def window_start(self) -> np.ndarray: ...
    @property
    def window_end(self) -> np.ndarray: ...
    @property
    def delivered(self) -> np.ndarray: ...


def training_frame(
    profiles: Mapping[str, Profile],
    attempts: Mapping[str, Attempts],
    *,
    params: HistoryParams,
    climate: Climatology,
    calendars: Mapping[str, Calendar] | None = None,
) -> pd.DataFrame:
    """:data:`MODEL_FEATURES`, ``delivered`` (0/1), ``window_start`` (UTC) and
    ``customer_id`` for every attempt of a customer in ``profiles``, sorted by window start.

    A window's history is every attempt of its customer made before the window starts,
    its own excluded (it is made inside the window), so no row sees its outcome.
    """
    calendars = calendars or {}
    parts: list[np.ndarray] = []
    ids: list[np.ndarray] = []
    for customer_id, rows in attempts.items():
        profile = profiles.get(customer_id)
        if profile is None or not len(rows.at):
            continue
        history = History.from_times(
            np.asarray(rows.at, np.int64), np.asarray(rows.delivered, bool), profile.tz
        )
        w = describe(rows.window_start, rows.window_end, profile.tz)
        x = matrix(
            profile,
            history,
            calendars.get(customer_id, NO_CALENDAR),
            w,
            params=params,
            climate=climate,
        )
        y = np.asarray(rows.delivered, np.float64)[:, None]
        start = np.asarray(rows.window_start, np.float64)[:, None]
        parts.append(np.hstack([x, y, start]))
        ids.append(np.full(len(w), customer_id, dtype=object))
    columns = [*MODEL_FEATURES, TARGET, TIME_COLUMN]
    if not parts:
        frame = pd.DataFrame(columns=columns)
        frame["customer_id"] = pd.Series(dtype=object)
        return frame
    frame = pd.DataFrame(np.vstack(parts), columns=columns)
    frame[TARGET] = frame[TARGET].astype(np.int64)
    frame[TIME_COLUMN] = pd.to_datetime(frame[TIME_COLUMN].astype(np.int64), unit="s", utc=True)
    frame["customer_id"] = np.concatenate(ids)
    return frame.sort_values(TIME_COLUMN, kind="stable").reset_index(drop=True)
