"""Closed periods in the engine: exact zeros, closed steps left out of weights and
intervals, and nothing changed when no period is closed."""

from __future__ import annotations

import doctest
import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from foresight.platform.errors import InvalidInput
from foresight.platform.forecasting import closed, ensemble
from foresight.platform.forecasting.engine import ForecastConfig, ForecastResult, forecast
from foresight.platform.forecasting.gbm import GlobalGBM, Panel
from foresight.platform.forecasting.series import validate

REFERENCE = Path(__file__).with_name("closed_none_reference.npz")
REFERENCE_GROUPS = {"s0": "a", "s1": "a", "s2": "b", "s3": "b"}
START = pd.Timestamp("2024-03-04")  # a Monday; the panel runs 21 days, to 2024-03-24
CLOSED_DAYS = np.array(["2024-03-13", "2024-03-24"], dtype="datetime64[D]")
HORIZON = 48  # the last two days are held out; the second is a closed day


# ---- data ----------------------------------------------------------------------------------
def reference_panel() -> pd.DataFrame:
    """Four daily series, weekly season and a trend: the panel of the reference output."""
    rng = np.random.default_rng(7)
    ds = pd.date_range("2024-01-01", periods=84, freq="D")
    t = np.arange(84)
    frames = []
    for i in range(4):
        y = 20 + 3 * i + 0.05 * t + 4 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 1, 84)
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": np.maximum(y, 0)}))
    return pd.concat(frames, ignore_index=True)


def reference_run(**kwargs: object) -> ForecastResult:
    config = ForecastConfig(horizon=7, n_jobs=1, seed=0)
    return forecast(validate(reference_panel()), config, groups=REFERENCE_GROUPS, **kwargs)


def outputs(result: ForecastResult) -> dict[str, np.ndarray]:
    """Everything a caller reads from a result, as arrays to compare bit for bit."""
    out = {"point": result.point, "scale": result.scale}
    out |= {f"member_{k}": v for k, v in result.members.items()}
    for level in (80.0, 95.0):
        out[f"lo_{level:g}"], out[f"hi_{level:g}"] = result.bounds(level)
    out["sum_bounds"] = np.array([result.sum_bounds(i, 5, 80.0) for i in range(4)])
    table = result.backtest
    out["backtest"] = table[["window", "smape", "mase", "mae", "rmse", "mape"]].to_numpy(float)
    out["backtest_keys"] = (table["unique_id"] + "/" + table["model"]).to_numpy(str)
    out["weights"] = np.array(json.dumps(result.weights, sort_keys=True))
    return out


def is_closed(ds: np.ndarray) -> np.ndarray:
    """Closed 23:00–11:00 every day, and all day on CLOSED_DAYS."""
    hour = pd.DatetimeIndex(ds).hour.to_numpy()
    day = np.asarray(ds, dtype="datetime64[D]")
    return (hour < 11) | (hour >= 23) | np.isin(day, CLOSED_DAYS)


