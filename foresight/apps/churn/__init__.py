"""Churn (seed 002): churn probability, risk tier and reasons for every customer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from prometheus_client import CollectorRegistry
from typer import Typer

from foresight.apps.churn import cli, demo, router
from foresight.apps.churn.alerts import HIGH_RISK_EVENT
from foresight.apps.churn.model import MODEL_NAME, rule_from_version
from foresight.apps.churn.schemas import ChurnSettings
from foresight.apps.churn.service import ChurnService
from foresight.platform.apps import App, ImportResult, Metric, ModelSpec
from foresight.platform.jobs import Job
from foresight.platform.monitor import Outcome
from foresight.platform.runtime import Platform
from foresight.platform.schemas import OutcomeIn
from foresight.platform.training import Progress, TrainingOutcome


def _train(platform: Platform, progress: Progress) -> TrainingOutcome:
    return platform.service_of(ChurnService).train(progress)


class ChurnApp(App):
    name = "churn"
    title = "Churn"
    description = "Who is about to churn, how likely, and why."
    folder = Path(__file__).parent
    settings_class = ChurnSettings
    service_class = ChurnService
    events = (HIGH_RISK_EVENT,)
    settings: ChurnSettings

    def models(self) -> list[ModelSpec]:
        return [
            ModelSpec(
                name=MODEL_NAME,
                title="Churn probability",
                train=_train,
                gate_metric="roc_auc",
                headline=(
                    Metric("roc_auc", "holdout ROC-AUC"),
                    Metric("cv_roc_auc", "CV ROC-AUC"),
                    Metric("pr_auc", "PR-AUC"),
                    Metric("brier", "Brier", higher_is_better=False),
                ),
                schedule=self.settings.retrain_schedule,
                rule=rule_from_version,
                task="binary",
                retrain_on_drift=self.settings.retrain_on_drift,
            )
        ]

    def routers(self) -> list[APIRouter]:
        return [router.router]

    def cli(self) -> Typer:
        return cli.cli

    def import_command(self) -> Callable[..., Any]:
        return cli.import_churn

    def predict_command(self) -> Callable[..., Any]:
        return cli.predict_churn

    def load_demo(self, platform: Platform, progress: Progress) -> ImportResult:
        return demo.load_telco(platform.service_of(ChurnService), progress)

    def resolve_outcome(self, platform: Platform, item: OutcomeIn) -> Outcome:
        return platform.service_of(ChurnService).resolve_outcome(item)

    def purge_predictions(self, platform: Platform, before: datetime) -> int:
        return platform.service_of(ChurnService).store.purge_predictions(before)

    def discard_job(self, platform: Platform, job: Job) -> None:
        platform.service_of(ChurnService).discard_job(job.id)

    def register_metrics(self, platform: Platform, registry: CollectorRegistry) -> None:
        def high_risk() -> float:
            # Read at scrape time (at most 15 s old), so it follows every prediction path.
            try:
                return float(platform.service_of(ChurnService).high_risk_count())
            except Exception:  # a scrape must not fail because the database is away
                return float("nan")

        platform.metrics.gauge_function(
            "foresight_churn_high_risk_customers",
            "Customers whose latest churn prediction is high risk",
            high_risk,
        )


APP = ChurnApp
