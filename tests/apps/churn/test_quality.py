"""Model quality on the Telco data with the default tuning budget (slow: ~1 minute)."""

from __future__ import annotations

import pytest

from foresight.platform.runtime import Platform
from foresight.platform.training import no_progress
from tests.conftest import make_settings


@pytest.mark.slow
def test_telco_cross_validated_auc_reaches_target(tmp_path) -> None:
    platform = Platform.create(make_settings(tmp_path, tuning_seconds=40.0, tuning_trials=60))
    app = platform.app("churn")
    app.load_demo(platform, no_progress)
    spec = app.model("churn")
    outcome = spec.train(platform, no_progress)
    m = outcome.version.metrics
    assert outcome.version.algorithm == "lightgbm"
    assert m["cv_roc_auc"] >= 0.848, m
    assert m["cv_roc_auc_lightgbm"] > m["cv_roc_auc_logistic"]
    # Held-out metrics come from rows no step of training saw.
    assert m["holdout_rows"] == 1409 and m["roc_auc"] > 0.83 and m["brier"] < 0.15
    platform.close()