def hourly_panel(n_series: int = 6, days: int = 21, seed: int = 1) -> pd.DataFrame:
    """Poisson demand peaking at lunch and dinner, busier Friday to Sunday; 0 when closed."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(START, periods=24 * days, freq="h")
    hour, dow = ds.hour.to_numpy(), ds.dayofweek.to_numpy()
    shape = np.exp(-((hour - 13) ** 2) / 4) + 1.3 * np.exp(-((hour - 19) ** 2) / 3) + 0.2
    rate = shape * np.where(dow >= 4, 1.4, 1.0)
    shut = is_closed(ds.to_numpy())
    frames = []
    for i in range(n_series):
        y = np.where(shut, 0, rng.poisson((5 + 4 * i) * rate))
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    return pd.concat(frames, ignore_index=True).astype({"y": float})


@pytest.fixture(scope="module")
def hourly() -> tuple[pd.DataFrame, pd.DataFrame, ForecastResult]:
    data = hourly_panel()
    cut = data["ds"].max() - pd.Timedelta(hours=HORIZON)
    train, test = data[data["ds"] <= cut], data[data["ds"] > cut]
    config = ForecastConfig(
        horizon=HORIZON, n_windows=2, step=24, members=("ces", "lightgbm"), n_jobs=1
    )
    return train, test, forecast(validate(train), config, closed=is_closed)


# ---- tests ---------------------------------------------------------------------------------
def test_closed_steps_are_exact_zeros_in_point_members_and_bounds(hourly) -> None:
    _, _, result = hourly
    shut = is_closed(result.future.ravel()).reshape(result.future.shape)
    np.testing.assert_array_equal(result.closed, shut)
    assert shut[:, :24].sum() == 6 * 12 and shut[:, 24:].all()  # nights, then a closed day
    lo, hi = result.bounds(95)
    for values in (result.point, lo, hi, *result.members.values()):
        assert (values[shut] == 0).all()
    assert (result.point[~shut] > 0).all() and (hi[~shut] > result.point[~shut]).all()
    frame = result.frame(levels=(80,))
    assert (frame.loc[shut.ravel(), ["y_hat", "y_hat_lo_80", "y_hat_hi_80"]] == 0).all().all()
    assert result.sum_bounds(0, HORIZON, 80)[0] == pytest.approx(result.point[0].sum())


def test_intervals_cover_held_out_open_steps(hourly) -> None:
    _, test, result = hourly
    out = result.frame(levels=(50, 80, 95)).merge(test, on=["unique_id", "ds"])
    open_steps = ~is_closed(out["ds"].to_numpy())
    assert open_steps.sum() == 6 * 12

    def coverage(level: int) -> float:
        inside = (out["y"] >= out[f"y_hat_lo_{level}"]) & (out["y"] <= out[f"y_hat_hi_{level}"])
        return float(inside[open_steps].mean())

    assert 0.3 <= coverage(50) <= 0.8
    assert 0.65 <= coverage(80) <= 0.97
    assert coverage(95) >= max(coverage(80), 0.8)


def test_backtest_scores_open_steps_only(hourly) -> None:
    train, _, result = hourly
    naive = result.backtest[result.backtest["model"] == "seasonal_naive"]
    assert len(naive) == 6 * 2
    for row in naive.itertuples():
        series = train[train["unique_id"] == row.unique_id]
        y, ds = series["y"].to_numpy(), series["ds"].to_numpy()
        cut = len(y) - HORIZON - 24 * (1 - row.window)  # windows end 24 h apart
        guess = np.resize(y[cut - 24 : cut], HORIZON)
        open_steps = ~is_closed(ds[cut : cut + HORIZON])
        expected = np.abs(y[cut : cut + HORIZON] - guess)[open_steps].mean()
        assert row.mae == pytest.approx(expected)


def test_a_backtest_window_closed_throughout_is_left_out() -> None:
    # Daily series closed on Sundays, one-day horizon: the Sunday cut-off scores nothing.
    ds = pd.date_range("2024-01-01", periods=63, freq="D")  # Monday to Sunday, 9 weeks
    sunday = ds.dayofweek.to_numpy() == 6
    y = np.where(sunday, 0.0, 20 + 5 * np.sin(np.arange(63)))
    data = pd.DataFrame({"unique_id": "a", "ds": ds, "y": y})
    config = ForecastConfig(horizon=1, n_windows=7, step=1, members=("theta",), n_jobs=1)
    result = forecast(
        validate(data), config, closed=lambda d: pd.DatetimeIndex(d).dayofweek.to_numpy() == 6
    )
    assert sorted(result.backtest["window"].unique()) == [0, 1, 2, 3, 4, 5]  # 6, a Sunday: out
    assert result.point[0, 0] > 0  # the next day is a Monday
    assert np.isfinite(result.bounds(80)[1]).all()


def test_closed_steps_are_left_out_of_the_weights() -> None:
    # "night" is perfect when open and wild when closed; "day" is mediocre throughout.
    rng = np.random.default_rng(0)
    actual = rng.normal(100, 10, (20, 6))
    shut = np.zeros((20, 6), dtype=bool)
    shut[:, 3:] = True
    night = np.where(shut, actual + 500, actual)
    day = actual + rng.normal(0, 5, actual.shape)
    base = actual + rng.normal(0, 20, actual.shape)

    def records(open_steps: np.ndarray | None) -> ensemble.Records:
        preds = np.stack([night, day], axis=1)
        scale, group = np.full(20, 10.0), np.array(["all"] * 20)
        return ensemble.Records(("night", "day"), preds, actual, scale, group, base, open_steps)

    assert ensemble.choose(records(None))[0] == {"day": 1.0}
    assert ensemble.choose(records(~shut))[0] == {"night": 1.0}


def test_conformal_quantile_skips_closed_steps() -> None:
    scores = np.array([[1.0, np.nan, 3.0], [2.0, np.nan, 1.0], [3.0, np.nan, 2.0]])
    q = ensemble.conformal_quantile(scores, 50)
    # ceil(4 * 0.5) / 3 of each open column; the closed step keeps the width before it.
    assert q.tolist() == [np.quantile([1, 2, 3], 2 / 3)] * 3
    first_closed = ensemble.conformal_quantile(scores[:, ::-1], 99)
    assert first_closed.tolist() == [3.0, 3.0, 3.0]


def test_the_global_model_forecasts_zero_when_closed_and_demand_when_open() -> None:
    data = hourly_panel(n_series=3, days=14)
    wide = data.pivot(index="unique_id", columns="ds", values="y")
    dates = pd.date_range(wide.columns[0], periods=wide.shape[1] + 24, freq="h").to_numpy()
    shut = np.tile(is_closed(dates), (3, 1))
    panel = Panel(wide.to_numpy(), np.tile(dates, (3, 1)), None, "h", closed=shut)
    out = GlobalGBM(24, n_jobs=1).forecast(panel, 24)
    future_shut = shut[:, -24:]
    assert (out[future_shut] == 0).all()
    last_day = wide.to_numpy()[:, -24:]
    open_mean, predicted = last_day[~future_shut].mean(), out[~future_shut].mean()
    assert 0.5 * open_mean < predicted < 1.5 * open_mean


def test_doctest_example_runs() -> None:
    assert doctest.testmod(closed).failed == 0


def test_nothing_closed_changes_nothing() -> None:
    reference = np.load(REFERENCE)
    plain = reference_run()
    never = reference_run(closed=lambda ds: np.zeros(len(ds), dtype=bool))
    assert plain.closed is None and not never.closed.any()
    # Bit for bit against the same run on this machine; against the stored reference (made
    # before closed periods existed) to rounding, since BLAS kernels differ between CPUs.
    unmasked = outputs(plain)
    for key, values in outputs(never).items():
        np.testing.assert_array_equal(values, unmasked[key], err_msg=key)
        if values.dtype.kind == "f":
            np.testing.assert_allclose(values, reference[key], rtol=1e-9, atol=1e-12, err_msg=key)
        else:
            np.testing.assert_array_equal(values, reference[key], err_msg=key)


def test_results_pickle_with_and_without_the_closed_mask(hourly) -> None:
    _, _, result = hourly
    again = pickle.loads(pickle.dumps(result))
    np.testing.assert_array_equal(again.closed, result.closed)
    # A result pickled before `closed` existed has no such attribute in its state.
    state = dict(result.__dict__)
    del state["closed"]
    old = object.__new__(ForecastResult)
    old.__dict__.update(state)
    loaded = pickle.loads(pickle.dumps(old))
    assert loaded.closed is None
    assert loaded.bounds(80)[1].shape == result.point.shape


def test_closed_periods_need_dates_and_one_boolean_per_stamp() -> None:
    data = pd.DataFrame({"unique_id": "a", "ds": range(30), "y": np.arange(30.0)})
    config = ForecastConfig(horizon=3, n_windows=0, members=("theta",), n_jobs=1)
    with pytest.raises(InvalidInput, match="dated series"):
        forecast(validate(data, season_length=4), config, closed=is_closed)
    dated = data.assign(ds=pd.date_range("2024-01-01", periods=30, freq="D"))
    with pytest.raises(ValueError, match="one boolean per stamp"):
        forecast(validate(dated), config, closed=lambda ds: np.zeros(3, dtype=bool))


def test_days_closed_out_of_turn_do_not_drag_the_statistical_members() -> None:
    # Ten weeks of daily demand (busier Friday to Sunday) whose last three Mondays were
    # dark: as zeros, they pull Theta's and AutoETS's next Monday to ~0.6 of normal.
    rng = np.random.default_rng(0)
    ds = pd.date_range("2024-01-01", periods=70, freq="D")  # Monday to Sunday
    dark = ds[[49, 56, 63]].to_numpy()
    frames = []
    for i in range(3):
        y = (100 + 40 * i) * np.where(ds.dayofweek >= 4, 1.3, 1.0) + rng.normal(0, 3, 70)
        y[np.isin(ds.to_numpy(), dark)] = 0.0
        frames.append(pd.DataFrame({"unique_id": f"s{i}", "ds": ds, "y": y}))
    config = ForecastConfig(horizon=7, n_windows=0, members=("theta", "auto_ets"), n_jobs=1)
    result = forecast(
        validate(pd.concat(frames), freq="D"),
        config,
        closed=lambda stamps: np.isin(np.asarray(stamps, dtype="datetime64[ns]"), dark),
    )
    normal = 100 + 40 * np.arange(3)
    for name in ("theta", "auto_ets"):
        monday = result.members[name][:, 0]  # the next Monday is open
        np.testing.assert_allclose(monday / normal, 1.0, atol=0.06, err_msg=name)


if __name__ == "__main__":
    # Regenerate the reference only for a change that is meant to alter forecasts.
    np.savez(REFERENCE, **outputs(reference_run()))
