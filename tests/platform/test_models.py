"""Every tabular model passes the same checks: additive explanations, registry round trip,
deterministic predictions, calibrated-looking probabilities."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from foresight.platform.artifacts import LocalArtifactStore
from foresight.platform.errors import ArtifactCorrupted
from foresight.platform.tabular import training as tt
from foresight.platform.tabular.models import fit_rule_model
from foresight.platform.tabular.signature import Signature
from tests.conftest import make_customers


@pytest.fixture(scope="module")
def data():
    df = make_customers(800, seed=1)
    y = (df.pop("left") == "yes").to_numpy(dtype=np.int64)
    df = df.drop(columns=["account"])
    sig = Signature.infer(df)
    matrix, errors = sig.encode_frame(df)
    assert not errors
    return sig, matrix, y


def fitted_models(sig, matrix, y):
    splits = tt.folds(y, seed=0)
    tuned = tt.tune_lightgbm(sig, matrix, y, splits, seconds=5, max_trials=2, seed=0)
    yield tt.fit_lightgbm(sig, matrix, y, tuned, seed=0)
    yield tt.fit_logistic(sig, matrix, y, c=1.0)
    yield fit_rule_model(sig, matrix, y)


def test_check_model_contract(data, tmp_path: Path) -> None:
    sig, matrix, y = data
    store = LocalArtifactStore(tmp_path)
    for model in fitted_models(sig, matrix, y):
        p = model.predict_proba(matrix)
        assert p.shape == (len(y),) and ((p > 0) & (p < 1)).all(), model.algorithm
        expl = model.explain(matrix[:50])
        logit = np.log(p[:50] / (1 - p[:50]))
        # Exact additivity in log-odds, and probability contributions sum to p - base.
        np.testing.assert_allclose(expl.base_log_odds + expl.log_odds.sum(1), logit, atol=1e-6)
        base_p = 1 / (1 + np.exp(-expl.base_log_odds))
        np.testing.assert_allclose(
            expl.probability_contributions().sum(1), p[:50] - base_p, atol=1e-6
        )
        one = model.explain_one(matrix[7])  # the single-request path agrees with the batch one
        assert abs(one.probability - p[7]) < 1e-12
        np.testing.assert_allclose(one.log_odds, expl.log_odds[7], atol=1e-12)
        np.testing.assert_allclose(
            one.probability_contributions(), expl.probability_contributions()[7], atol=1e-12
        )
        sha = store.save(f"{model.algorithm}.pkl", model)
        again = store.load(f"{model.algorithm}.pkl", sha)
        np.testing.assert_array_equal(again.predict_proba(matrix), p)  # deterministic
        pickle.loads(pickle.dumps(model))


def test_models_learn_the_known_mechanism(data) -> None:
    sig, matrix, y = data
    split = tt.holdout_split(y, seed=0)
    for model in fitted_models(sig, matrix[split.train], y[split.train]):
        metrics = tt.evaluate(model, matrix[split.holdout], y[split.holdout])
        floor = 0.6 if model.algorithm == "rule_baseline" else 0.7
        assert metrics["roc_auc"] > floor, (model.algorithm, metrics)


def test_corrupted_artifact_is_detected(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path)
    sha = store.save("m.pkl", {"a": 1})
    (tmp_path / "m.pkl").write_bytes(b"garbage")
    with pytest.raises(ArtifactCorrupted):
        store.load("m.pkl", sha)
    with pytest.raises(ArtifactCorrupted):
        store.load("missing.pkl", sha)


def test_fast_single_row_path_matches_booster_predict(data) -> None:
    sig, matrix, y = data
    splits = tt.folds(y, seed=0)
    tuned = tt.tune_lightgbm(sig, matrix, y, splits, seconds=5, max_trials=1, seed=0)
    model = tt.fit_lightgbm(sig, matrix, y, tuned, seed=0)
    rows = matrix[:20].copy()
    rows[3, 0] = np.nan  # missing values take the same path
    for row in rows:
        one = row.reshape(1, -1)
        np.testing.assert_allclose(
            model.raw(one), model.booster.predict(one, raw_score=True), rtol=1e-12
        )
        np.testing.assert_allclose(
            model.explain(one).log_odds[0],
            model.calib_a * model.booster.predict(one, pred_contrib=True)[0, :-1],
            rtol=1e-9,
            atol=1e-12,
        )
    again = pickle.loads(pickle.dumps(model))  # native handles are rebuilt, not pickled
    np.testing.assert_allclose(again.predict_proba(rows[:1]), model.predict_proba(rows[:1]))


def test_compiled_trees_match_the_booster_on_batches(data, monkeypatch) -> None:
    from foresight.platform.tabular import compiled as compiled_mod
    from foresight.platform.tabular.models import BATCH_ROWS

    sig, matrix, y = data
    splits = tt.folds(y, seed=0)
    tuned = tt.tune_lightgbm(sig, matrix, y, splits, seconds=5, max_trials=1, seed=0)
    model = tt.fit_lightgbm(sig, matrix, y, tuned, seed=0)
    assert model.compiled is not None, "gcc + tl2cgen should compile the trees here"
    big = np.repeat(matrix, BATCH_ROWS // len(matrix) + 1, axis=0)
    big[::5, 1] = np.nan  # missing values follow LightGBM's default directions
    expected = model.booster.predict(big, raw_score=True)
    np.testing.assert_allclose(model.raw(big), expected, rtol=1e-12, atol=1e-12)
    again = pickle.loads(pickle.dumps(model))  # the library travels inside the artifact
    np.testing.assert_allclose(again.raw(big), expected, rtol=1e-12, atol=1e-12)

    # Without a toolchain the build is skipped and batches use the booster.
    monkeypatch.setattr(
        compiled_mod.tempfile,
        "TemporaryDirectory",
        lambda **kw: (_ for _ in ()).throw(OSError("no compiler")),
    )
    plain = tt.fit_lightgbm(sig, matrix, y, tuned, seed=0)
    assert plain.compiled is None
    np.testing.assert_allclose(plain.raw(big), expected, rtol=1e-12)
