"""Model monitoring through public interfaces: drift of recent inputs against the stored
training reference, accuracy from outcomes posted back, the gauges, the drift.detected
webhook and retraining on drift (opt-in)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from foresight.api.app import create_app
from foresight.apps.churn import ChurnApp
from foresight.apps.churn.schemas import ChurnSettings
from foresight.apps.churn.service import ChurnService
from foresight.apps.sales import SalesApp
from foresight.platform.apps import load_apps
from foresight.platform.monitor import accuracy
from foresight.platform.runtime import Platform
from tests.conftest import make_customers, make_keys, make_settings


@pytest.fixture
def churn(tmp_path: Path) -> Iterator[tuple[Platform, TestClient, dict]]:
    apps = [
        ChurnApp(ChurnSettings(retrain_on_drift=True)),
        SalesApp(),
        *load_apps(["tests.example_app"]),
    ]
    p = Platform.create(make_settings(tmp_path, monitor_per_minute=10_000), apps)
    service = p.service_of(ChurnService)
    service.import_frame(
        make_customers(500, seed=1), source="t", id_column="account", target_column="left"
    )
    service.train()
    p.notifier.client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    p.notifier.add("https://ops.example/hooks", ["drift.detected"])
    with TestClient(create_app(p)) as client:
        yield p, client, make_keys(p)
    p.close()


def _score(client: TestClient, keys: dict, rows: list[dict]) -> None:
    job = client.post(
        "/api/v1/churn/predict/batch", json={"customers": rows}, headers=keys["service"]
    ).json()
    for _ in range(200):
        if client.get(job["status_url"], headers=keys["service"]).json()["status"] == "done":
            return
        time.sleep(0.05)
    raise AssertionError("batch did not finish")


def _rows(seed: int, shift: bool = False) -> list[dict]:
    frame = make_customers(300, seed=seed).drop(columns=["left"])
    if shift:
        frame["plan"] = "basic"
        frame["spend"] = frame["spend"] * 4
    return frame.to_dict("records")


def test_stable_inputs_do_not_alarm_and_shifted_ones_do_once(churn) -> None:
    platform, client, keys = churn
    mv = platform.registry.production("churn")
    assert set(mv.reference["features"]) == {"plan", "monthly_visits", "spend"}
    empty = client.post("/api/v1/models/churn/monitor", headers=keys["analyst"]).json()
    # No inputs yet is no evidence of drift (an empty frame would "miss" every column).
    assert empty["drifted"] is False and empty["drift"] is None
    assert empty["notes"] == ["no inputs recorded for churn:v1 yet"]

    _score(client, keys, _rows(seed=11))
    stable = client.post("/api/v1/models/churn/monitor", headers=keys["analyst"]).json()
    assert stable["drifted"] is False and stable["drift"]["n_current"] == 200
    assert {f["method"] for f in stable["drift"]["features"]} <= {"ks", "chisquare", "z"}

    # Inputs of the new version only: the next batch is a different population.
    platform.monitor.window = 200
    _score(client, keys, _rows(seed=12, shift=True))
    drifted = client.post("/api/v1/models/churn/monitor", headers=keys["analyst"]).json()
    assert drifted["drifted"] is True
    assert {"plan", "spend"} <= set(drifted["drift"]["drifted_features"])
    platform.notifier.wait()
    [hook] = platform.notifier.subscriptions()  # subscribed to drift.detected only
    assert (hook["delivered"], hook["lag"]) == (1, 0)
    client.post("/api/v1/models/churn/monitor", headers=keys["analyst"])
    platform.notifier.wait()
    [hook] = platform.notifier.subscriptions()
    assert hook["delivered"] == 1  # announced once, not on every check

    text = client.get("/metrics").text
    assert 'foresight_drift_psi{feature="spend",model="churn"}' in text
    assert 'foresight_drift_share{model="churn"}' in text
    latest = client.get("/api/v1/models/churn/monitor", headers=keys["service"])
    assert latest.status_code == 403  # reading reports needs the read role
    assert client.get("/api/v1/models/churn/monitor", headers=keys["analyst"]).json()["drifted"]


def test_drift_retrains_when_the_model_opted_in(churn) -> None:
    from foresight.platform.operations import check_models

    platform, client, keys = churn
    platform.monitor.window = 200
    _score(client, keys, _rows(seed=12, shift=True))
    assert platform.registry.production("churn").version == 1
    drifted = check_models(platform)
    assert drifted["churn"] is True
    versions = [v.version for v in platform.registry.versions("churn")]
    assert versions == [2, 1]  # the retraining ran (promoted or not, it was registered)


def test_outcomes_posted_back_give_accuracy(churn) -> None:
    _, client, keys = churn
    customers = make_customers(500, seed=1)
    outcomes = [
        {"entity": row.account, "observed": row.left} for row in customers.head(120).itertuples()
    ]
    r = client.post("/api/v1/churn/outcomes", json={"outcomes": outcomes}, headers=keys["analyst"])
    assert r.status_code == 200 and r.json() == {"accepted": 120, "duplicates": 0}
    again = client.post(
        "/api/v1/churn/outcomes", json={"outcomes": outcomes}, headers=keys["analyst"]
    )
    assert again.json() == {"accepted": 0, "duplicates": 120}  # a retried post counts once
    report = client.post("/api/v1/models/churn/monitor", headers=keys["analyst"]).json()
    acc = report["accuracy"]
    assert acc["outcomes"] == 120 and acc["roc_auc"] > 0.7 and 0 < acc["brier"] < 0.25
    assert 'foresight_model_accuracy{metric="roc_auc",model="churn"}' in client.get("/metrics").text

    bad = client.post(
        "/api/v1/churn/outcomes",
        json={
            "outcomes": [
                {"entity": "A0300", "observed": "yes"},  # valid, and not yet posted
                {"entity": "nobody", "observed": 1},
            ]
        },
        headers=keys["analyst"],
    )
    assert bad.status_code == 422 and "outcome 2" in bad.json()["detail"]
    after = client.post("/api/v1/models/churn/monitor", headers=keys["analyst"]).json()
    assert after["accuracy"]["outcomes"] == 120  # nothing of the bad post was stored
    alone = client.post(
        "/api/v1/churn/outcomes",
        json={"outcomes": [{"entity": "A0300", "observed": "yes"}]},
        headers=keys["analyst"],
    )
    assert alone.json() == {"accepted": 1, "duplicates": 0}  # so the bad post kept nothing
    after = client.post("/api/v1/models/churn/monitor", headers=keys["analyst"]).json()
    assert after["accuracy"]["outcomes"] == 121
    word = client.post(
        "/api/v1/churn/outcomes",
        json={"outcomes": [{"entity": "A0001", "observed": "maybe"}]},
        headers=keys["analyst"],
    )
    assert word.status_code == 422 and "yes/no" in word.json()["detail"]
    none = client.post(
        "/api/v1/churn/outcomes", json={"outcomes": [{"observed": 1}]}, headers=keys["analyst"]
    )
    assert none.status_code == 422 and "prediction_id or an entity" in none.json()["detail"]
    tips = client.post(
        "/api/v1/tips/outcomes",
        json={"outcomes": [{"entity": "t1", "observed": 3}]},
        headers=keys["analyst"],
    )
    assert tips.status_code == 422 and "takes no outcomes" in tips.json()["detail"]
    assert (
        client.post(
            "/api/v1/nosuch/outcomes",
            json={"outcomes": [{"entity": "x", "observed": 1}]},
            headers=keys["analyst"],
        ).status_code
        == 404
    )
    assert (
        client.post(
            "/api/v1/churn/outcomes", json={"outcomes": outcomes}, headers=keys["service"]
        ).status_code
        == 403
    )


def test_accuracy_metrics_by_task() -> None:
    binary = accuracy("binary", np.array([0.9, 0.2, 0.6, 0.1]), np.array([1.0, 0.0, 0.0, 0.0]))
    assert binary["roc_auc"] == 1.0 and binary["accuracy"] == 0.75
    assert binary["brier"] == pytest.approx((0.01 + 0.04 + 0.36 + 0.01) / 4)
    reg = accuracy("regression", np.array([10.0, 12.0]), np.array([11.0, 15.0]))
    assert reg == {"outcomes": 2.0, "mae": 2.0, "rmse": pytest.approx(np.sqrt(5)), "bias": -2.0}
    assert accuracy("binary", np.array([]), np.array([])) == {}


def test_inputs_kept_per_minute_are_capped(platform: Platform) -> None:
    minute = [datetime(2026, 1, 1, 12, 0, tzinfo=UTC)]
    platform.monitor.clock = lambda: minute[0]
    platform.monitor.per_minute = 5
    rows = [{"x": i} for i in range(8)]
    platform.monitor.record_inputs("m", "m:v1", rows)
    platform.monitor.record_inputs("m", "m:v1", rows)
    assert len(platform.monitor.recent_inputs("m", "m:v1")) == 5
    minute[0] += timedelta(minutes=1)  # a new minute, a new allowance
    platform.monitor.record_inputs("m", "m:v1", rows)
    assert len(platform.monitor.recent_inputs("m", "m:v1")) == 10


def test_non_finite_inputs_are_kept_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    p = Platform.create(make_settings(tmp_path, database_url=pg_url))
    p.monitor.record_inputs(
        "m", "m:v1", [{"x": float("nan"), "y": 1.0}, {"x": 2.0, "y": float("inf")}]
    )
    rows = p.monitor.recent_inputs("m", "m:v1")
    assert len(rows) == 2  # JSONB refuses NaN: the whole batch used to be dropped
    assert rows["x"].isna().sum() == 1 and rows["y"].isna().sum() == 1
    p.close()


def test_drift_retraining_waits_out_its_cooldown(churn) -> None:
    from foresight.platform.operations import check_models

    platform, client, keys = churn
    platform.monitor.window = 200
    _score(client, keys, _rows(seed=12, shift=True))
    assert check_models(platform)["churn"] is True
    _score(client, keys, _rows(seed=13, shift=True))  # the new version drifts the same way
    assert check_models(platform)["churn"] is True  # drift found again, yet no retraining
    # Drift measured against an unchanged table would retrain every hour otherwise.
    assert [v.version for v in platform.registry.versions("churn")] == [2, 1]
