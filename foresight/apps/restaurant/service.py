"""The restaurant service: the RMS connection (read-only, opened on first use), the sync
into the mirror, training, and the answers the API serves, cached with the seed's keys
and TTLs and dropped when new RMS rows arrive (every cached value carries the sync id it
was computed from)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from foresight.apps.restaurant.customer_service import CustomerPart
from foresight.apps.restaurant.demand import DemandConfig, DemandTrainingSpec
from foresight.apps.restaurant.demand_answers import DemandAnswers, DemandQuery
from foresight.apps.restaurant.features import (
    DemandData,
    demand_data,
    menu_items,
)
from foresight.apps.restaurant.inventory_service import InventoryPart
from foresight.apps.restaurant.kitchen_service import KitchenPart
from foresight.apps.restaurant.mapping import RmsMapping
from foresight.apps.restaurant.model import DEMAND
from foresight.apps.restaurant.rms import RmsCheck, RmsReader
from foresight.apps.restaurant.rms_health import RmsHealth
from foresight.apps.restaurant.schemas import RestaurantSettings
from foresight.apps.restaurant.store import RestaurantStore
from foresight.apps.restaurant.sync import Sync, SyncReport
from foresight.platform.data_version import DataVersion, cached_answer
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.runtime import Platform
from foresight.platform.serving import Served
from foresight.platform.sources import ReadOnlySource
from foresight.platform.training import Progress, TrainingOutcome, no_progress


def demo_rms_path(platform: Platform) -> Path:
    """Where the demo builds its RMS when ``FORESIGHT_RESTAURANT_RMS_URL`` is unset."""
    return platform.settings.data_dir / "restaurant" / "rms.sqlite"


class RestaurantService:
    def __init__(self, platform: Platform, settings: RestaurantSettings) -> None:
        self.p = platform
        self.settings = settings
        self.store = RestaurantStore(platform.db)
        self.cache = platform.cache_for("restaurant")
        self.opening = settings.hours()
        self.demand_answers = DemandAnswers(
            self.opening, settings.hourly_horizon_days, settings.daily_horizon_days
        )
        self._reader: RmsReader | None = None
        self._lock = threading.Lock()
        self._data_version = DataVersion(self.store.data_version)  # the latest sync id
        self._demand_data: tuple[tuple[int, int], DemandData] | None = None
        self.rms_health = RmsHealth(self.reader, lambda: self.store.span()[1], platform.clock)
        # Counts synced rows for /metrics (the app's register_metrics sets it).
        self.on_synced: Callable[[dict[str, int]], None] = lambda rows: None
        self.customers = CustomerPart(self)
        self.kitchen = KitchenPart(self)
        self.inventory = InventoryPart(self)

    # ---- the RMS -------------------------------------------------------------------------------
    @property
    def rms_url(self) -> str:
        return self.settings.rms_url or f"sqlite:///{demo_rms_path(self.p)}"

    def mapping(self) -> RmsMapping:
        s = self.settings
        return RmsMapping.load(s.rms_mapping, s.rms_mapping_json)

    def reader(self) -> RmsReader:
        """The RMS reader, opened read-only on first use (a refusal names the setting)."""
        with self._lock:
            if self._reader is None:
                mapping = self.mapping()
                try:
                    source = ReadOnlySource.open(
                        self.rms_url,
                        statement_timeout_ms=self.settings.rms_statement_timeout_ms,
                        require_readonly_role=self.settings.rms_require_readonly_role,
                        tables=[t.table for t in mapping.tables().values()],
                    )
                except InvalidInput as exc:
                    raise InvalidInput(
                        f"FORESIGHT_RESTAURANT_RMS_URL: {exc.message}", details=exc.details
                    ) from None
                self._reader = RmsReader(
                    source, mapping, self.settings.zone, self.settings.restaurant_id
                )
            return self._reader

    def has_rms(self) -> bool:
        """An RMS is configured, or the demo built one (else a sync has nothing to read)."""
        return self.settings.rms_url is not None or demo_rms_path(self.p).exists()

    def check_rms(self) -> RmsCheck:
        return self.reader().check()

    def close(self) -> None:
        with self._lock:
            if self._reader is not None:
                self._reader.source.dispose()
                self._reader = None

    # ---- sync ------------------------------------------------------------------------------------
    def sync_now(self, *, full: bool = False) -> SyncReport:
        """Read what is new in the RMS into the mirror and drop the answers it changes."""
        s = self.settings
        before = self.store.data_version()
        try:
            sync = Sync(
                self.reader(),
                self.store,
                batch_rows=s.sync_batch_rows,
                lookback_hours=s.sync_lookback_hours,
                clock=self.p.clock,
            )
            report = sync.run(full=full)
        except Exception as exc:  # the RMS (or the mirror) failed: /health says so at once
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            self.rms_health.record(ok=False, error=str(message)[:300])
            raise
        self.rms_health.record(ok=True, last_sync_rows=sum(report.rows.values()))
        self.on_synced(report.rows)
        if report.sync_id != before:  # the store moves the id only when data changed
            self.invalidate()
        return report

    def invalidate(self) -> None:
        """New data: drop cached answers here; other replicas see the new sync id in 1 s."""
        self._data_version.forget()
        self._demand_data = None
        self.customers.forget()
        self.cache.clear()  # every answer (and the menu) is built from the mirror

    def data_version(self) -> int:
        """The latest sync id, re-read at most once a second (0 before any sync)."""
        return self._data_version.get()

    def features_version(self) -> tuple[int, int]:
        """What features computed from the mirror are kept for: the sync id and the
        current ``features_ttl`` window (seed: 6 h), so they follow new rows at once and
        are rebuilt at least that often anyway."""
        window = int(time.monotonic() // max(self.settings.features_ttl, 1.0))
        return self.data_version(), window

    def has_orders(self) -> bool:
        return self.store.has_orders()

    # ---- features ----------------------------------------------------------------------------
    def demand_data(self) -> DemandData:
        """The demand series of the mirror as of the latest sync (kept per sync id)."""
        version = self.features_version()
        memo = self._demand_data
        if memo is not None and memo[0] == version:
            return memo[1]
        s = self.settings
        orders = self.store.orders()
        if orders.empty:
            raise InvalidInput(
                "no orders mirrored yet: run `foresight restaurant sync` (or `foresight demo`)"
            )
        data = demand_data(
            orders,
            self.store.lines(),
            self.store.menu(),
            tz=s.zone,
            opening=self.opening,
            now=self.data_clock(),
            hourly_weeks=s.hourly_history_weeks,
        )
        self._demand_data = (version, data)
        return data

    def data_clock(self) -> datetime:
        """The time the mirror is complete up to: the last sync, not now (a day synced at
        21:00 is not a whole day, however late it is now)."""
        state = self.store.sync_state()
        now = self.p.clock()
        return now if state is None else min(now, _aware(state.synced_at))

    def _checked_demand_data(self) -> DemandData:
        data = self.demand_data()
        days = (data.daily_until - pd.Timestamp(data.daily["ds"].min())).days + 1
        need = self.settings.holdout_days + 28
        if days < need:
            raise InvalidInput(
                f"{days} days of orders; demand training needs at least {need} "
                f"(the {self.settings.holdout_days}-day holdout plus four weeks)"
            )
        return data

    # ---- training ------------------------------------------------------------------------------
    def demand_spec(self) -> DemandTrainingSpec:
        s = self.settings
        config = DemandConfig(
            hourly_horizon_days=s.hourly_horizon_days,
            daily_horizon_days=s.daily_horizon_days,
            holdout_days=s.holdout_days,
            country=s.country,
            seed=self.p.settings.seed,
        )
        return DemandTrainingSpec(self._checked_demand_data, self.opening, config)

    def train_demand(self, progress: Progress = no_progress) -> TrainingOutcome:
        outcome = self.p.pipeline.run(self.demand_spec(), self.p.training_context(progress))
        if outcome.promoted:
            self.invalidate()
        return outcome

    # ---- answers ---------------------------------------------------------------------------------
    def cached(self, key: str, ttl: float, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """The cached answer for ``key`` if it was computed from the latest sync, else a
        fresh one (stored for ``ttl`` seconds); ``cached`` in the body says which."""
        version = self.data_version()
        enabled = self.settings.cache_enabled
        return cached_answer(self.cache, key, ttl, version, compute, enabled=enabled)

    def demand(self, query: DemandQuery, restaurant_id: str | None = None) -> dict[str, Any]:
        """Orders or items per hour or day over a date range, with an interval."""
        self._check_restaurant(restaurant_id)
        query = replace(query, start=self._local(query.start), end=self._local(query.end))
        served = self.p.serve(DEMAND)
        key = (
            f"demand:{self.settings.restaurant_id}:{query.granularity}:{query.measure}:"
            f"{query.item_id or ''}:{query.category or ''}:{query.start}:{query.end}:"
            f"{query.level:g}:{served.cache_tag}"
        )
        return self.cached(key, self.settings.demand_ttl, lambda: self._demand(query, served))

    def _demand(self, query: DemandQuery, served: Served) -> dict[str, Any]:
        data = self.demand_data()
        body = self.demand_answers.answer(query, served, data)
        body.update(
            restaurant_id=self.settings.restaurant_id,
            timezone=self.settings.timezone,
            data_until=data.daily_until.strftime("%Y-%m-%d")
            if query.granularity == "day"
            else data.hourly_until.strftime("%Y-%m-%dT%H:%M"),
            generated_at=self.p.clock().isoformat(),
        )
        return body

    def _local(self, value: Any) -> Any:
        """A time with a zone as the restaurant's wall time (naive); others as given."""
        if isinstance(value, datetime) and value.tzinfo is not None:
            return value.astimezone(self.settings.zone).replace(tzinfo=None)
        return value

    def _check_restaurant(self, restaurant_id: str | None) -> None:
        if restaurant_id is not None and restaurant_id != self.settings.restaurant_id:
            raise NotFound(
                f"unknown restaurant_id {restaurant_id!r}; this service answers for "
                f"{self.settings.restaurant_id!r}",
                details=[{"field": "restaurant_id", "message": "unknown restaurant"}],
            )

    def menu(self) -> dict[str, Any]:
        """Items, sizes, categories, opening hours and the forecastable window (cached
        until the next sync)."""
        return self.cached("menu", self.settings.demand_ttl, self._menu)

    def _menu(self) -> dict[str, Any]:
        items = menu_items(self.store.menu())
        first, last = self.store.span()
        forecast_from = None
        if last is not None:
            until = self.demand_data().daily_until
            forecast_from = (until + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
        shown = [
            None if t is None else pd.Timestamp(t).tz_convert(self.settings.zone)
            for t in (first, last)
        ]
        return {
            "restaurant_id": self.settings.restaurant_id,
            "timezone": self.settings.timezone,
            "opening_hours": self.opening.describe(),
            "closed_dates": [d.isoformat() for d in self.settings.closed_dates],
            "data_from": None if shown[0] is None else shown[0].strftime("%Y-%m-%dT%H:%M"),
            "data_until": None if shown[1] is None else shown[1].strftime("%Y-%m-%dT%H:%M"),
            "hourly_horizon_days": self.settings.hourly_horizon_days,
            "daily_horizon_days": self.settings.daily_horizon_days,
            "forecast_from": forecast_from,
            "categories": sorted({i["category"] for i in items}),
            "items": items,
        }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
