"""The delivery app (seed 000): will the customer be home to receive a delivery in a
window, and which windows are best to offer?"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from typer import Typer

from foresight.apps.delivery import cli, demo, predict_routes, router, state
from foresight.apps.delivery.model import MODEL_NAME, HistoryRule, rule_from_version
from foresight.apps.delivery.schemas import DeliverySettings
from foresight.apps.delivery.service import DeliveryService
from foresight.platform.apps import App, ImportResult, Metric, ModelSpec, TaskSpec
from foresight.platform.monitor import Outcome
from foresight.platform.runtime import Platform
from foresight.platform.schemas import OutcomeIn
from foresight.platform.training import Progress, TrainingOutcome


def _train(platform: Platform, progress: Progress) -> TrainingOutcome:
    return platform.service_of(DeliveryService).train(progress)


def _refresh_feeds(platform: Platform) -> dict[str, int]:
    return platform.service_of(DeliveryService).refresh_due_feeds()


def _refresh_weather(platform: Platform) -> dict[str, int]:
    return platform.service_of(DeliveryService).refresh_weather()


class DeliveryApp(App):
    name = "delivery"
    title = "Delivery"
    description = "Will the customer be home for a delivery window, and when is best?"
    folder = Path(__file__).parent
    settings_class = DeliverySettings
    service_class = DeliveryService
    events = state.EVENT_TYPES
    # A customer is rebuilt from these; predictions (one per request) age out as usual.
    kept_events = state.STATE_EVENTS
    settings: DeliverySettings

    def models(self) -> list[ModelSpec]:
        return [
            ModelSpec(
                name=MODEL_NAME,
                title="Delivery availability",
                train=_train,
                gate_metric="log_loss",
                headline=(
                    Metric("holdout_roc_auc", "held-out ROC-AUC"),
                    Metric("holdout_ece", "held-out ECE", higher_is_better=False),
                    Metric("baseline_roc_auc", "history-only ROC-AUC"),
                    Metric("cold_start_roc_auc", "cold-start ROC-AUC"),
                ),
                schedule=self.settings.train_schedule,
                rule=rule_from_version,
                default=HistoryRule,
                task="binary",
            )
        ]

    def tasks(self) -> list[TaskSpec]:
        return [
            TaskSpec(
                "calendar-refresh",
                "Fetch the calendar feeds not checked for an hour",
                self.settings.calendar_refresh_schedule,
                _refresh_feeds,
            ),
            TaskSpec(
                "weather-refresh",
                "Fetch the weather forecast of every customer zone's place",
                self.settings.weather_refresh_schedule,
                _refresh_weather,
                lambda platform: self.settings.weather_url is not None,
            ),
        ]

    def health(self, platform: Platform) -> dict[str, dict[str, Any]]:
        # A dead feed degrades one customer's answers (to history), not the service: it
        # is reported, not a fault. Feed URLs are secrets: only their hosts are shown.
        breakers = platform.service_of(DeliveryService).calendars.breakers.snapshot()
        open_hosts = sorted(
            {urlsplit(url).hostname or "?" for url, b in breakers.items() if b["state"] != "closed"}
        )
        return {
            "calendar_feeds": {
                "ok": True,
                "open_breakers": len(open_hosts),
                "hosts": open_hosts[:20],
            }
        }

    def routers(self) -> list[APIRouter]:
        return [router.router, predict_routes.router]

    def cli(self) -> Typer:
        return cli.cli

    def import_command(self) -> Callable[..., Any]:
        return cli.import_delivery

    def predict_command(self) -> Callable[..., Any] | None:
        return cli.predict_delivery

    def load_demo(self, platform: Platform, progress: Progress) -> ImportResult:
        return demo.load_simulated(platform.service_of(DeliveryService), progress)

    def resolve_outcome(self, platform: Platform, item: OutcomeIn) -> Outcome:
        return platform.service_of(DeliveryService).resolve_outcome(item)


APP = DeliveryApp
