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
from sqlalchemy.exc import OperationalError

from foresight.apps.restaurant import rfm
from foresight.apps.restaurant.customers import (
    CUSTOMERS,
    CustomerData,
    CustomerModel,
    CustomerTrainingSpec,
    customer_answer,
    score_table,
    visits_fingerprint,
)
from foresight.apps.restaurant.demand import DemandConfig, DemandTrainingSpec
from foresight.apps.restaurant.demand_answers import DemandAnswers, DemandQuery
from foresight.apps.restaurant.features import (
    DemandData,
    demand_data,
    last_complete_slot,
    local,
    menu_items,
)
from foresight.apps.restaurant.mapping import RmsMapping
from foresight.apps.restaurant.model import DEMAND
from foresight.apps.restaurant.rms import RmsCheck, RmsReader
from foresight.apps.restaurant.schemas import RestaurantSettings
from foresight.apps.restaurant.store import RestaurantStore
from foresight.apps.restaurant.sync import Sync, SyncReport
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.runtime import Platform
from foresight.platform.serving import Served
from foresight.platform.sources import ReadOnlySource
from foresight.platform.training import Progress, TrainingOutcome, no_progress

DATA_VERSION_TTL = 1.0  # how long a replica trusts its view of the latest sync


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
        self._data_version: tuple[float, int] | None = None
        self._demand_data: tuple[int, DemandData] | None = None
        self._customer_data: tuple[int, CustomerData, pd.DataFrame] | None = None

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
        sync = Sync(
            self.reader(),
            self.store,
            batch_rows=s.sync_batch_rows,
            lookback_hours=s.sync_lookback_hours,
            clock=self.p.clock,
        )
        before = self.store.data_version()
        report = sync.run(full=full)
        if report.sync_id != before:  # the store moves the id only when data changed
            self.invalidate()
        return report

    def invalidate(self) -> None:
        """New data: drop cached answers here; other replicas see the new sync id in 1 s."""
        self._data_version = None
        self._demand_data = None
        self._customer_data = None
        for prefix in ("demand:", "customer:", "features:"):
            self.cache.clear(prefix)

    def data_version(self) -> int:
        """The latest sync id, re-read at most once a second (0 before any sync)."""
        now = time.monotonic()
        cached = self._data_version
        if cached is not None and now - cached[0] < DATA_VERSION_TTL:
            return cached[1]
        try:
            version = self.store.data_version()
        except OperationalError:
            if cached is None:
                raise
            return cached[1]  # database away: cached answers stay served
        self._data_version = (now, version)
        return version

    def has_orders(self) -> bool:
        return self.store.has_orders()

    # ---- features ----------------------------------------------------------------------------
    def demand_data(self) -> DemandData:
        """The demand series of the mirror as of the latest sync (kept per sync id)."""
        version = self.data_version()
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
            now=self._data_clock(),
            hourly_weeks=s.hourly_history_weeks,
        )
        self._demand_data = (version, data)
        return data

    def _data_clock(self) -> datetime:
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
        if self.settings.cache_enabled:
            hit = self.cache.get(key)
            if hit is not None and hit.get("_data_version") == version:
                body = dict(hit)
                body.pop("_data_version", None)
                body["cached"] = True
                return body
        body = compute()
        if self.settings.cache_enabled:
            self.cache.set(key, {**body, "_data_version": version}, ttl)
        body["cached"] = False
        return body

    def demand(self, query: DemandQuery, restaurant_id: str | None = None) -> dict[str, Any]:
        """Orders or items per hour or day over a date range, with an interval."""
        self._check_restaurant(restaurant_id)
        query = replace(query, start=self._local(query.start), end=self._local(query.end))
        served = self.p.serve(DEMAND)
        version = served.version.version if served.version else 0
        key = (
            f"demand:{self.settings.restaurant_id}:{query.granularity}:{query.measure}:"
            f"{query.item_id or ''}:{query.category or ''}:{query.start}:{query.end}:"
            f"{query.level:g}:v{version}{served.fallback or ''}"
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

    # ---- customers -------------------------------------------------------------------------------
    def customer_data(self) -> tuple[CustomerData, pd.DataFrame]:
        """Visit days per customer up to the last complete day, and their RFM table (kept
        per sync id)."""
        version = self.data_version()
        memo = self._customer_data
        if memo is not None and memo[0] == version:
            return memo[1], memo[2]
        visits = self.store.visits()
        if visits.empty:
            raise InvalidInput("no orders with a customer_id mirrored yet")
        _, last = self.store.span()
        assert last is not None  # there are visits, so there are orders
        now = pd.Timestamp(self._data_clock()).tz_convert(self.settings.zone).tz_localize(None)
        last_local = pd.Timestamp(last).tz_convert(self.settings.zone).tz_localize(None)
        as_of = last_complete_slot(last_local, now, "D")
        frame = pd.DataFrame(
            {
                "customer_id": visits["customer_id"].astype(str),
                "day": local(visits["ordered_at"], self.settings.zone).dt.normalize(),
                "amount": visits["revenue"].astype(float),
            }
        )
        frame = frame[frame["day"] <= as_of].reset_index(drop=True)
        data = CustomerData(
            frame, as_of, self.settings.customer_holdout_days, visits_fingerprint(frame)
        )
        table = rfm.rfm_table(frame, as_of)
        self._customer_data = (version, data, table)
        return data, table

    def train_customers(self, progress: Progress = no_progress) -> TrainingOutcome:
        spec = CustomerTrainingSpec(lambda: self.customer_data()[0])
        outcome = self.p.pipeline.run(spec, self.p.training_context(progress))
        self.write_scores()
        return outcome

    def _customer_link(
        self, served: Served, table: pd.DataFrame
    ) -> tuple[Any, dict[str, list[float]]]:
        model = served.model
        if isinstance(model, CustomerModel):
            return model, model.cuts
        return model, rfm.cut_points(table)

    def write_scores(self) -> int:
        """Score every customer with the link that answers now (list endpoint, push)."""
        served = self.p.serve(CUSTOMERS)
        _, table = self.customer_data()
        link, cuts = self._customer_link(served, table)
        scored = score_table(table, link, cuts)
        columns = [
            "customer_id",
            "segment",
            "recency_days",
            "frequency",
            "monetary",
            "clv_12m",
            "p_alive",
            "expected_visits_30d",
        ]
        frame = scored[columns].assign(model_version=served.label, scored_at=self.p.clock())
        self.store.write_scores(frame)
        self.cache.clear("customer:")
        return len(frame)

    def customer(self, customer_id: str) -> dict[str, Any]:
        """One customer's segment, value, churn risk and next expected visit."""
        served = self.p.serve(CUSTOMERS)
        version = served.version.version if served.version else 0
        key = f"customer:{customer_id}:v{version}{served.fallback or ''}"
        return self.cached(
            key, self.settings.customer_ttl, lambda: self._customer(customer_id, served)
        )

    def _customer(self, customer_id: str, served: Served) -> dict[str, Any]:
        data, table = self.customer_data()
        row = table[table["customer_id"] == customer_id]
        if row.empty:
            raise NotFound(
                f"unknown customer_id {customer_id!r} (no visit up to {data.as_of:%Y-%m-%d})",
                details=[{"field": "customer_id", "message": "unknown customer"}],
            )
        link, cuts = self._customer_link(served, table)
        scored = score_table(row.reset_index(drop=True), link, cuts).iloc[0]
        body = customer_answer(scored, data.as_of, link)
        return body | {"model_version": served.label, "fallback": served.fallback}

    def customers(self, **filters: Any) -> dict[str, Any]:
        """A page of customers by value or risk, from the scores of the last training."""
        frame, total = self.store.scores(**filters)
        records = frame.drop(columns=["model_version", "scored_at"]).astype(object)
        records = records.where(records.notna(), None)
        return {
            "customers": records.to_dict("records"),
            "total": total,
            "scored_at": frame["scored_at"].max().isoformat() if len(frame) else None,
            "model_version": str(frame["model_version"].iloc[0]) if len(frame) else None,
        }


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
