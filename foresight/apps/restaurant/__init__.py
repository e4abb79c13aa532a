"""Restaurant (seed 003): demand, kitchen and delivery times, customers and inventory,
read from a restaurant management system's own database, read-only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from typer import Typer

from foresight.apps.restaurant import cli, demo, router
from foresight.apps.restaurant.customers import CUSTOMERS, customer_default, customer_rule
from foresight.apps.restaurant.model import DEMAND, demand_default, demand_rule
from foresight.apps.restaurant.schemas import RestaurantSettings
from foresight.apps.restaurant.service import RestaurantService
from foresight.platform.apps import App, ImportResult, Metric, ModelSpec
from foresight.platform.runtime import Platform
from foresight.platform.training import Progress, TrainingOutcome


def _service(platform: Platform) -> RestaurantService:
    return platform.service_of(RestaurantService)  # type: ignore[no-any-return]


def _train_demand(platform: Platform, progress: Progress) -> TrainingOutcome:
    return _service(platform).train_demand(progress)


def _train_customers(platform: Platform, progress: Progress) -> TrainingOutcome:
    return _service(platform).train_customers(progress)


def _has_orders(platform: Platform) -> bool:
    return _service(platform).has_orders()


class RestaurantApp(App):
    name = "restaurant"
    title = "Restaurant"
    description = (
        "Beside a restaurant's own database (read-only): demand per hour and day, "
        "kitchen and delivery times, customer value, inventory."
    )
    folder = Path(__file__).parent
    settings_class = RestaurantSettings
    service_class = RestaurantService
    settings: RestaurantSettings

    def models(self) -> list[ModelSpec]:
        return [
            ModelSpec(
                name=DEMAND,
                title="Orders and items per hour and day",
                train=_train_demand,
                gate_metric="holdout_mase",
                headline=(
                    Metric("holdout_mase_hourly", "hourly holdout MASE", higher_is_better=False),
                    Metric("holdout_mase_daily", "daily holdout MASE", higher_is_better=False),
                    Metric(
                        "holdout_mase_seasonal_naive_daily",
                        "daily seasonal naive MASE",
                        higher_is_better=False,
                    ),
                ),
                schedule=self.settings.demand_schedule,
                due=_has_orders,
                rule=demand_rule,
                default=demand_default,
                task="regression",
            ),
            ModelSpec(
                name=CUSTOMERS,
                title="Customer value, churn risk and next visit",
                train=_train_customers,
                gate_metric="holdout_mae",
                headline=(
                    Metric("holdout_mae", "holdout visits MAE", higher_is_better=False),
                    Metric(
                        "holdout_mae_same_rate", "same-rate baseline MAE", higher_is_better=False
                    ),
                    Metric("visit_auc", "returns ROC-AUC"),
                ),
                schedule=self.settings.customer_schedule,
                due=_has_orders,
                rule=customer_rule,
                default=customer_default,
            ),
        ]

    def routers(self) -> list[APIRouter]:
        return [router.router]

    def cli(self) -> Typer:
        return cli.cli

    def import_command(self) -> Callable[..., Any]:
        return cli.import_restaurant

    def load_demo(self, platform: Platform, progress: Progress) -> ImportResult:
        return demo.load_demo(_service(platform), progress)


APP = RestaurantApp
