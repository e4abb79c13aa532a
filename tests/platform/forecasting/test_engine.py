"""The engine on simulated series with known structure: accuracy against the naive
baseline, interval coverage, weight choice, fallbacks and exogenous regressors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from foresight.platform.errors import InvalidInput
from foresight.platform.forecasting import ensemble, metrics
from foresight.platform.forecasting.engine import ForecastConfig, forecast
from foresight.platform.forecasting.series import validate


def simulate(n_series: int = 24, length: int = 96, seed: int = 0) -> pd.DataFrame:
    """Monthly-like series: level + trend + season of 12 + Gaussian noise (sd 1)."""
    rng = np.random.default_rng(seed)
    frames = []
    t = np.arange(length)
    for i in range(n_series):
        level, slope, amp = rng.uniform(50, 150), rng.uniform(-0.2, 0.4), rng.uniform(3, 10)
        y = level + slope * t + amp * np.sin(2 * np.pi * t / 12) + rng.normal(0, 1, length)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": t, "y": y}))
    return pd.concat(frames, ignore_index=True)


def split(data: pd.DataFrame, h: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    last = data.groupby("unique_id")["ds"].transform("max")
    return data[data["ds"] <= last - h], data[data["ds"] > last - h]


def test_ensemble_beats_seasonal_naive_out_of_sample_and_intervals_cover() -> None:
    train, test = split(simulate(), 12)
    result = forecast(
        validate(train, season_length=12), ForecastConfig(horizon=12, n_jobs=2, seed=1)
    )
    out = result.frame(levels=(80, 95)).merge(test, on=["unique_id", "ds"])
    assert len(out) == 24 * 12
    naive = result.members["seasonal_naive"].ravel()
    actual = test.sort_values(["unique_id", "ds"])["y"].to_numpy()
    assert metrics.mae(actual, result.point.ravel()) < 0.8 * metrics.mae(actual, naive)
    inside80 = ((out["y"] >= out["y_hat_lo_80"]) & (out["y"] <= out["y_hat_hi_80"])).mean()
    inside95 = ((out["y"] >= out["y_hat_lo_95"]) & (out["y"] <= out["y_hat_hi_95"])).mean()
    assert 0.65 <= inside80 <= 0.97 and inside95 >= 0.85 and inside95 >= inside80
    summary = result.summary()
    assert set(summary["model"]) >= {"ensemble", "auto_ets", "theta", "ces", "lightgbm"}
    assert abs(sum(result.weights["all"].values()) - 1) < 1e-9


def test_choose_prefers_the_accurate_member() -> None:
    rng = np.random.default_rng(0)
    actual = rng.normal(100, 10, (40, 6))
    good = actual + rng.normal(0, 1, actual.shape)
    bad = actual + rng.normal(0, 30, actual.shape)
    records = ensemble.Records(
        ("good", "bad"),
        np.stack([good, bad], axis=1),
        actual,
        np.full(40, 10.0),
        np.array(["all"] * 40),
        actual + rng.normal(0, 15, actual.shape),
    )
    weights, table = ensemble.choose(records)
    assert weights == {"good": 1.0}
    assert table[0]["members"] == ["good"]


def test_conformal_quantile_uses_the_finite_sample_correction() -> None:
    scores = np.arange(1, 10, dtype=float)[:, None]  # 9 scores: 1..9
    # ceil((9 + 1) * 0.8) / 9 = 8/9 -> the 8th of 9 values
    assert ensemble.conformal_quantile(scores, 80)[0] == pytest.approx(np.quantile(scores, 8 / 9))
    assert ensemble.conformal_quantile(scores, 99)[0] == 9.0


def test_short_series_fall_back_and_say_so() -> None:
    data = pd.concat(
        [
            simulate(3, 60),
            pd.DataFrame({"unique_id": "tiny", "ds": range(5), "y": [3.0, 4, 5, 6, 7]}),
        ]
    )
    result = forecast(validate(data, season_length=12), ForecastConfig(horizon=6, n_jobs=1))
    assert "tiny" in result.notes and "last value" in result.notes["tiny"]
    assert result.point[result.index("tiny")] == pytest.approx([7.0] * 6)


def test_exogenous_regressor_with_future_values_is_used() -> None:
    rng = np.random.default_rng(3)
    days = pd.date_range("2024-01-01", periods=200, freq="D")
    frames, future = [], []
    for i in range(12):
        promo = (rng.random(230) < 0.2).astype(float)
        y = 20 + 15 * promo + rng.normal(0, 1, 230)
        frames.append(
            pd.DataFrame({"unique_id": f"p{i}", "ds": days, "y": y[:200], "promo": promo[:200]})
        )
        future.append(pd.DataFrame({"unique_id": f"p{i}", "promo": promo[200:], "y": y[200:]}))
    fut = pd.concat(future, ignore_index=True)
    config = ForecastConfig(horizon=30, members=("lightgbm",), n_windows=1, n_jobs=1)
    result = forecast(validate(pd.concat(frames), freq="D"), config, future=fut)
    actual = np.concatenate([fut.loc[fut["unique_id"] == u, "y"].to_numpy() for u in result.uids])
    error = np.abs(result.point.ravel() - actual).mean()
    assert error < 2.0  # promo days (+15) are predicted; ignoring promo would err by ~5
    assert not result.notes


def test_bad_configuration_is_a_clear_error() -> None:
    series = validate(simulate(2, 40), season_length=12)
    with pytest.raises(InvalidInput, match="unknown model"):
        forecast(series, ForecastConfig(horizon=3, members=("arima",)))
    with pytest.raises(InvalidInput, match="between 0 and 100"):
        forecast(series, ForecastConfig(horizon=3, levels=(150,)))
    with pytest.raises(InvalidInput, match="horizon must be at least 1"):
        forecast(series, ForecastConfig(horizon=0))
    dated = validate(
        pd.DataFrame({"unique_id": "a", "ds": pd.date_range("2024-01-01", periods=60), "y": 1.0}),
        freq="D",
    )
    with pytest.raises(InvalidInput, match="unknown holiday country"):
        forecast(dated, ForecastConfig(horizon=3, members=("lightgbm",), country="XX", n_jobs=1))
