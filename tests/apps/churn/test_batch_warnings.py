"""Batch rows outside the training range are scored and flagged; wrong types are rejected."""

from __future__ import annotations

import io
import time

import pandas as pd
from fastapi.testclient import TestClient

from foresight.apps.churn.demo import telco_frame

TENURE_WARNING = (
    "tenure: 9999 is above the largest value seen in training (72); the prediction extrapolates"
)


def finished(api: TestClient, url: str, headers: dict) -> dict:
    for _ in range(200):
        body = api.get(url, headers=headers).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_batch_rows_carry_their_warnings(api: TestClient, keys) -> None:
    records = telco_frame().head(4).drop(columns=["churn"]).to_dict("records")
    records[1]["tenure"] = 9999
    records[2]["tenure"] = True
    records[3]["senior_citizen"] = 5
    records[3]["tenure"] = 9999
    r = api.post(
        "/api/v1/churn/predict/batch", json={"customers": records}, headers=keys["service"]
    )
    assert r.status_code == 202, r.text
    body = finished(api, r.json()["status_url"], keys["service"])
    assert (body["summary"]["scored"], body["summary"]["rejected"]) == (3, 1)
    assert [(e["row"], e["field"], e["message"]) for e in body["errors"]] == [
        (3, "tenure", "expected an integer, got true")
    ]
    results_url = r.json()["results_url"]
    items = api.get(results_url, headers=keys["service"]).json()["items"]
    by_row = {i["row"]: i for i in items}
    assert "warnings" not in by_row[1]
    assert by_row[2]["warnings"] == TENURE_WARNING
    assert by_row[4]["warnings"] == (
        "senior_citizen: 5 is above the largest value seen in training (1); "
        "the prediction extrapolates | " + TENURE_WARNING
    )
    csv = api.get(results_url, params={"format": "csv"}, headers=keys["service"])
    out = pd.read_csv(io.StringIO(csv.text))
    assert list(out.columns)[-1] == "warnings"
    assert out["warnings"].isna().tolist() == [True, False, False]
    assert out.loc[out["row"] == 2, "warnings"].item() == TENURE_WARNING
