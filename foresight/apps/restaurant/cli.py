"""``foresight restaurant …`` (check the RMS, sync, demand, inventory, push) and ``foresight import
restaurant`` (recipes for an RMS without a recipes table)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import typer
from rich.table import Table

from foresight.apps.restaurant import push
from foresight.apps.restaurant.demand_answers import DemandQuery
from foresight.apps.restaurant.inventory_cli import inventory
from foresight.apps.restaurant.service import RestaurantService
from foresight.platform.csvfile import read_csv
from foresight.platform.terminal import console, fail, platform_of, run_or_fail

cli = typer.Typer(
    help="Restaurant: the RMS connection, sync, demand forecasts, inventory and push.",
    no_args_is_help=True,
)
RECIPE_COLUMNS = ("item_id", "ingredient_id", "quantity")
cli.command("inventory")(inventory)


def _service(ctx: typer.Context) -> RestaurantService:
    return platform_of(ctx).service_of(RestaurantService)  # type: ignore[no-any-return]


def import_restaurant(
    ctx: typer.Context,
    file: Path = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        readable=True,
        help="Recipes: item_id, ingredient_id, quantity (in the ingredient's unit), "
        "optional size. Replaces earlier imported recipes (all rows or none).",
    ),
) -> None:
    """Import recipes for an RMS that has no recipes table."""
    frame = run_or_fail(read_csv, file, str(file))
    missing = [c for c in RECIPE_COLUMNS if c not in frame.columns]
    if missing:
        fail(f"{file}: missing column(s) {', '.join(missing)} (has: {', '.join(frame.columns)})")
    quantity = pd.to_numeric(frame["quantity"], errors="coerce")
    bad = frame.index[quantity.isna() | (quantity < 0)]
    if len(bad):
        rows = ", ".join(str(i + 2) for i in bad[:10])
        fail(f"{file}: quantity must be a number ≥ 0 (row(s) {rows})")
    recipes = pd.DataFrame(
        {
            "item_id": frame["item_id"].astype(str),
            "size": frame["size"].fillna("").astype(str) if "size" in frame else "",
            "ingredient_id": frame["ingredient_id"].astype(str),
            "quantity": quantity.astype(float),
        }
    )
    dupes = recipes.duplicated(["item_id", "size", "ingredient_id"])
    if dupes.any():
        fail(f"{file}: an ingredient repeats for the same item and size (row {dupes.idxmax() + 2})")
    n = run_or_fail(_service(ctx).store.import_recipes, recipes)
    console.print(f"[green]✓[/] {n} recipe lines for {recipes['item_id'].nunique()} items")


@cli.command("check-rms")
def check_rms(ctx: typer.Context) -> None:
    """Open the RMS read-only and print its guarantees, mapping problems and counts."""
    check = run_or_fail(_service(ctx).check_rms)
    console.print(f"RMS {check.url}")
    g = check.guarantees
    console.print(
        f"read-only: {g['read_only']} (session read-only: {g['session_read_only']}, "
        f"statement timeout {g['statement_timeout_ms']} ms)"
    )
    if g["role_can_write"]:
        console.print(f"[yellow]the login role can write to: {', '.join(g['role_can_write'])}[/]")
    for note in check.notes:
        console.print(f"[yellow]note:[/] {note}")
    if check.problems:
        for problem in check.problems:
            console.print(f"[red]✗[/] {problem}")
        raise typer.Exit(1)
    table = Table("table", "rows")
    for name, count in check.counts.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    console.print(f"orders from {check.first_order} to {check.last_order} (UTC)")


@cli.command("sync")
def sync(
    ctx: typer.Context,
    full: bool = typer.Option(False, "--full", help="Re-read everything, not only new rows."),
) -> None:
    """Read what is new in the RMS into Foresight's mirror."""
    report = run_or_fail(_service(ctx).sync_now, full=full)
    rows = ", ".join(f"{v:,} {k}" for k, v in report.rows.items())
    kind = "full" if report.full else "incremental"
    console.print(f"[green]✓[/] {kind} sync {report.sync_id} in {report.seconds:.1f} s: {rows}")


@cli.command("demand")
def demand(
    ctx: typer.Context,
    start: datetime = typer.Option(..., help="First day (or hour), local time."),
    end: datetime = typer.Option(..., help="Last day (or hour), local time."),
    granularity: str = typer.Option("day", help="hour or day"),
    measure: str = typer.Option("items", help="orders or items"),
    item: str | None = typer.Option(None, "--item", help="One menu item."),
    category: str | None = typer.Option(None, help="One category."),
    level: float = typer.Option(80.0, help="Interval level in percent."),
) -> None:
    """Print the demand forecast (same answer as the API)."""
    if granularity not in ("hour", "day") or measure not in ("orders", "items"):
        fail("--granularity is hour or day; --measure is orders or items")
    query = DemandQuery(
        start if granularity == "hour" else start.date(),
        end if granularity == "hour" else end.date(),
        granularity,
        measure,
        item,
        category,
        level,
    )
    body = run_or_fail(_service(ctx).demand, query)
    table = Table(title=f"{body['series']} per {granularity}, {body['start']} to {body['end']}")
    for col in ("slot", "forecast", f"{level:g} % interval"):
        table.add_column(col)
    for p in body["points"]:
        shown = f"{p['value']:.1f}" if p["open"] else "closed"
        table.add_row(p["at"], shown, f"{p['lower']:.1f}–{p['upper']:.1f}")
    console.print(table)
    total = body["total"]
    console.print(
        f"total {total['value']:.0f} ({total['lower']:.0f}–{total['upper']:.0f}) · "
        f"{body['method']} · model {body['model_version']}"
    )


@cli.command("push")
def push_now(
    ctx: typer.Context,
    model: list[str] = typer.Option(
        [], "--model", help="Only this model (repeatable); default: every restaurant model."
    ),
) -> None:
    """Send the current predictions to the webhooks subscribed to restaurant.predictions
    now, as a scheduled training does (signed, retried); the same predictions are sent once."""
    service = _service(ctx)
    names = [spec.name for spec in platform_of(ctx).app("restaurant").models()]
    unknown = sorted(set(model) - set(names))
    if unknown:
        fail(f"unknown model {', '.join(unknown)}; restaurant models are {', '.join(names)}")
    for name in model or names:
        body = run_or_fail(push.publish, service, name)
        size = len(json.dumps(body))
        console.print(f"[green]✓[/] {name}: {body['model_version']} ({size:,} bytes)")
