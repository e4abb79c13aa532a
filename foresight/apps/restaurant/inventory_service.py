"""Inventory: the weekly model's training from the mirror, and per-ingredient reorder
advice with expiry warnings, cached until new data (key ``inventory:…``, the demand TTL)
under both fallback chains it rides on (inventory's and demand's)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from foresight.apps.restaurant.features import DemandData
from foresight.apps.restaurant.inventory import (
    INVENTORY,
    MIN_HISTORY_DAYS,
    TARGET,
    InventoryAnswers,
    InventoryData,
    InventoryDefault,
    InventoryTrainingSpec,
    inventory_rule,
)
from foresight.apps.restaurant.inventory_data import (
    DEFAULT_LEAD_TIME_DAYS,
    REVIEW_DAYS,
    ItemForecast,
    StockInputs,
    as_of,
    item_forecast,
    share_window_start,
    size_shares,
    stock_batches,
    training_data,
)
from foresight.apps.restaurant.lookup import restaurant_service
from foresight.apps.restaurant.model import DEMAND
from foresight.apps.restaurant.usage import usage_ahead
from foresight.platform.apps import Metric, ModelSpec
from foresight.platform.runtime import Platform
from foresight.platform.serving import Served
from foresight.platform.training import Progress, TrainingOutcome, no_progress

if TYPE_CHECKING:
    from foresight.apps.restaurant.schemas import RestaurantSettings
    from foresight.apps.restaurant.service import RestaurantService

DECIMALS = 3  # grams (or ml, pieces) to a thousandth: no float noise in the answers
ROUNDED = (
    "on_hand",
    "usable_on_hand",
    "daily_usage",
    "days_of_cover",
    "safety_stock",
    "reorder_point",
    "order_up_to",
    "suggested_order_qty",
    "quantity",
    "unusable",
)


class InventoryPart:
    """Per-ingredient reorder advice and expiry warnings, cached until new data."""

    def __init__(self, service: RestaurantService) -> None:
        self.service = service
        self.answers = InventoryAnswers(DEFAULT_LEAD_TIME_DAYS)
        self._inputs_memo: tuple[object, StockInputs] | None = None
        self._usage_memo: tuple[object, tuple[dict[str, list[float]], ItemForecast]] | None = None

    # ---- training --------------------------------------------------------------------------
    def data(self) -> InventoryData:
        """The inventory model's training inputs, as of the latest sync."""
        s, store = self.service.settings, self.service.store
        demand = self.service.demand_data()
        return training_data(
            demand,
            lines=store.lines(since=share_window_start(demand.daily_until, s.zone)),
            recipes=store.recipes(),
            ingredients=store.ingredients(),
            tz=s.zone,
            opening=self.service.opening,
            country=s.country,
            seed=self.service.p.settings.seed,
        )

    def train(self, progress: Progress = no_progress) -> TrainingOutcome:
        """Calibrate the usage-error quantiles through the platform pipeline."""
        p = self.service.p
        outcome = p.pipeline.run(InventoryTrainingSpec(self.data), p.training_context(progress))
        if outcome.promoted:
            self.service.cache.clear("inventory:")
        return outcome

    # ---- answers ---------------------------------------------------------------------------
    def advice(
        self,
        *,
        service_level: float = TARGET,
        ingredient_id: str | None = None,
        lead_time_days: float | None = None,
        review_days: float = float(REVIEW_DAYS),
    ) -> dict[str, Any]:
        """On hand, cover, reorder point and order per ingredient (or one), and the batches
        that will expire before they can be used."""
        p, s = self.service.p, self.service.settings
        served, demand = p.serve(INVENTORY), p.serve(DEMAND)
        key = ":".join(
            [
                f"inventory:{s.restaurant_id}:{service_level!r}",
                "all" if ingredient_id is None else f"ingredient={ingredient_id}",
                f"L{'own' if lead_time_days is None else repr(lead_time_days)}:R{review_days!r}",
                served.cache_tag,
                demand.cache_tag,
            ]
        )
        return self.service.cached(
            key,
            s.inventory_ttl,
            lambda: self._advice(
                served,
                demand,
                service_level=service_level,
                ingredient_id=ingredient_id,
                lead_time_days=lead_time_days,
                review_days=review_days,
            ),
        )

    def push_payload(self, model: str) -> dict[str, Any]:
        """What a scheduled run pushes to the RMS: the reorder list at 95 % and the
        batches that will expire unused, compact (a few fields each)."""
        body = self.advice()
        return {
            "as_of": body["as_of"],
            "service_level": body["service_level"],
            "method": body["method"],
            "demand_model_version": body["demand_model_version"],
            "reorder": [
                {k: a[k] for k in ("ingredient_id", "unit", "suggested_order_qty", "days_of_cover")}
                for a in body["items"]
                if a["reorder_now"]
            ],
            "expiring": [
                {k: w[k] for k in ("ingredient_id", "unit", "batch_id", "expires_at", "unusable")}
                for w in body["expiring"]
            ],
        }

    def _inputs(self) -> StockInputs:
        """The mirror's side of an answer, read once per demand data (the stock, recipes
        and size mix do not change between syncs, whatever the service level asked). Kept
        with the demand data's own version and last day, so ``today`` and the usage ahead
        always come from the same data."""
        data = self.service.demand_data()
        version = self._data_key(data)
        memo = self._inputs_memo
        if memo is not None and memo[0] == version:
            return memo[1]
        store, s = self.service.store, self.service.settings
        inputs = StockInputs(
            today=as_of(data),
            shares=size_shares(
                store.lines(since=share_window_start(data.daily_until, s.zone)),
                s.zone,
                data.daily_until,
            ),
            recipes=store.recipes(),
            ingredients=store.ingredients(),
            batches=stock_batches(store.batches(), s.zone, self.service.opening),
        )
        self._inputs_memo = (version, inputs)
        return inputs

    def _data_key(self, data: DemandData) -> tuple[object, ...]:
        return (self.service.features_version(), data.daily_until)

    def _usage(
        self, demand: Served, inputs: StockInputs
    ) -> tuple[dict[str, list[float]], ItemForecast]:
        """Usage per ingredient and day under the demand link that answers now (kept per
        sync id and demand version)."""
        data = self.service.demand_data()
        key = (self._data_key(data), inputs.today, demand.label, demand.fallback)
        memo = self._usage_memo
        if memo is not None and memo[0] == key:
            return memo[1]
        forecast = item_forecast(
            demand.model,
            data,
            self.service.opening,
            inputs.today,
            self.service.settings.daily_horizon_days,
        )
        usage = usage_ahead(
            forecast.frame, inputs.shares, inputs.recipes, inputs.today, forecast.days
        )
        self._usage_memo = (key, (usage, forecast))
        return usage, forecast

    def _advice(
        self,
        served: Served,
        demand: Served,
        *,
        service_level: float,
        ingredient_id: str | None,
        lead_time_days: float | None,
        review_days: float,
    ) -> dict[str, Any]:
        inputs = self._inputs()
        self.answers.check_ingredient(ingredient_id, inputs.ingredients)
        usage, forecast = self._usage(demand, inputs)
        body = self.answers.advise_all(
            served.model,
            usage,
            inputs.batches,
            inputs.ingredients,
            inputs.today,
            service_level=service_level,
            lead_time_days=lead_time_days,
            review_days=review_days,
            ingredient_id=ingredient_id,
        )
        # What to order now first, then the soonest to run out.
        body["items"].sort(key=lambda a: (not a["reorder_now"], _cover(a), a["ingredient_id"]))
        return _rounded(body) | {
            "restaurant_id": self.service.settings.restaurant_id,
            "review_days": review_days,
            "lead_time_days": lead_time_days,
            "model_version": served.label,
            "fallback": served.fallback,
            "demand_model_version": demand.label,
            "demand_method": forecast.method,
            "demand_fallback": demand.fallback or forecast.fallback,
            "generated_at": self.service.p.clock().isoformat(),
        }


