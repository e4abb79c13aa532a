"""Restaurant (seed 003): demand, kitchen and delivery times, customers and inventory,
read from a restaurant management system's own database, read-only."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from prometheus_client import CollectorRegistry, Counter
from typer import Typer

from foresight.apps.restaurant import (
    cli,
    demo,
    inventory_routes,
    inventory_service,
    kitchen_routes,
    kitchen_specs,
    push,
    router,
)
from foresight.apps.restaurant.customers import CUSTOMERS, customer_default, customer_rule
from foresight.apps.restaurant.model import DEMAND, demand_default, demand_rule
from foresight.apps.restaurant.schemas import RestaurantSettings
from foresight.apps.restaurant.service import RestaurantService
from foresight.platform.apps import App, ImportResult, Metric, ModelSpec, TaskSpec
from foresight.platform.runtime import Platform
from foresight.platform.training import Progress, TrainingOutcome, no_progress


def _service(platform: Platform) -> RestaurantService:
    return platform.service_of(RestaurantService)  # type: ignore[no-any-return]


def _train_demand(platform: Platform, progress: Progress) -> TrainingOutcome:
    return _service(platform).train_demand(progress)


def _train_customers(platform: Platform, progress: Progress) -> TrainingOutcome:
    return _service(platform).customers.train(progress)


def _has_orders(platform: Platform) -> bool:
    return _service(platform).has_orders()


def _enough_customers(platform: Platform) -> bool:
    return _service(platform).customers.enough()


def _has_rms(platform: Platform) -> bool:
    return _service(platform).has_rms()


def _sync(platform: Platform) -> dict[str, Any]:
    """The scheduled sync. When data changed it also re-scores every customer, so the
    customer list (stored scores) agrees with a lookup (computed per sync) within a slot."""
    service = _service(platform)
    before = service.store.data_version()
    report = service.sync_now()
    scored = 0
    if report.sync_id != before and service.store.has_visits():
        scored = service.customers.write_scores()
    return {"rows": report.rows, "removed": report.removed, "scored": scored}


def _full_retrain(platform: Platform) -> dict[str, Any]:
    """The seed's monthly job: a full re-read (edits older than the sync lookback come in
    too), then every model that is due retrained and pushed. One model failing does not
    stop the others; a failed push is announced as ``task.failed``, as for any scheduled
    training, and leaves its training standing."""
    _service(platform).sync_now(full=True)
    task = f"{RestaurantApp.name}:full-retrain"
    results: dict[str, Any] = {}
    failed = []
    for spec in platform.app(RestaurantApp.name).models():
        if spec.due is not None and not spec.due(platform):
            results[spec.name] = "skipped: not due (too little data)"
            continue
        try:
            outcome = spec.train(platform, no_progress)
        except Exception as exc:
            results[spec.name] = f"failed: {type(exc).__name__}: {exc}"
            failed.append(spec.name)
            continue
        results[spec.name] = outcome.version.label + (" promoted" if outcome.promoted else "")
        try:
            push.after_scheduled_run(platform, outcome)
        except Exception as exc:
            error = f"after_scheduled_run: {spec.name}: {type(exc).__name__}: {exc}"[:500]
            platform.announce("task.failed", {"task": task, "error": error}, key=task)
    if failed:
        raise RuntimeError(f"full retrain: {', '.join(failed)} failed ({results})")
    return results


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
    events = (push.EVENT,)

    def models(self) -> list[ModelSpec]:
        # Every scheduled training pushes its predictions to the RMS (the seed's pattern 3).
        return [
            replace(spec, after_scheduled_run=push.after_scheduled_run) for spec in self._models()
        ]

    def _models(self) -> list[ModelSpec]:
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
                due=_enough_customers,
                rule=customer_rule,
                default=customer_default,
            ),
            *kitchen_specs.model_specs(self.settings),
            *inventory_service.model_specs(self.settings),
        ]

    def tasks(self) -> list[TaskSpec]:
        s = self.settings
        return [
            TaskSpec("sync", "Read new RMS rows into the mirror", s.sync_schedule, _sync, _has_rms),
            TaskSpec(
                "full-retrain",
                "Re-read the whole RMS, then retrain every model",
                s.full_retrain_schedule,
                _full_retrain,
                _has_rms,
            ),
        ]

    def health(self, platform: Platform) -> dict[str, dict[str, Any]]:
        service = _service(platform)
        if not service.has_rms():  # nothing to reach yet (no URL, no demo): not a fault
            return {"rms": {"ok": True, "configured": False}}
        return {"rms": service.rms_health.snapshot()}

    def register_metrics(self, platform: Platform, registry: CollectorRegistry) -> None:
        service = _service(platform)
        synced = Counter(
            "foresight_restaurant_synced_rows",
            "Rows read from the RMS into the mirror, by table",
            ["table"],
            registry=registry,
        )

        def count(rows: dict[str, int]) -> None:
            for table, n in rows.items():
                synced.labels(table).inc(n)

        service.on_synced = count

        def lag() -> float:
            # Read at scrape time: how far the mirror trails the clock (the RMS's own lag
            # plus ours); NaN before any order or while the database is away.
            value = service.rms_health.lag_seconds()
            return float("nan") if value is None else value

        platform.metrics.gauge_function(
            "foresight_restaurant_rms_lag_seconds",
            "Seconds from the newest mirrored RMS order to now",
            lag,
        )

    def routers(self) -> list[APIRouter]:
        return [router.router, kitchen_routes.router, inventory_routes.router]

    def cli(self) -> Typer:
        return cli.cli

    def import_command(self) -> Callable[..., Any]:
        return cli.import_restaurant

    def load_demo(self, platform: Platform, progress: Progress) -> ImportResult:
        return demo.load_demo(_service(platform), progress)


APP = RestaurantApp
