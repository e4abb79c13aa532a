"""Batch jobs: mixed good and bad rows, JSON and CSV in and out, progress."""

from __future__ import annotations

import io
import time

import pandas as pd
from fastapi.testclient import TestClient

from foresight.apps.churn.demo import telco_frame


def wait_done(api: TestClient, url: str, headers: dict) -> dict:
    for _ in range(200):
        body = api.get(url, headers=headers).json()
        if body["status"] in ("done", "failed"):
            return body
        time.sleep(0.05)
    raise AssertionError("job did not finish")


def test_csv_batch_with_mixed_rows(api: TestClient, keys) -> None:
    frame = telco_frame().head(200).drop(columns=["churn"])
    frame.loc[5, "contract"] = "Weekly"
    frame.loc[9, "tenure"] = -4
    frame.loc[9, "gender"] = None
    r = api.post(
        "/api/v1/churn/predict/batch",
        files={"file": ("customers.csv", frame.to_csv(index=False), "text/csv")},
        headers=keys["service"],
    )
    assert r.status_code == 202
    accepted = r.json()
    assert accepted["status_url"] == f"/api/v1/jobs/{accepted['job_id']}"
    body = wait_done(api, accepted["status_url"], keys["service"])
    assert body["status"] == "done" and body["progress"] == 1.0 and body["app"] == "churn"
    summary = body["summary"]
    assert (body["total"], summary["scored"], summary["rejected"]) == (200, 198, 2)
    assert "results" not in body  # results are paged, never inline
    errors = {(e["row"], e["field"]) for e in body["errors"]}
    assert errors == {(6, "contract"), (10, "tenure"), (10, "gender")}
    page = api.get(accepted["results_url"], params={"limit": 500}, headers=keys["service"]).json()
    rows = {res["row"] for res in page["items"]}
    assert page["total"] == 198 and 6 not in rows and 10 not in rows and len(rows) == 198
    assert page["items"][0]["customer_id"] == "C00001"
    second = api.get(
        accepted["results_url"], params={"offset": 100, "limit": 50}, headers=keys["service"]
    ).json()
    assert [i["row"] for i in second["items"]] == [i["row"] for i in page["items"][100:150]]

    csv = api.get(accepted["results_url"], params={"format": "csv"}, headers=keys["service"])
    assert csv.headers["content-type"].startswith("text/csv")
    out = pd.read_csv(io.StringIO(csv.text))
    assert list(out.columns) == [
        "row",
        "customer_id",
        "churn_probability",
        "prediction",
        "risk_tier",
    ]
    assert len(out) == 198


def test_json_batch_reports_missing_and_extra_fields(api: TestClient, keys) -> None:
    records = telco_frame().head(3).drop(columns=["churn"]).to_dict("records")
    records[1].pop("contract")
    records[2]["shoe_size"] = 44
    r = api.post(
        "/api/v1/churn/predict/batch", json={"customers": records}, headers=keys["service"]
    )
    body = wait_done(api, r.json()["status_url"], keys["service"])
    assert (body["summary"]["scored"], body["summary"]["rejected"]) == (1, 2)
    messages = {e["field"]: e["message"] for e in body["errors"]}
    assert messages["contract"].startswith("missing") and "unknown field" in messages["shoe_size"]


def test_batch_job_errors(api: TestClient, keys) -> None:
    r = api.post("/api/v1/churn/predict/batch", json={"customers": []}, headers=keys["service"])
    assert r.status_code == 422
    assert api.get("/api/v1/jobs/nope", headers=keys["service"]).status_code == 404
