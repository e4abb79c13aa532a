"""The sales API over HTTP: top products (cache and its invalidation), forecast, backtest."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi.testclient import TestClient

from foresight.apps.sales.service import SalesService
from foresight.platform.runtime import Platform

TOP = "/api/v1/sales/top-products"


def test_top_products_ranked_with_units_revenue_interval_and_trend(
    client: TestClient, headers: dict
) -> None:
    r = client.get(TOP, params={"time_period": "month", "limit": 5}, headers=headers["service"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == "sales:v1" and body["fallback"] is None
    # total counts what is returned (it used to count every product past the limit)
    assert body["total"] == 5 and body["ranked"] == 32 and len(body["products"]) == 5
    revenue = [p["forecast_revenue"] for p in body["products"]]
    assert revenue == sorted(revenue, reverse=True)
    assert [p["rank"] for p in body["products"]] == [1, 2, 3, 4, 5]
    for p in body["products"]:
        lo, hi = p["interval_80"]
        assert 0 <= lo <= p["forecast_units"] <= hi
        assert p["trend"] in {"up", "down", "flat", "new"}
    # The month after the last day of data (2015-12-31).
    assert body["period_start"] == "2016-01-01" and body["period_end"] == "2016-01-30"


def test_second_call_comes_from_cache_with_the_seed_key(
    client: TestClient, headers: dict, sales: Platform
) -> None:
    params = {"time_period": "week", "category": "veggie"}
    first = client.get(TOP, params=params, headers=headers["service"]).json()
    second = client.get(TOP, params=params, headers=headers["service"]).json()
    assert second["cached"] is True
    assert second["generated_at"] == first["generated_at"]
    assert {p["category"] for p in second["products"]} == {"veggie"}
    # The seed's key, inside the sales namespace (an app reads only its own keys).
    assert sales.cache_for("sales").get("forecast:veggie:week:v1") is not None
    assert sales.cache.get("sales:forecast:veggie:week:v1") is not None


def test_bad_period_and_unknown_category_are_422_naming_the_problem(
    client: TestClient, headers: dict
) -> None:
    r = client.get(TOP, params={"time_period": "decade"}, headers=headers["service"])
    assert r.status_code == 422 and "time_period" in r.text
    r = client.get(TOP, params={"category": "desserts"}, headers=headers["service"])
    assert r.status_code == 422
    assert "unknown category 'desserts'" in r.json()["detail"]
    assert "veggie" in r.json()["detail"]
    assert client.get(TOP).status_code == 401


def test_forecast_for_a_product_and_a_category(client: TestClient, headers: dict) -> None:
    r = client.get(
        "/api/v1/sales/forecast",
        params={"product_id": "hawaiian", "horizon": 14, "level": 90},
        headers=headers["service"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["forecast"]) == 14 and body["forecast"][0]["date"] == "2016-01-01"
    assert all(p["lower"] <= p["units"] <= p["upper"] for p in body["forecast"])
    assert abs(sum(body["weights"].values()) - 1) < 1e-9
    assert body["history"][-1]["date"] == "2015-12-31"
    r = client.get(
        "/api/v1/sales/forecast", params={"category": "classic"}, headers=headers["service"]
    )
    assert r.status_code == 200 and r.json()["series"] == "category:classic"


def test_forecast_errors(client: TestClient, headers: dict) -> None:
    h = headers["service"]
    r = client.get("/api/v1/sales/forecast", params={"product_id": "nope"}, headers=h)
    assert r.status_code == 404 and "nope" in r.text
    r = client.get("/api/v1/sales/forecast", headers=h)
    assert r.status_code == 422 and "exactly one" in r.text
    r = client.get(
        "/api/v1/sales/forecast", params={"product_id": "hawaiian", "horizon": 400}, headers=h
    )
    assert r.status_code == 422 and "horizon" in r.text


def test_backtest_reports_every_member_and_the_ensemble(client: TestClient, headers: dict) -> None:
    r = client.get("/api/v1/sales/backtest", headers=headers["analyst"])
    assert r.status_code == 200, r.text
    body = r.json()
    models = {m["model"] for m in body["metrics"] if m["group"] == "product"}
    assert {"ensemble", "auto_ets", "theta", "ces", "lightgbm", "seasonal_naive"} <= models
    assert body["windows"] == 2
    product = {m["model"]: m for m in body["metrics"] if m["group"] == "product"}
    # Out-of-sample, the chosen ensemble beats the naive baseline on this data.
    assert product["ensemble"]["mase"] < product["seasonal_naive"]["mase"]


def test_new_data_invalidates_the_cache_and_moves_the_window(
    client: TestClient, headers: dict, sales: Platform
) -> None:
    params = {"time_period": "week"}
    client.get(TOP, params=params, headers=headers["service"])
    assert client.get(TOP, params=params, headers=headers["service"]).json()["cached"] is True
    new_day = "2016-01-01T12:00:00"
    r = client.post(
        "/api/v1/sales/transactions",
        json={
            "transactions": [
                {"product_id": "hawaiian", "sold_at": new_day, "quantity": 40, "unit_price": 13.25}
            ]
        },
        headers=headers["service"],
    )
    assert r.status_code == 403  # a service key predicts; ingestion needs write access
    r = client.post(
        "/api/v1/sales/transactions",
        json={
            "transactions": [
                {"product_id": "hawaiian", "sold_at": new_day, "quantity": 40, "unit_price": 13.25}
            ]
        },
        headers=headers["admin"],
    )
    assert r.status_code == 200, r.text
    after = client.get(TOP, params=params, headers=headers["service"]).json()
    assert after["cached"] is False
    assert after["period_start"] == (date(2016, 1, 1) + timedelta(days=1)).isoformat()
    hawaiian = next(p for p in after["products"] if p["product_id"] == "hawaiian")
    # The previous week now holds the 40 new units.
    assert hawaiian["previous_units"] >= 40


def test_a_promotion_changes_the_key_and_recomputes(
    client: TestClient, headers: dict, sales: Platform
) -> None:
    params = {"time_period": "quarter"}
    client.get(TOP, params=params, headers=headers["service"])
    assert client.get(TOP, params=params, headers=headers["service"]).json()["cached"] is True
    outcome = sales.service_of(SalesService).train(lambda *a: None)
    if not outcome.promoted:  # the gate may keep v1; promote by hand to test the cache
        sales.promote("sales", outcome.version.version, actor="test")
    body = client.get(TOP, params=params, headers=headers["service"]).json()
    assert body["cached"] is False
    assert body["model_version"] == outcome.version.label


def test_units_sold_posted_back_score_the_forecast(
    client: TestClient, headers: dict, sales: Platform
) -> None:
    fc = client.get(
        "/api/v1/sales/forecast",
        params={"product_id": "hawaiian", "horizon": 7},
        headers=headers["service"],
    ).json()
    first, second = fc["forecast"][:2]
    body = {
        "outcomes": [
            {"entity": "hawaiian", "observed": first["units"] + 3, "observed_at": first["date"]},
            {"entity": "hawaiian", "observed": second["units"] - 1, "observed_at": second["date"]},
        ]
    }
    r = client.post("/api/v1/sales/outcomes", json=body, headers=headers["analyst"])
    assert r.status_code == 200 and r.json() == {"accepted": 2, "duplicates": 0}
    again = client.post("/api/v1/sales/outcomes", json=body, headers=headers["analyst"])
    assert again.json() == {"accepted": 0, "duplicates": 2}  # one outcome per product-day
    report = client.post("/api/v1/models/sales/monitor", headers=headers["analyst"]).json()
    assert report["drift"] is None  # a forecaster has no row inputs to drift
    acc = report["accuracy"]
    assert acc["outcomes"] == 2 and abs(acc["mae"] - 2.0) < 0.01 and abs(acc["bias"] + 1.0) < 0.01
    late = client.post(
        "/api/v1/sales/outcomes",
        json={"outcomes": [{"entity": "hawaiian", "observed": 3, "observed_at": "2030-01-01"}]},
        headers=headers["analyst"],
    )
    assert late.status_code == 422 and "outcome 1" in late.json()["detail"]


def test_a_product_newer_than_the_model_gets_the_rule_baseline(
    client: TestClient, headers: dict
) -> None:
    body = {
        "transactions": [
            {
                "product_id": "new_pizza",
                "category": "classic",
                "sold_at": "2015-12-31T12:00:00",
                "quantity": 7,
                "unit_price": 10,
            }
        ]
    }
    posted = client.post("/api/v1/sales/transactions", json=body, headers=headers["analyst"])
    assert posted.status_code == 200, posted.text
    r = client.get(TOP, params={"category": "classic", "limit": 50}, headers=headers["service"])
    assert r.status_code == 200, r.text  # it used to be a 422 until the next retraining
    new = next(p for p in r.json()["products"] if p["product_id"] == "new_pizza")
    assert new["method"] == "seasonal_naive" and new["interval_80"] is None
    others = [p for p in r.json()["products"] if p["product_id"] != "new_pizza"]
    assert {p["method"] for p in others} == {"ensemble"}
    fc = client.get(
        "/api/v1/sales/forecast", params={"product_id": "new_pizza"}, headers=headers["service"]
    ).json()
    assert fc["fallback"] == "rule_baseline" and fc["weights"] == {"seasonal_naive": 1.0}


def test_posted_text_longer_than_its_column_is_a_422_naming_the_field(
    client: TestClient, headers: dict
) -> None:
    row = {"product_id": "p", "sold_at": "2015-12-31T12:00:00", "quantity": 1, "unit_price": 1}
    for field, limit in (("category", 100), ("product_name", 200), ("order_id", 100)):
        body = {"transactions": [row | {field: "z" * (limit + 1)}]}
        r = client.post("/api/v1/sales/transactions", json=body, headers=headers["analyst"])
        assert r.status_code == 422, r.text  # a DataError (500) on PostgreSQL
        assert r.json()["errors"][0]["field"] == f"transactions.0.{field}"
