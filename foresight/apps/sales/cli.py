"""``foresight sales …`` and ``foresight import sales``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from foresight.apps.sales.service import SalesService
from foresight.platform.csvfile import read_csv
from foresight.platform.terminal import console, platform_of, run_or_fail

cli = typer.Typer(help="Sales forecasting: regressors, top products.", no_args_is_help=True)


def _service(ctx: typer.Context) -> SalesService:
    return platform_of(ctx).service_of(SalesService)  # type: ignore[no-any-return]


def import_sales(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="Transactions: product_id, sold_at, quantity, revenue or unit_price "
        "(optional: category, product_name, order_id).",
    ),
) -> None:
    """Replace the sales history with FILE (all rows or none)."""
    frame = run_or_fail(read_csv, file, str(file))
    result = run_or_fail(_service(ctx).import_frame, frame, source=str(file), mode="replace")
    console.print(f"[green]✓[/] {result.message}")


@cli.command("regressors")
def regressors(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, readable=True),
) -> None:
    """Import external indicators (FRED, Yahoo Finance series…): a date column plus one
    column per indicator. They are joined by day at the next training."""
    frame = run_or_fail(read_csv, file, str(file))
    result = run_or_fail(_service(ctx).import_regressors, frame, source=str(file), actor="cli")
    console.print(f"[green]✓[/] {result.message}")


@cli.command("top")
def top(
    ctx: typer.Context,
    period: str = typer.Option("week", help="week, month or quarter"),
    category: str | None = typer.Option(None),
    limit: int = typer.Option(10, min=1),
) -> None:
    """Print the top products for the next period (same answer as the API)."""
    body = run_or_fail(_service(ctx).top_products, period, category, limit)
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
