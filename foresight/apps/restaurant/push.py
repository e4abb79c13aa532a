"""The seed's push pattern: after a scheduled training run, the fresh predictions go to
the RMS as a ``restaurant.predictions`` event, which the platform POSTs to every
subscribed webhook (HMAC-signed, retried with back-off from the event log).

Payloads stay compact (well under 64 KB): what an RMS would store or show without asking
again — the week ahead for demand, segment and risk counts plus the customers most worth a
call, ticket and delivery minutes, and the reorder list.
``foresight restaurant push`` sends the same payload on demand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import func, select

from foresight.apps.restaurant.customers import CUSTOMERS, P_ALIVE_OF_TIER
from foresight.apps.restaurant.demand_answers import DemandQuery
from foresight.apps.restaurant.inventory import INVENTORY
from foresight.apps.restaurant.kitchen_model import DELIVERY, KITCHEN, LEVEL
from foresight.apps.restaurant.lookup import restaurant_service
from foresight.apps.restaurant.model import DEMAND
from foresight.apps.restaurant.schemas_kitchen import DeliveryRequest
from foresight.apps.restaurant.tables import CustomerScoreRow
from foresight.apps.restaurant.tickets import DAYS
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.training import TrainingOutcome

if TYPE_CHECKING:
    from foresight.apps.restaurant.service import RestaurantService
    from foresight.platform.runtime import Platform

EVENT = "restaurant.predictions"
PUSH_DAYS = 7  # the daily forecast pushed: one week, the RMS's planning horizon
TOP_AT_RISK = 100


def after_scheduled_run(platform: Platform, outcome: TrainingOutcome) -> None:
    """``ModelSpec.after_scheduled_run`` of every restaurant model: push its predictions."""
    publish(restaurant_service(platform), outcome.version.name, outcome)


def publish(
    service: RestaurantService, model: str, outcome: TrainingOutcome | None = None
) -> dict[str, Any]:
    """Announce ``model``'s current predictions; returns the payload sent.

    The idempotency key names the served version and the data's sync id, so a repeated
    push of the same predictions (a retried hook, a manual push) sends nothing new."""
    served = service.p.serve(model)
    body = {
        "model": model,
        "restaurant_id": service.settings.restaurant_id,
        "model_version": served.label,
        "fallback": served.fallback,
        "trained_version": outcome.version.label if outcome is not None else None,
        "promoted": outcome.promoted if outcome is not None else None,
        "generated_at": service.p.clock().isoformat(),
        "predictions": predictions(service, model),
    }
    key = f"{EVENT}:{model}:{served.label}:{service.data_version()}"
    service.p.announce(EVENT, body, key=model, idempotency_key=key)
    return body


def predictions(service: RestaurantService, model: str) -> dict[str, Any]:
    """The compact predictions of one model (a model the app does not push is a 404)."""
    payloads: dict[str, Callable[[RestaurantService], dict[str, Any]]] = {
        DEMAND: _demand,
        CUSTOMERS: _customers,
        KITCHEN: _kitchen,
        DELIVERY: _delivery,
        INVENTORY: lambda s: s.inventory.push_payload(INVENTORY),
    }
    if model not in payloads:
        raise NotFound(
            f"no predictions to push for {model!r}; models: {', '.join(payloads)}",
            details=[{"field": "model", "message": "unknown model"}],
        )
    return payloads[model](service)


def _demand(service: RestaurantService) -> dict[str, Any]:
    data = service.demand_data()
    first_day = (data.daily_until + pd.Timedelta(days=1)).date()
    days = min(PUSH_DAYS, service.settings.daily_horizon_days)
    last_day = first_day + timedelta(days=days - 1)
    out: dict[str, Any] = {"days": []}
    daily = {
        measure: service.demand(DemandQuery(first_day, last_day, "day", measure))
        for measure in ("orders", "items")
    }
    for i, point in enumerate(daily["orders"]["points"]):
        items = daily["items"]["points"][i]
        out["days"].append(
            {
                "date": point["at"][:10],
                "open": point["open"],
                "orders": _rounded(point),
                "items": _rounded(items),
            }
        )
    categories = service.menu()["categories"]
    out["items_by_category"] = {
        c: _rounded(
            service.demand(DemandQuery(first_day, last_day, "day", "items", category=c))["total"]
        )
        for c in categories
    }
    next_hours = service.demand(DemandQuery(first_day, first_day, "hour", "orders"))
    out["next_day_hourly_orders"] = [
        {"at": p["at"], **_rounded(p)} for p in next_hours["points"] if p["open"]
    ]
    out["level"] = daily["orders"]["level"]
    return out


def _customers(service: RestaurantService) -> dict[str, Any]:
    db = service.store.db
    segments = db.frame(
        select(CustomerScoreRow.segment, func.count().label("n")).group_by(CustomerScoreRow.segment)
    )
    tiers: dict[str, int] = {}
    for tier, (low, high) in P_ALIVE_OF_TIER.items():
        p = CustomerScoreRow.p_alive
        count = db.frame(select(func.count().label("n")).where(p > low, p <= high))
        tiers[tier] = int(count["n"].iloc[0])
    page, _ = service.store.scores(
        segment=None, churn_tier="high", min_clv=None, order_by="clv", limit=TOP_AT_RISK, offset=0
    )
    return {
        "segments": {str(r.segment): int(r.n) for r in segments.itertuples()},
        "churn_tiers": tiers,
        "high_risk_by_value": page["customer_id"].astype(str).tolist(),
    }


def _kitchen(service: RestaurantService) -> dict[str, Any]:
    """Ticket minutes for one of each menu item and size, at the next opening's load."""
    items = []
    at = None
    for item_id, (_, sizes) in sorted(service.kitchen.history().menu.items()):
        for size in sizes or (None,):
            answer = service.kitchen.item(item_id, size)
            at = answer["ordered_at"]
            items.append(
                {"item_id": item_id, "size": size}
                | {k: round(float(answer[k]), 2) for k in ("ticket_minutes", "lower", "upper")}
            )
    return {"ordered_at": at, "level": LEVEL, "items": items}


def _delivery(service: RestaurantService) -> dict[str, Any]:
    """Delivery minutes per open hour of the week for the quartiles of past distances
    (a basket of three items, the median of the delivery data)."""
    distances = service.store.orders()["delivery_distance"].dropna()
    if distances.empty:
        return {}
    quartiles = [round(float(d), 2) for d in distances.quantile([0.25, 0.5, 0.75])]
    rows = []
    for day in DAYS:
        for hour in range(24):
            try:
                minutes = [
                    service.kitchen.delivery(
                        DeliveryRequest(hour=hour + 0.5, day=day, distance=d, item_count=3)
                    )["delivery_minutes"]
                    for d in quartiles
                ]
            except InvalidInput:  # closed then: no delivery to estimate
                continue
            rows.append({"day": day, "hour": hour, "minutes": [round(m, 1) for m in minutes]})
    return {"distances": quartiles, "item_count": 3, "by_hour": rows}


def _rounded(point: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(point[k]), 2) for k in ("value", "lower", "upper")}
