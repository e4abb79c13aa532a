"""``foresight sales …`` commands and the file import behind ``foresight import sales``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from foresight.platform.apps import ImportResult
from foresight.platform.csvfile import read_csv
from foresight.platform.errors import ForesightError, InvalidInput
from foresight.platform.runtime import Platform

cli = typer.Typer(help="Sales forecasting: regressors, top products.", no_args_is_help=True)
console = Console()


def import_file(platform: Platform, path: Path, **options: Any) -> ImportResult:
    """`foresight import sales FILE`: transactions (product_id, sold_at, quantity, revenue,
    category …); replaces the sales history, all rows or none."""
    from foresight.apps.sales import service_for

    ignored = [k for k, v in options.items() if v]
    if ignored:
        raise InvalidInput(f"--{ignored[0].replace('_column', '')} does not apply to sales")
    frame = read_csv(path, str(path))
    return service_for(platform).import_frame(frame, source=str(path), mode="replace")


def _platform() -> Platform:
    from foresight.cli import get_platform

    return get_platform()


@cli.command("regressors")
def regressors(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
) -> None:
    """Import external indicators (FRED, Yahoo Finance series…): a date column plus one
    column per indicator. They are joined by day at the next training."""
    from foresight.apps.sales import service_for

    try:
        result = service_for(_platform()).import_regressors(
            read_csv(file, str(file)), source=str(file), actor="cli"
        )
    except ForesightError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    console.print(f"[green]✓[/] {result.message}")


@cli.command("top")
def top(
    period: str = typer.Option("week", help="week, month or quarter"),
    category: str | None = typer.Option(None),
    limit: int = typer.Option(10, min=1),
) -> None:
    """Print the top products for the next period (same answer as the API)."""
    from rich.table import Table

    from foresight.apps.sales import service_for

    try:
        body = service_for(_platform()).top_products(period, category, limit)
    except ForesightError as exc:
        console.print(f"[bold red]error:[/] {exc.message}")
        raise typer.Exit(1) from None
    table = Table(title=f"Top products, {body['period_start']} to {body['period_end']}")
    for col in ("#", "product", "category", "units", "80 % interval", "revenue", "trend"):
        table.add_column(col)
    for p in body["products"]:
        interval = p["interval_80"]
        table.add_row(
            str(p["rank"]),
            p["name"],
            p["category"],
            f"{p['forecast_units']:.0f}",
            f"{interval[0]:.0f}–{interval[1]:.0f}" if interval else "—",
            f"{p['forecast_revenue']:,.2f}",
            f"{p['trend']} ({p['trend_pct']}%)" if p["trend_pct"] is not None else p["trend"],
        )
    console.print(table)
    console.print(f"model {body['model_version']}")
