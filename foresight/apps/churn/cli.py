"""Churn's own CLI commands (``foresight churn …``) and its file import/predict hooks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from foresight.apps.churn.features import read_csv
from foresight.platform.apps import ImportResult
from foresight.platform.errors import InvalidInput
from foresight.platform.runtime import Platform

cli = typer.Typer(help="Churn: at-risk customers and one-off scoring.", no_args_is_help=True)
console = Console()


def import_file(
    platform: Platform,
    path: Path,
    *,
    target: str | None,
    id_column: str | None,
    positive: str | None = None,
) -> ImportResult:
    """`foresight import churn FILE --target COL --id COL`."""
    from foresight.apps.churn import service_for

    if not id_column:
        raise InvalidInput("name the id column with --id COLUMN")
    frame = read_csv(path)
    return service_for(platform).import_frame(
        frame, source=str(path), id_column=id_column, target_column=target, positive_label=positive
    )


def predict_file(platform: Platform, path: Path, out: Path, progress: Any) -> dict[str, Any]:
    """Score a CSV in chunks; write id, probability, prediction, tier (and an errors file)."""
    from foresight.apps.churn import service_for

    service = service_for(platform)
    header = read_csv_header(path)
    service.check_columns(header)
    total = max(1, sum(1 for _ in path.open("rb")) - 1)
    written, rejected, first = 0, 0, True
    errors_path = out.with_name(out.stem + ".errors.csv")
    errors: list[dict[str, Any]] = []
    id_name = service.id_column()
    for offset, chunk in enumerate_chunks(path):
        scored = service.score_frame(chunk)
        ok = scored.ok
        frame = pd.DataFrame(
            {
                id_name: np.array(scored.ids, dtype=object)[ok],
                "churn_probability": np.round(scored.probability[ok], 4),
                "prediction": np.where(scored.probability[ok] >= 0.5, "Yes", "No"),
                "risk_tier": scored.tiers[ok],
            }
        )
        frame.to_csv(out, mode="w" if first else "a", header=first, index=False)
        first = False
        written += int(ok.sum())
        rejected += int((~ok).sum())
        errors.extend(
            {"row": offset + (e.row or 0) + 2, "field": e.field, "message": e.message}
            for e in scored.errors
        )
        progress(min(1.0, (offset + len(chunk)) / total))
    if errors:
        pd.DataFrame(errors).to_csv(errors_path, index=False)
    return {
        "scored": written,
        "rejected": rejected,
        "out": str(out),
        "errors_file": str(errors_path) if errors else None,
        "model_version": service.served().label,
    }


def read_csv_header(path: Path) -> list[str]:
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise InvalidInput("the CSV file is empty") from None


def enumerate_chunks(path: Path, size: int = 50_000) -> Any:
    offset = 0
    for chunk in pd.read_csv(path, chunksize=size, skipinitialspace=True):
        yield offset, chunk.reset_index(drop=True)
        offset += len(chunk)


def _platform() -> Platform:
    from foresight.cli import get_platform

    return get_platform()


@cli.command("at-risk")
def at_risk(
    tier: str = typer.Option("high", help="low, medium or high"),
    limit: int = typer.Option(20, min=1),
) -> None:
    """List customers by their latest churn probability."""
    from foresight.apps.churn import service_for

    rows = service_for(_platform()).at_risk(tier=tier, limit=limit)
    table = Table("customer", "probability", "tier", "model", "when")
    for r in rows:
        table.add_row(
            r.customer_id,
            f"{r.churn_probability:.3f}",
            r.risk_tier,
            r.model_version,
            r.prediction_date.strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


@cli.command("explain")
def explain(customer_id: str) -> None:
    """Score one stored customer and show the factors behind it."""
    from foresight.apps.churn import service_for
    from foresight.apps.churn.schemas import PredictRequest

    res = service_for(_platform()).predict(PredictRequest(customer_id=customer_id, top=8))
    console.print(
        f"[bold]{customer_id}[/]: churn probability {res['churn_probability']:.3f} "
        f"({res['risk_tier']} risk, {res['model_version']}"
        f"{', fallback ' + res['fallback'] if res['fallback'] else ''})"
    )
    for f in res["top_factors"]:
        colour = "red" if f["contribution"] > 0 else "green"
        console.print(f"  [{colour}]{f['contribution']:+.3f}[/]  {f['text']}")
