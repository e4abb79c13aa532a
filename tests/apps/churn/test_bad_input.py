"""Every bad input gets a 4xx naming the field and what is expected; nothing half-written."""

from __future__ import annotations

import io

import pytest
from fastapi.testclient import TestClient


@pytest.fixture(scope="module")
def payload(api: TestClient, keys) -> dict:
    return api.get("/api/v1/churn/customers/C00003", headers=keys["analyst"]).json()["attributes"]


def predict(api, keys, body):
    return api.post("/api/v1/churn/predict", json=body, headers=keys["service"])


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"contract": "Weekly"}, "contract", "unknown category 'Weekly'"),
        ({"tenure": -3}, "tenure", "≥ 0"),
        ({"tenure": "twelve"}, "tenure", "'twelve'"),
        ({"monthly_charges": [1, 2]}, "monthly_charges", "expected a number"),
        ({"favourite_colour": "blue"}, "favourite_colour", "unknown field"),
        # Wrong types used to be scored: true as 1, 1.5 cut to 1 in the explanation.
        ({"tenure": True}, "tenure", "expected an integer, got true"),
        ({"tenure": 1.5}, "tenure", "expected an integer, got 1.5"),
        ({"senior_citizen": False}, "senior_citizen", "expected an integer, got false"),
        ({"monthly_charges": True}, "monthly_charges", "expected a number, got true"),
    ],
)
def test_bad_field_values(api, keys, payload, change, field, words) -> None:
    r = predict(api, keys, {"features": {**payload, **change}})
    assert r.status_code == 422
    errors = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert words in errors[field], errors


def test_missing_field(api, keys, payload) -> None:
    body = {k: v for k, v in payload.items() if k != "contract"}
    r = predict(api, keys, {"features": body})
    assert r.status_code == 422
    assert r.json()["errors"][0] == {
        "field": "contract",
        "message": "missing; expected one of 'Month-to-month', 'One year', 'Two year'",
    }


def test_malformed_requests(api, keys) -> None:
    assert predict(api, keys, {}).status_code == 422
    r = predict(api, keys, {"customer_id": "C00003", "top": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "top"
    r = predict(api, keys, {"customer_id": "C00003", "surprise": 1})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "surprise"
    r = api.post(
        "/api/v1/churn/predict",
        content=b"{not json",
        headers={**keys["service"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422 and "traceback" not in r.text.lower()
    assert predict(api, keys, {"customer_id": "NOPE"}).status_code == 404


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"customer_id,tenure\n", "no rows"),
        (b'a,b\n1,"unterminated\n', "cannot be parsed"),
        (b"customer_id,tenure\nX1,3\n", "missing column(s): gender"),
    ],
)
def test_bad_batch_files(api, keys, content, words) -> None:
    r = api.post(
        "/api/v1/churn/predict/batch",
        content=content,
        headers={**keys["service"], "Content-Type": "text/csv"},
    )
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]


def test_csv_with_extra_column_is_rejected(api, keys, trained) -> None:
    from foresight.apps.churn.demo import telco_frame

    frame = telco_frame().head(3).drop(columns=["churn"])
    frame["notes"] = "x"
    r = api.post(
        "/api/v1/churn/predict/batch",
        content=frame.to_csv(index=False).encode(),
        headers={**keys["service"], "Content-Type": "text/csv"},
    )
    assert r.status_code == 422 and "unexpected column(s): notes" in r.json()["detail"]


def test_failed_import_keeps_the_stored_customers(api, keys) -> None:
    before = api.get("/api/v1/churn/risk-summary", headers=keys["analyst"]).json()["customers"]
    csv = b"id,plan,left\nA,x,yes\nA,y,no\n"  # duplicate id
    r = api.post(
        "/api/v1/churn/import",
        params={"id_column": "id", "target_column": "left"},
        content=csv,
        headers={**keys["analyst"], "Content-Type": "text/csv"},
    )
    assert r.status_code == 422 and "duplicate id: A" in r.json()["detail"]
    r = api.post(
        "/api/v1/churn/import",
        params={"id_column": "nope"},
        files={"file": ("c.csv", io.BytesIO(b"id,plan\nA,x\n"), "text/csv")},
        headers=keys["analyst"],
    )
    assert r.status_code == 422 and "nope" in r.json()["detail"]
    assert api.get("/api/v1/churn/customers/C00003", headers=keys["analyst"]).status_code == 200
    after = api.get("/api/v1/churn/risk-summary", headers=keys["analyst"]).json()["customers"]
    assert after == before


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "1e400", "NaN"])
def test_non_finite_numbers_are_a_422_naming_the_field(api, keys, payload, number) -> None:
    import json

    body = json.dumps({"features": payload}).replace(
        f'"tenure": {payload["tenure"]}', f'"tenure": {number}'
    )
    r = api.post(
        "/api/v1/churn/predict",
        content=body,
        headers={**keys["service"], "Content-Type": "application/json"},
    )
    # Infinity used to reach the explanation and answer a 500 (OverflowError).
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["tenure"]


def test_ids_longer_than_the_column_are_refused_naming_the_rows(api, keys, payload) -> None:
    from tests.apps.churn.test_batch import wait_done

    long_id = "L" * 101
    csv = f"id,plan,left\nA,x,yes\n{long_id},y,no\n".encode()
    r = api.post(
        "/api/v1/churn/import",
        params={"id_column": "id", "target_column": "left"},
        content=csv,
        headers={**keys["analyst"], "Content-Type": "text/csv"},
    )
    assert r.status_code == 422  # a DataError (500) on PostgreSQL; stored on SQLite
    assert "id is longer than 100 characters in row(s) 3" in r.json()["detail"]
    batch = [{"customer_id": "short", **payload}, {"customer_id": long_id, **payload}]
    r = api.post("/api/v1/churn/predict/batch", json={"customers": batch}, headers=keys["service"])
    body = wait_done(api, r.json()["status_url"], keys["service"])
    assert body["status"] == "done"  # the job used to fail on PostgreSQL
    assert (body["summary"]["scored"], body["summary"]["rejected"]) == (1, 1)
    assert body["errors"][0]["row"] == 2
    assert body["errors"][0]["message"] == "longer than 100 characters"


def test_a_json_batch_that_does_not_validate_names_the_fields(api, keys) -> None:
    r = api.post("/api/v1/churn/predict/batch", json={"customers": "all"}, headers=keys["service"])
    assert r.status_code == 422
    body = r.json()
    # One line and a field list, as every other 422 (was the whole pydantic text).
    assert body["errors"][0]["field"] == "customers" and "\n" not in body["detail"]
    r = api.post(
        "/api/v1/churn/predict/batch",
        content=b'{"customers": [',
        headers={**keys["service"], "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["message"].startswith("the request body is not valid JSON")
