"""The restaurant's model names, the demand artifact, and the rule and default links of
the demand fallback chain (both computed from the mirror on request, so they need no
artifact and answer before any model is trained)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.forecasting.engine import ForecastResult
from foresight.platform.registry import ModelVersion

DEMAND = "restaurant_demand"
SEASON_HOURLY = 168  # a week of hours: Friday evening is not Tuesday evening
SEASON_DAILY = 7


@dataclass
class DemandModel:
    """A trained demand version: hourly and daily forecasts materialised at training,
    sliced by requests, with what top-down item answers need."""

    hourly: ForecastResult
    daily: ForecastResult
    hourly_until: pd.Timestamp  # last slot of the training data (local, naive)
    daily_until: pd.Timestamp
    items: dict[str, dict[str, str]]
    hour_profile: dict[str, list[float]]
    opening_hours: str

    def result(self, granularity: str) -> ForecastResult:
        return self.hourly if granularity == "hour" else self.daily

    def until(self, granularity: str) -> pd.Timestamp:
        return self.hourly_until if granularity == "hour" else self.daily_until


@dataclass(frozen=True)
class SeasonalNaiveRule:
    """Rule baseline: the same slot one season earlier, from the latest mirrored data."""

    season_hourly: int = SEASON_HOURLY
    season_daily: int = SEASON_DAILY

    method = "seasonal_naive"

    def season(self, granularity: str) -> int:
        return self.season_hourly if granularity == "hour" else self.season_daily


@dataclass(frozen=True)
class WeeklyMeanDefault:
    """Default: the mean of the same slot of the week over the last ``weeks`` weeks; zeros
    when there is no data at all. No interval beyond the spread of those weeks."""

    weeks: int = 4

    method = "default"

    def season(self, granularity: str) -> int:
        return SEASON_HOURLY if granularity == "hour" else SEASON_DAILY


def demand_rule(mv: ModelVersion) -> SeasonalNaiveRule:
    fb = mv.fallback or {}
    return SeasonalNaiveRule(
        int(fb.get("season_hourly", SEASON_HOURLY)), int(fb.get("season_daily", SEASON_DAILY))
    )


def demand_default() -> WeeklyMeanDefault:
    return WeeklyMeanDefault()


def weekly_mean_path(
    history: np.ndarray, horizon: int, season: int, weeks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean (and min/max as a rough band) of the same slot over the last ``weeks``
    seasons, repeated over the horizon; zeros for an empty history."""
    if len(history) == 0:
        zero = np.zeros(horizon)
        return zero, zero, zero
    usable = min(weeks, max(1, len(history) // season))
    tail = history[-usable * season :] if len(history) >= season else np.resize(history, season)
    block = (
        tail[-usable * season :].reshape(usable, -1)
        if len(tail) >= usable * season
        else tail.reshape(1, -1)
    )
    mean, lo, hi = block.mean(axis=0), block.min(axis=0), block.max(axis=0)
    reps = int(np.ceil(horizon / block.shape[1]))
    return (np.tile(mean, reps)[:horizon], np.tile(lo, reps)[:horizon], np.tile(hi, reps)[:horizon])


def describe_fallback() -> dict[str, Any]:
    return {"kind": "seasonal_naive", "season_hourly": SEASON_HOURLY, "season_daily": SEASON_DAILY}
