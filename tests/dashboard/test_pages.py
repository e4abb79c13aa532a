"""Dashboard pages render against a live API (uvicorn in a thread), via Streamlit's AppTest."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).parents[2]
SYSTEM_PAGE = ROOT / "foresight" / "dashboard" / "views" / "system.py"
CHURN_PAGE = ROOT / "foresight" / "apps" / "churn" / "page.py"
SALES_PAGE = ROOT / "foresight" / "apps" / "sales" / "page.py"
MODELS_PAGE = ROOT / "foresight" / "dashboard" / "views" / "models.py"


@pytest.fixture
def dashboard_env(live_api: str, trained, monkeypatch: pytest.MonkeyPatch) -> None:
    key, _ = trained.keys.create(name="dash-test", role="analyst")
    monkeypatch.setenv("FORESIGHT_API_URL", live_api)
    monkeypatch.setenv("FORESIGHT_API_KEY", key)


def test_system_page_shows_health_every_model_and_the_schedule(dashboard_env) -> None:
    at = AppTest.from_file(str(SYSTEM_PAGE), default_timeout=30).run()
    assert not at.exception
    assert at.title[0].value == "System"
    assert at.metric[0].value == "healthy"
    captions = [c.value for c in at.caption]
    # One table per model, named with its app; no page asks an app for a route it lacks
    # (it used to show "sales: Not Found").
    assert {"churn (churn)", "sales (sales)", "tips (tips)"} <= set(captions)
    assert not any("Not Found" in c for c in captions) and not at.error
    churn = at.dataframe[1 + captions.index("churn (churn)")].value
    assert "production" in set(churn["stage"]) and "holdout ROC-AUC" in churn.columns
    sales = at.dataframe[1 + captions.index("sales (sales)")].value
    assert "holdout MASE" in sales.columns and "holdout ROC-AUC" not in sales.columns
    tasks = at.dataframe[-1].value
    assert {"train:churn", "train:sales", "retention"} <= set(tasks["name"])


def test_churn_page_renders_distribution_table_and_explanation(dashboard_env) -> None:
    at = AppTest.from_file(str(CHURN_PAGE), default_timeout=30).run()
    assert not at.exception, at.exception
    assert at.metric[0].value == "7,043"
    at_risk = at.dataframe[0].value
    assert len(at_risk) > 0 and set(at_risk["risk_tier"]) == {"high"}
    assert any(m.label == "Churn probability" for m in at.metric)
    assert any(m.label == "What-if probability" for m in at.metric)
    assert len(at.get("vega_lite_chart")) >= 2  # distribution + explanation


def test_what_if_moves_the_probability(dashboard_env) -> None:
    at = AppTest.from_file(str(CHURN_PAGE), default_timeout=30).run()
    at.text_input(key="customer_id").set_value("C00003").run()
    at.selectbox(key="whatif-C00003-contract").set_value("Two year").run()
    assert not at.exception
    what_if = next(m for m in at.metric if m.label == "What-if probability")
    assert what_if.delta.startswith("-")  # a two-year contract lowers the risk


def test_page_asks_for_a_key_without_one(live_api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORESIGHT_API_URL", live_api)
    monkeypatch.delenv("FORESIGHT_API_KEY", raising=False)
    at = AppTest.from_file(str(CHURN_PAGE), default_timeout=30).run()
    assert not at.exception
    assert "Enter an API key" in at.info[0].value


def test_sales_page_shows_top_products_forecast_chart_and_backtest(dashboard_env) -> None:
    at = AppTest.from_file(str(SALES_PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    assert not at.error
    top = at.dataframe[0].value
    assert len(top) == 10 and list(top["rank"]) == list(range(1, 11))
    assert "ensemble" in set(at.dataframe[1].value["model"])
    # Switch to a category and a month: the table follows.
    at.selectbox[0].select("veggie").run()
    at.radio[0].set_value("month").run()
    assert set(at.dataframe[0].value["category"]) == {"veggie"}
    assert any("Top products" in s.value for s in at.subheader)


def test_models_page_shows_drift_per_feature_and_accuracy(
    dashboard_env, trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    from foresight.apps.churn.schemas import PredictRequest
    from foresight.apps.churn.service import ChurnService

    # The check sees only these predictions (other tests of the session score odd inputs
    # into the shared platform): stored customers, like the training data, so no drift.
    monkeypatch.setattr(trained.monitor, "window", 60)
    monkeypatch.setattr(trained.monitor, "per_minute", 10_000)
    for i in range(1, 61):
        trained.service_of(ChurnService).predict(PredictRequest(customer_id=f"C{i:05d}"))
    at = AppTest.from_file(str(MODELS_PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    at.selectbox[0].select("churn").run()
    at.button[0].click().run()  # "Check now"
    assert not at.exception and not at.error
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Version"].startswith("churn:v") and metrics["Inputs"] == "stable"
    drift = at.dataframe[0].value
    assert "contract" in set(drift["name"]) and "psi" in drift.columns
    assert any("Accuracy" in s.value for s in at.subheader)
