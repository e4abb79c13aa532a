"""The kitchen and delivery models as the app declares them to the platform: trained
daily, each only when enough orders carry its target."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from foresight.apps.restaurant.kitchen_model import (
    DELIVERY,
    DELIVERY_TIME,
    KITCHEN,
    KITCHEN_TIME,
    MIN_ROWS,
    delivery_default,
    kitchen_default,
    rule_of,
)
from foresight.apps.restaurant.kitchen_service import KitchenPart
from foresight.apps.restaurant.lookup import restaurant_service
from foresight.apps.restaurant.tables import OrderRow
from foresight.platform.apps import Metric, ModelSpec
from foresight.platform.training import Progress, TrainingOutcome

if TYPE_CHECKING:
    from foresight.apps.restaurant.schemas import RestaurantSettings
    from foresight.platform.runtime import Platform


def _part(platform: Platform) -> KitchenPart:
    return restaurant_service(platform).kitchen


def _train_kitchen(platform: Platform, progress: Progress) -> TrainingOutcome:
    return _part(platform).train(KITCHEN_TIME, progress)


def _train_delivery(platform: Platform, progress: Progress) -> TrainingOutcome:
    return _part(platform).train(DELIVERY_TIME, progress)


def _enough(column: str) -> Callable[[Platform], bool]:
    """Due only with enough orders that carry the target (a dine-in-only RMS has no
    delivery times: its daily slot is skipped, not failed and retried)."""

    def due(platform: Platform) -> bool:
        db = _part(platform).service.store.db
        with db.session() as s:
            have = s.scalar(select(func.count()).where(getattr(OrderRow, column).is_not(None)))
        return int(have or 0) >= MIN_ROWS

    return due


def _headline(what: str) -> tuple[Metric, ...]:
    return (
        Metric("holdout_mae_minutes", f"{what} holdout MAE (min)", higher_is_better=False),
        Metric("rule_holdout_mae_minutes", "rate rule MAE (min)", higher_is_better=False),
        Metric("holdout_coverage_minutes", "90 % interval coverage"),
    )


def model_specs(settings: RestaurantSettings) -> list[ModelSpec]:
    """The kitchen and delivery models (trained daily)."""
    common: dict[str, Any] = {
        "gate_metric": "holdout_mae_minutes",
        "schedule": settings.kitchen_schedule,
        "rule": rule_of,
        "task": "regression",
    }
    return [
        ModelSpec(
            name=KITCHEN,
            title=KITCHEN_TIME.title,
            train=_train_kitchen,
            due=_enough("ticket_minutes"),
            headline=_headline("ticket"),
            default=kitchen_default,
            **common,
        ),
        ModelSpec(
            name=DELIVERY,
            title=DELIVERY_TIME.title,
            train=_train_delivery,
            due=_enough("delivery_minutes"),
            headline=_headline("delivery"),
            default=delivery_default,
            **common,
        ),
    ]
