"""Platform commands through the CLI runner: typed per-app imports, headline metrics per
model, webhooks, the schedule, the audit log and the logging settings."""

from __future__ import annotations

from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from foresight.cli import app
from foresight.platform.runtime import Platform
from tests.apps.sales.test_import import tx

runner = CliRunner()


@pytest.fixture
def data_env(tmp_path: Path) -> dict[str, str]:
    return {"FORESIGHT_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def test_each_app_has_its_own_typed_import_options(data_env: dict, tmp_path: Path) -> None:
    churn = runner.invoke(app, ["import", "churn", "--help"], env=data_env).output
    sales = runner.invoke(app, ["import", "sales", "--help"], env=data_env).output
    assert "--id" in churn and "--target" in churn and "--positive" in churn
    assert "--id" not in sales and "--target" not in sales
    path = tmp_path / "tx.csv"
    tx(40).to_csv(path, index=False)
    r = runner.invoke(app, ["import", "sales", str(path), "--id", "x"], env=data_env)
    assert r.exit_code == 2 and "No such option" in r.output


def test_models_list_shows_each_models_own_headline_metrics(trained: Platform) -> None:
    env = {
        "FORESIGHT_DATA_DIR": str(trained.settings.data_dir),
        "FORESIGHT_APPS": ",".join(trained.settings.apps),
        "COLUMNS": "250",
    }
    out = runner.invoke(app, ["models", "list"], env=env).output
    # One table per model, apps in name order: churn, restaurant_…, sales, tips.
    churn, rest = out.split(" restaurant_demand ", 1)
    restaurant, rest = rest.split(" sales ", 1)
    sales = rest.split(" tips ", 1)[0]
    assert "holdout ROC-AUC" in churn and "holdout MASE" not in churn
    assert "holdout MASE" in sales and "ROC-AUC" not in sales
    assert "hourly holdout MASE" in restaurant and "holdout ROC-AUC" not in restaurant


def test_a_database_of_an_app_not_loaded_is_a_clear_error(trained: Platform) -> None:
    env = {"FORESIGHT_DATA_DIR": str(trained.settings.data_dir), "COLUMNS": "250"}
    r = runner.invoke(app, ["models", "list"], env=env)
    assert r.exit_code == 1 and "FORESIGHT_APPS" in r.output


def test_webhooks_need_a_known_event(data_env: dict) -> None:
    r = runner.invoke(app, ["webhooks", "add", "https://crm.example/h"], env=data_env)
    assert r.exit_code == 2 and "--event" in r.output  # no default event any more
    r = runner.invoke(
        app, ["webhooks", "add", "https://crm.example/h", "--event", "nope"], env=data_env
    )
    assert r.exit_code == 1 and "unknown event(s) nope" in r.output
    assert "churn.high_risk" in r.output and "model.training_failed" in r.output
    r = runner.invoke(
        app,
        ["webhooks", "add", "https://crm.example/h", "--event", "model.gate_failed"],
        env=data_env,
    )
    assert r.exit_code == 0 and "webhook 1" in r.output
    r = runner.invoke(app, ["webhooks", "remove", "1"], env=data_env)
    assert r.exit_code == 0
    assert "off" in runner.invoke(app, ["webhooks", "list"], env=data_env).output


def test_schedule_lists_every_models_retraining_and_retention(data_env: dict) -> None:
    r = runner.invoke(app, ["schedule"], env=data_env)
    assert r.exit_code == 0, r.output
    for task in ("train:churn", "train:sales", "retention"):
        assert task in r.output
    assert "weekly mon 00:00" in r.output  # sales retrains weekly, as the seed asks


def test_audit_shows_admin_changes(data_env: dict) -> None:
    runner.invoke(app, ["keys", "create", "--role", "service", "--name", "crm"], env=data_env)
    r = runner.invoke(app, ["audit", "--action", "key."], env=data_env)
    assert r.exit_code == 0 and "key.create" in r.output and "crm" in r.output


def test_logging_settings_reach_the_cli(data_env: dict) -> None:
    env = {**data_env, "FORESIGHT_LOG_LEVEL": "DEBUG", "FORESIGHT_LOG_JSON": "true"}
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    config = structlog.get_config()
    assert "Debug" in config["wrapper_class"].__name__
    assert isinstance(config["processors"][-1], structlog.processors.JSONRenderer)
    assert runner.invoke(app, ["init"], env=data_env).exit_code == 0
    assert "Warning" in structlog.get_config()["wrapper_class"].__name__  # terminal default


def test_bad_configuration_is_one_clear_line(data_env: dict) -> None:
    r = runner.invoke(app, ["schedule"], env={**data_env, "FORESIGHT_MONITOR_SCHEDULE": "often"})
    assert r.exit_code == 1 and "FORESIGHT_MONITOR_SCHEDULE" in r.output
    assert "accepted schedules" in r.output and "Traceback" not in r.output


def test_a_bad_setting_is_one_line_even_when_the_cli_is_first_imported(
    data_env: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib

    import foresight.cli as cli

    monkeypatch.setenv("FORESIGHT_WEBHOOK_MAX_ATTEMPTS", "abc")
    try:
        fresh = importlib.reload(cli)  # the import used to die with a pydantic traceback
        r = runner.invoke(fresh.app, ["models", "list"], env=data_env)
    finally:
        monkeypatch.delenv("FORESIGHT_WEBHOOK_MAX_ATTEMPTS")
        importlib.reload(cli)
    assert r.exit_code == 1, r.output
    assert r.output.startswith("error: FORESIGHT_WEBHOOK_MAX_ATTEMPTS: ")
    assert len(r.output.strip().splitlines()) == 1 and "Traceback" not in r.output
