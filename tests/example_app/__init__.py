"""A minimal app on the contract (docs/new-app.md): restaurant tips from the bill.

It exists to prove the contract: the app contract suite runs on it as on the built-in
apps. Load it with ``FORESIGHT_APPS=foresight.apps.churn,foresight.apps.sales,tests.example_app``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session
from typer import Typer

from foresight.platform.apps import App, ConsumerSpec, ImportResult, Metric, ModelSpec, TaskSpec
from foresight.platform.runtime import Platform
from foresight.platform.streams import Entry
from foresight.platform.training import Progress, TrainingOutcome
from tests.example_app import cli, demo, router
from tests.example_app.model import MODEL_NAME, MeanTipRule, rule_from_version
from tests.example_app.schemas import TipsSettings
from tests.example_app.service import TipsService
from tests.example_app.store import TipRow

# The tips app talks to no outside system; this stands for one (a till feed, say) so
# that /health shows an app component. Tests set it False to see the platform degraded.
FEED_REACHABLE = True


def _train(platform: Platform, progress: Progress) -> TrainingOutcome:
    return platform.service_of(TipsService).train(progress)


def _announce_refresh(platform: Platform, outcome: TrainingOutcome) -> None:
    """After a scheduled retraining only: tell subscribers (the push pattern)."""
    platform.announce(
        "tips.refreshed",
        {"model": MODEL_NAME, "version": outcome.version.label, "promoted": outcome.promoted},
    )


# Tables seated are announced on a stream (a till feed, say); the consumer stores them.
TABLES_STREAM = "tips.tables"


def _store_tables(
    platform: Platform, session: Session, partition: int, entries: list[Entry]
) -> None:
    """Each record is one table: insert it in the runner's transaction (exactly once)."""
    rows = [r.payload for e in entries for r in e.records]
    session.execute(TipRow.__table__.insert(), rows)
    return None


def _tally(platform: Platform) -> dict[str, int]:
    return platform.service_of(TipsService).tally()


class TipsApp(App):
    name = "tips"
    title = "Tips"
    description = "How much a table will tip, from its bill and size."
    folder = Path(__file__).parent
    settings_class = TipsSettings
    service_class = TipsService
    settings: TipsSettings
    events = ("tips.refreshed",)

    def models(self) -> list[ModelSpec]:
        return [
            ModelSpec(
                name=MODEL_NAME,
                title="Tip per table",
                train=_train,
                gate_metric="mae",
                headline=(Metric("mae", "holdout MAE", higher_is_better=False),),
                schedule=self.settings.retrain_schedule,
                rule=rule_from_version,
                default=MeanTipRule,
                after_scheduled_run=_announce_refresh,
            )
        ]

    def consumers(self) -> list[ConsumerSpec]:
        return [ConsumerSpec("tables", TABLES_STREAM, 2, _store_tables, batch=100, block_ms=50)]

    def tasks(self) -> list[TaskSpec]:
        return [TaskSpec("tally", "Count the stored tables", self.settings.tally_schedule, _tally)]

    def health(self, platform: Platform) -> dict[str, dict[str, Any]]:
        return {"feed": {"ok": FEED_REACHABLE}}

    def routers(self) -> list[APIRouter]:
        return [router.router]

    def cli(self) -> Typer:
        return cli.cli

    def import_command(self) -> Callable[..., Any]:
        return cli.import_tips

    def load_demo(self, platform: Platform, progress: Progress) -> ImportResult:
        return demo.load_simulated(platform.service_of(TipsService), progress)


APP = TipsApp
