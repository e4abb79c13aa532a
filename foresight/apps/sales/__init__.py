"""Sales (seed 001): what will sell — daily demand per product and category, top products."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from typer import Typer

from foresight.apps.sales import cli, demo, router
from foresight.apps.sales.model import MODEL_NAME, default_rule, rule_from_version
from foresight.apps.sales.schemas import SalesSettings
from foresight.apps.sales.service import SalesService
from foresight.platform.apps import App, ImportResult, Metric, ModelSpec
from foresight.platform.monitor import Outcome
from foresight.platform.runtime import Platform
from foresight.platform.schemas import OutcomeIn
from foresight.platform.training import Progress, TrainingOutcome


def _train(platform: Platform, progress: Progress) -> TrainingOutcome:
    return platform.service_of(SalesService).train(progress)


def _due(platform: Platform) -> bool:
    return platform.service_of(SalesService).retrain_due()


class SalesApp(App):
    name = "sales"
    title = "Sales"
    description = "What will sell: daily demand forecasts per product and category."
    folder = Path(__file__).parent
    settings_class = SalesSettings
    service_class = SalesService
    settings: SalesSettings

    def models(self) -> list[ModelSpec]:
        return [
            ModelSpec(
                name=MODEL_NAME,
                title="Daily demand per product and category",
                train=_train,
                gate_metric="holdout_mase",
                headline=(
                    Metric("holdout_mase", "holdout MASE", higher_is_better=False),
                    Metric("holdout_smape", "holdout sMAPE", higher_is_better=False),
                    Metric("backtest_mase", "backtest MASE", higher_is_better=False),
                ),
                schedule=self.settings.retrain_schedule,
                due=_due,
                rule=rule_from_version,
                default=default_rule,
                task="regression",
            )
        ]

    def routers(self) -> list[APIRouter]:
        return [router.router, router.seed_router]

    def cli(self) -> Typer:
        return cli.cli

    def import_command(self) -> Callable[..., Any]:
        return cli.import_sales

    def resolve_outcome(self, platform: Platform, item: OutcomeIn) -> Outcome:
        return platform.service_of(SalesService).resolve_outcome(item)

    def load_demo(self, platform: Platform, progress: Progress) -> ImportResult:
        return demo.load_pizza(platform.service_of(SalesService), progress)


APP = SalesApp
