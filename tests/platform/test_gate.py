"""The promotion gate: a candidate worse than production is promoted only inside the
spec's tolerance, and its recorded reason says so (the README states each tolerance)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from foresight.apps.churn.model import ChurnTrainingSpec
from foresight.apps.sales.model import SalesTrainingSpec
from foresight.platform.runtime import Platform
from foresight.platform.training import TrainingContext
from tests.example_app.model import TipsTrainingSpec

README = Path(__file__).resolve().parents[2] / "README.md"


class FixedScore(TipsTrainingSpec):
    """Tips trained for real, with the holdout metric (MAE) set by the test."""

    def __init__(self, mae: float, tolerance: float) -> None:
        rng = np.random.default_rng(0)
        bill = rng.uniform(10, 50, 60)
        frame = pd.DataFrame(
            {"bill": bill, "party_size": rng.integers(1, 6, 60), "tip": 0.15 * bill}
        )
        super().__init__(lambda: frame)
        self.mae, self.gate_tolerance = mae, tolerance

    def evaluate(self, fitted: Any, dataset: Any, ctx: TrainingContext) -> dict[str, float]:
        return {"mae": self.mae}

    def score(self, model: Any, dataset: Any) -> float:
        return 1.0  # production's holdout MAE


def _run(platform: Platform, mae: float, tolerance: float) -> Any:
    ctx = TrainingContext(seed=0, tuning_seconds=1, tuning_trials=1)
    return platform.pipeline.run(FixedScore(mae, tolerance), ctx)


def test_a_slightly_worse_candidate_is_promoted_only_inside_the_tolerance(
    platform: Platform,
) -> None:
    assert _run(platform, 1.0, 0.0).promoted  # the first version: nothing to compare
    inside = _run(platform, 1.0006, 0.001)
    assert inside.promoted and "within the gate tolerance" in inside.gate.reason
    outside = _run(platform, 1.0006, 0.0)
    assert not outside.promoted and "worse than production" in outside.gate.reason
    better = _run(platform, 0.9, 0.0)
    assert better.promoted and "not worse than" in better.gate.reason


def test_the_readme_states_each_built_in_gate_tolerance() -> None:
    text = README.read_text()
    for spec, metric in ((ChurnTrainingSpec, "ROC-AUC"), (SalesTrainingSpec, "MASE")):
        stated = re.search(rf"(\d\.\d+) {metric}", text)
        assert stated, f"README does not state the {metric} gate tolerance"
        assert any(
            float(m) == spec.gate_tolerance for m in re.findall(rf"(\d\.\d+) {metric}", text)
        ), f"README's {metric} tolerance differs from the code's {spec.gate_tolerance}"
