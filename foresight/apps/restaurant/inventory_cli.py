"""``foresight restaurant inventory``: the reorder list and expiry warnings, the same
answer as ``GET /api/v1/restaurant/inventory``."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from foresight.apps.restaurant.service import RestaurantService
from foresight.platform.terminal import console, platform_of, run_or_fail


def _amount(value: float, unit: str) -> str:
    return f"{value:,.0f} {unit}".strip()


def _cover(days: float | None) -> str:
    return "—" if days is None else f"{days:.1f}"


def inventory(
    ctx: typer.Context,
    service_level: float = typer.Option(
        0.95, "--service-level", min=0.5, max=0.999, help="Chance of not running out."
    ),
    ingredient: str | None = typer.Option(None, "--ingredient", help="One ingredient id."),
    lead_time_days: float | None = typer.Option(
        None, "--lead-time", min=0, max=365, help="Days; overrides each supplier's lead time."
    ),
    review_days: float = typer.Option(
        1.0, "--review-days", min=0, max=365, help="Days until the order after this one."
    ),
    all_items: bool = typer.Option(False, "--all", help="List every ingredient, not only orders."),
) -> None:
    """Print what to order now (and what will expire unused)."""
    service: RestaurantService = platform_of(ctx).service_of(RestaurantService)
    body: dict[str, Any] = run_or_fail(
        service.inventory.advice,
        service_level=service_level,
        ingredient_id=ingredient,
        lead_time_days=lead_time_days,
        review_days=review_days,
    )
    shown = [a for a in body["items"] if all_items or ingredient or a["reorder_now"]]
    table = Table(title=f"Reorder list for {body['as_of']} at {service_level:.1%} service")
    for column in ("ingredient", "order", "usable", "cover (d)", "reorder point", "safety"):
        table.add_column(column, justify="left" if column == "ingredient" else "right")
    for a in shown:
        order = _amount(a["suggested_order_qty"], a["unit"]) if a["reorder_now"] else "—"
        table.add_row(
            a["name"],
            f"[bold yellow]{order}[/]" if a["reorder_now"] else order,
            _amount(a["usable_on_hand"], a["unit"]),
            _cover(a["days_of_cover"]),
            _amount(a["reorder_point"], a["unit"]),
            _amount(a["safety_stock"], a["unit"]),
        )
    console.print(table)
    ordered = sum(a["reorder_now"] for a in body["items"])
    console.print(f"{ordered} of {len(body['items'])} ingredients to order now")
    for w in body["expiring"]:
        console.print(
            f"[yellow]expires unused:[/] {w['ingredient_id']} batch {w['batch_id']}: "
            f"{_amount(w['unusable'], w['unit'])} of {_amount(w['quantity'], w['unit'])} "
            f"after {w['expires_at']}"
        )
    fallback = f" ({body['fallback']})" if body["fallback"] else ""
    demand = f" ({body['demand_fallback']})" if body["demand_fallback"] else ""
    console.print(
        f"{body['method']} · model {body['model_version']}{fallback} · demand "
        f"{body['demand_method']}, {body['demand_model_version']}{demand}"
    )