def _cover(advice: dict[str, Any]) -> float:
    cover = advice["days_of_cover"]
    return float("inf") if cover is None else float(cover)


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: round(v, DECIMALS) if k in ROUNDED and isinstance(v, float) else _rounded(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _part(platform: Platform) -> InventoryPart:
    return restaurant_service(platform).inventory


def _train(platform: Platform, progress: Progress) -> TrainingOutcome:
    return _part(platform).train(progress)


def _due(platform: Platform) -> bool:
    """Enough days of orders for the eight weekly cut-offs (else a scheduled run would
    only fail, announced, every week), and recipes to turn items into ingredients."""
    store = _part(platform).service.store
    first, last = store.span()
    if first is None or last is None or (last - first).days + 1 < MIN_HISTORY_DAYS:
        return False
    return not store.recipes().empty


def model_specs(settings: RestaurantSettings) -> list[ModelSpec]:
    """The inventory model (trained weekly)."""
    return [
        ModelSpec(
            name=INVENTORY,
            title="Ingredient usage error for reorder points and safety stock",
            train=_train,
            gate_metric="holdout_service_gap",
            headline=(
                Metric(
                    "holdout_service_gap",
                    "|achieved service level − 95 %| (holdout)",
                    higher_is_better=False,
                ),
                Metric("holdout_usage_mase", "usage MASE (holdout)", higher_is_better=False),
                Metric("ingredients", "ingredients calibrated"),
            ),
            schedule=settings.inventory_schedule,
            due=_due,
            rule=inventory_rule,
            default=InventoryDefault,
        )
    ]
