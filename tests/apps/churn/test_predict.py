"""Churn over HTTP on the Telco demo: one customer, explanations, history, lists."""

from __future__ import annotations

from fastapi.testclient import TestClient

from foresight.apps import churn


def telco_payload(api: TestClient, keys, customer_id: str = "C00003") -> dict:
    return api.get(f"/api/v1/churn/customers/{customer_id}", headers=keys["analyst"]).json()[
        "attributes"
    ]


def test_predict_by_id_names_version_tier_and_factors(api: TestClient, keys) -> None:
    r = api.post("/api/v1/churn/predict", json={"customer_id": "C00003"}, headers=keys["service"])
    assert r.status_code == 200
    body = r.json()
    assert 0 < body["churn_probability"] < 1
    assert body["risk_tier"] in ("low", "medium", "high")
    assert body["model_version"].startswith("churn:v") and body["fallback"] is None
    assert body["prediction"] == ("Yes" if body["churn_probability"] >= 0.5 else "No")
    factors = body["top_factors"]
    assert 1 <= len(factors) <= 5
    assert all(f["feature"] in telco_payload(api, keys) for f in factors)
    # Factors are sorted by size and read like the user's own data.
    sizes = [abs(f["contribution"]) for f in factors]
    assert sizes == sorted(sizes, reverse=True)
    assert any(f["text"].startswith(f"{f['feature']} = {f['value']} ") for f in factors)


def test_contributions_add_up_to_the_probability(api: TestClient, keys) -> None:
    body = api.post(
        "/api/v1/churn/predict", json={"customer_id": "C00010", "top": 50}, headers=keys["service"]
    ).json()
    total = body["base_probability"] + sum(f["contribution"] for f in body["top_factors"])
    assert abs(total - body["churn_probability"]) < 0.002


def test_predict_by_payload_matches_predict_by_id(api: TestClient, keys) -> None:
    payload = telco_payload(api, keys, "C00042")
    by_id = api.post(
        "/api/v1/churn/predict", json={"customer_id": "C00042"}, headers=keys["service"]
    )
    by_payload = api.post(
        "/api/v1/churn/predict",
        json={"features": payload, "explain": False},
        headers=keys["service"],
    )
    assert by_payload.status_code == 200 and by_payload.json()["top_factors"] == []
    assert by_payload.json()["churn_probability"] == by_id.json()["churn_probability"]


def test_month_to_month_contract_raises_risk(api: TestClient, keys) -> None:
    payload = telco_payload(api, keys, "C00003")
    probs = {}
    for contract in ("Month-to-month", "Two year"):
        r = api.post(
            "/api/v1/churn/predict",
            json={"features": {**payload, "contract": contract}},
            headers=keys["service"],
        )
        probs[contract] = r.json()["churn_probability"]
    assert probs["Month-to-month"] > probs["Two year"]


def test_history_and_at_risk_list(api: TestClient, keys, trained) -> None:
    for _ in range(2):
        api.post("/api/v1/churn/predict", json={"customer_id": "C00007"}, headers=keys["service"])
    history = api.get("/api/v1/churn/customers/C00007/predictions", headers=keys["analyst"]).json()
    assert len(history) >= 3  # the post-training batch score plus two API calls
    assert history[0]["prediction_id"] > history[-1]["prediction_id"]
    assert {"api", "batch"} <= {h["source"] for h in history}

    high = api.get(
        "/api/v1/churn/at-risk", params={"tier": "high", "limit": 50}, headers=keys["analyst"]
    ).json()
    assert high and all(c["risk_tier"] == "high" for c in high)
    probs = [c["churn_probability"] for c in high]
    assert probs == sorted(probs, reverse=True) and min(probs) >= churn.model.TIER_HIGH
    summary = api.get("/api/v1/churn/risk-summary", headers=keys["analyst"]).json()
    assert summary["customers"] == 7043 and sum(summary["histogram"]) == 7043
    assert sum(summary["tiers"].values()) == 7043


def test_model_info_and_list_over_http(api: TestClient, keys) -> None:
    models = api.get("/api/v1/models", headers=keys["analyst"]).json()
    assert models[0]["model"] == "churn"
    info = api.get("/api/v1/models/churn/info", headers=keys["analyst"]).json()
    assert info["stage"] == "production"
    for metric in ("roc_auc", "pr_auc", "brier", "cv_roc_auc", "cv_roc_auc_linear"):
        assert metric in info["metrics"]
    assert info["metrics"]["roc_auc"] > 0.8  # held-out, not training, AUC
    assert {c["name"] for c in info["signature"]["columns"]} >= {"contract", "tenure"}
    assert api.get("/api/v1/models/nope/info", headers=keys["analyst"]).status_code == 404


def test_values_outside_training_are_scored_with_a_warning_per_field(api: TestClient, keys) -> None:
    payload = telco_payload(api, keys, "C00003")
    r = api.post(
        "/api/v1/churn/predict",
        json={"features": {**payload, "tenure": 9999, "senior_citizen": 5}},
        headers=keys["service"],
    )
    # Used to be scored without a word although training saw tenure ≤ 72 and 0/1.
    assert r.status_code == 200, r.text
    body = r.json()
    assert 0 < body["churn_probability"] < 1
    assert body["warnings"] == [
        {
            "field": "senior_citizen",
            "message": "5 is above the largest value seen in training (1); "
            "the prediction extrapolates",
            "value": 5,
        },
        {
            "field": "tenure",
            "message": "9999 is above the largest value seen in training (72); "
            "the prediction extrapolates",
            "value": 9999,
        },
    ]
    low = api.post(
        "/api/v1/churn/predict",
        json={"features": {**payload, "monthly_charges": 1.5}, "explain": False},
        headers=keys["service"],
    ).json()["warnings"]
    assert [(w["field"], w["value"]) for w in low] == [("monthly_charges", 1.5)]
    assert "below the smallest value seen in training" in low[0]["message"]


def test_in_range_answers_have_an_empty_warning_list(api: TestClient, keys) -> None:
    r = api.post("/api/v1/churn/predict", json={"customer_id": "C00003"}, headers=keys["service"])
    assert r.status_code == 200 and r.json()["warnings"] == []
    payload = telco_payload(api, keys, "C00003")
    # Numeric strings are read as the number they spell (documented in the signature).
    as_text = api.post(
        "/api/v1/churn/predict",
        json={"features": {**payload, "tenure": str(payload["tenure"])}},
        headers=keys["service"],
    )
    assert as_text.status_code == 200 and as_text.json()["warnings"] == []
    assert as_text.json()["churn_probability"] == r.json()["churn_probability"]
    schema = api.get("/openapi.json").json()["components"]["schemas"]
    assert "warnings" in schema["PredictResponse"]["properties"]
    assert set(schema["InputWarning"]["properties"]) == {"field", "message", "value"}
