"""The sales service: imports, training, and the forecasts the API serves (top products,
per product or category, backtest).

Forecasts are materialised at training time for ``HORIZON`` days after the last day of
data; requests slice them, so they cost no model fitting. If newer data arrives before
the next retraining, windows are shifted by the days since training. When the stored
forecast cannot answer (no model, an unreadable one, or a window past its horizon) the
platform's fallback chain hands the service the rule baseline: seasonal naive on the
latest data, and the answer says so.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import IntegrityError

from foresight.apps.sales import features as sf
from foresight.apps.sales.features import HOLDOUT, HORIZON, MIN_DAYS, PERIODS, SEASON
from foresight.apps.sales.model import (
    MODEL_NAME,
    SalesDataset,
    SalesModel,
    SalesTrainingSpec,
    backtest_report,
    default_rule,
    predicted_on,
    window_sum,
)
from foresight.apps.sales.schemas import SalesSettings
from foresight.apps.sales.store import SalesStore
from foresight.platform.apps import ImportResult
from foresight.platform.data_version import DataVersion, cached_answer
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.forecasting import ensemble
from foresight.platform.forecasting.baselines import seasonal_naive_path
from foresight.platform.forecasting.engine import ForecastConfig
from foresight.platform.forecasting.series import validate
from foresight.platform.monitor import Outcome
from foresight.platform.runtime import Platform
from foresight.platform.schemas import OutcomeIn
from foresight.platform.serving import Served
from foresight.platform.training import Progress, TrainingOutcome, no_progress

CACHE_TTL = 3600.0  # the seed's TTL for top products


class SalesService:
    def __init__(self, platform: Platform, settings: SalesSettings) -> None:
        self.p = platform
        self.settings = settings
        self.store = SalesStore(platform.db)
        self.cache = platform.cache_for("sales")
        self._data_version = DataVersion(self.store.data_version)

    # ---- data ------------------------------------------------------------------------------
    def import_frame(
        self,
        frame: pd.DataFrame,
        *,
        source: str,
        mode: str = "replace",
        actor: str = "cli",
        idempotency_key: str | None = None,
    ) -> ImportResult:
        """Load transactions (all rows or none). ``replace`` swaps the whole history,
        ``append`` adds to it; a repeated ``idempotency_key`` changes nothing."""
        if idempotency_key is not None and (earlier := self._earlier(idempotency_key)):
            return earlier
        tx = sf.check_transactions(frame)
        days = tx["sold_at"].dt.normalize()
        message = (
            f"{len(tx):,} transactions ({mode}) for {tx['product_id'].nunique()} products, "
            f"{days.min().date()} to {days.max().date()}"
        )
        try:
            batch = self.store.write(
                tx,
                mode=mode,
                source=source,
                actor=actor,
                message=message,
                idempotency_key=idempotency_key,
            )
        except IntegrityError:
            # A concurrent retry with the same key committed first: its answer is ours.
            if idempotency_key is None or not (earlier := self._earlier(idempotency_key)):
                raise
            return earlier
        self.invalidate()
        return ImportResult(
            rows=len(tx),
            message=message,
            details={"products": int(tx["product_id"].nunique()), "batch": batch},
        )

    def _earlier(self, idempotency_key: str) -> ImportResult | None:
        """The answer an earlier import with this key gave, marked as a duplicate."""
        earlier = self.store.previous_import(idempotency_key)
        if earlier is None:
            return None
        return ImportResult(
            rows=earlier.rows,
            message=f"already imported (batch {earlier.id}): {earlier.message or ''}",
            details={"batch": earlier.id, "duplicate": True},
        )

    def ingest(
        self, transactions: list[dict[str, Any]], *, actor: str, idempotency_key: str | None
    ) -> ImportResult:
        """Append transactions posted to the API. Without a key, the body's own digest
        is the key: a client that retries the same post cannot double the sales."""
        key = (
            idempotency_key
            or "body:"
            + hashlib.sha256(
                json.dumps(transactions, sort_keys=True, default=str).encode()
            ).hexdigest()
        )
        return self.import_frame(
            pd.DataFrame(transactions),
            source="api",
            mode="append",
            actor=actor,
            idempotency_key=key,
        )

    def import_regressors(self, frame: pd.DataFrame, *, source: str, actor: str) -> ImportResult:
        """Indicators by date: a ``date`` column plus one numeric column per indicator."""
        records, names, (first, last) = sf.check_regressors(frame)
        self.store.write_regressors(records, names, source=source, actor=actor)
        self.invalidate()
        return ImportResult(
            rows=len(frame),
            message=f"{len(records):,} values of {', '.join(names)} "
            f"({first} to {last}); used from the next training",
        )

    def invalidate(self) -> None:
        """New data: drop cached answers here and make other replicas notice within 1 s."""
        self._data_version.forget()
        self.cache.clear("forecast:")

    def data_version(self) -> tuple[int, date | None]:
        """(latest import id, latest day of data), re-read at most once a second."""
        return self._data_version.get()

    def products(self) -> dict[str, dict[str, str]]:
        return self.store.products()

    def dataset(self) -> SalesDataset:
        """Daily units per product and per category, zero-filled, with regressors joined."""
        daily = self.store.daily()
        if daily.empty:
            raise InvalidInput("no sales data yet: run `foresight import sales FILE.csv` first")
        span = (daily["day"].max() - daily["day"].min()).days + 1
        if span < MIN_DAYS:
            raise InvalidInput(
                f"{span} days of sales history; training needs at least {MIN_DAYS} "
                f"(the {HOLDOUT}-day holdout plus four weeks)"
            )
        products = self.store.products()
        long, groups, digest = sf.daily_series(daily, products, self.store.regressors())
        return SalesDataset(validate(long, freq="D"), groups, daily, products, digest)

    # ---- training ------------------------------------------------------------------------
    def config(self, horizon: int = HORIZON, n_windows: int = 2) -> ForecastConfig:
        return ForecastConfig(
            horizon=horizon,
            n_windows=n_windows,
            step=HOLDOUT,
            country=self.settings.country or None,
            seed=self.p.settings.seed,
        )

    def train(self, progress: Progress = no_progress) -> TrainingOutcome:
        spec = SalesTrainingSpec(self.dataset, self.config)
        outcome = self.p.pipeline.run(spec, self.p.training_context(progress))
        if outcome.promoted:
            self.invalidate()
        return outcome

    def retrain_due(self) -> bool:
        """Whether a scheduled retraining has anything to learn from."""
        return self.store.has_data()

    # ---- serving -------------------------------------------------------------------------
    def served(self) -> Served:
        return self.p.serve(MODEL_NAME)

    def _forecaster(self, days: int) -> tuple[Served, SalesModel | None, int]:
        """What answers a window of ``days`` from the latest data: the stored ensemble
        (with its offset) when it covers the window, else the rule baseline."""
        served = self.served()
        _, last = self.data_version()
        model = served.model if isinstance(served.model, SalesModel) else None
        if model is not None and last is not None:
            offset = max(0, (last - model.trained_until).days)
            if offset + days <= model.result.horizon:
                return served, model, offset
        rule = Served(default_rule(), served.version, served.fallback or "rule_baseline")
        if served.version is None:
            rule = Served(default_rule(), None, "default")
        elif model is not None:
            self.p.metrics.fallbacks.labels(MODEL_NAME, "rule_baseline").inc()
        return rule, None, 0

    def _check_category(self, category: str | None) -> None:
        if category is not None and category not in (known := self.store.categories()):
            raise InvalidInput(f"unknown category {category!r}; categories: {', '.join(known)}")

    def top_products(self, period: str, category: str | None, limit: int) -> dict[str, Any]:
        """Products ranked by forecast revenue over the next period (cached per the seed)."""
        if period not in PERIODS:
            raise InvalidInput(f"time_period must be one of {', '.join(PERIODS)} (got {period!r})")
        served = self.served()
        data_version, _ = self.data_version()
        key = f"forecast:{category or 'all'}:{period}:{served.cache_tag}"

        def compute() -> dict[str, Any]:
            # Checked only on a miss: a cached key was validated when it was stored, so a
            # hit costs no database query.
            self._check_category(category)
            return self._compute_top(period, category)

        body = cached_answer(self.cache, key, CACHE_TTL, data_version, compute)
        body["ranked"] = len(body["products"])
        body["products"] = body["products"][:limit]
        body["total"] = len(body["products"])
        return body

    def _compute_top(self, period: str, category: str | None) -> dict[str, Any]:
        days = PERIODS[period]
        served, model, offset = self._forecaster(days)
        _, last = self.data_version()
        daily = self.store.daily()
        if category:
            daily = daily[daily["category"] == category]
        recent = (
            daily[daily["day"] > pd.Timestamp(last) - pd.Timedelta(days=days)] if last else daily
        )
        previous = recent.groupby("product_id")["units"].sum()
        price = sf.unit_prices(daily, last)
        out = []
        for pid, info in self.store.products().items():
            if category and info["category"] != category:
                continue
            # A product newer than the model's training has no stored forecast: the rule
            # baseline answers for it until the next training.
            if model is not None and sf.product_uid(pid) in model.result.uids:
                row = model.result.index(sf.product_uid(pid))
                units, lo, hi = window_sum(model, row, offset, days, 80.0)
                interval, method = [round(lo, 2), round(hi, 2)], "ensemble"
            else:
                method = "seasonal_naive"
                history = sf.series_history(daily, product_id=pid, category=None)
                point = seasonal_naive_path(history, days, 80.0, season=SEASON)[0]
                units, interval = float(point.sum()), None
            prev_units = float(previous.get(pid, 0.0))
            unit_price = price.get(pid, model.unit_price.get(pid, 0.0) if model else 0.0)
            pct, word = sf.trend(units, prev_units)
            out.append(
                {
                    "product_id": pid,
                    "name": info["name"],
                    "category": info["category"],
                    "forecast_units": round(units, 2),
                    "forecast_revenue": round(units * unit_price, 2),
                    "interval_80": interval,
                    "previous_units": round(prev_units, 2),
                    "trend_pct": pct,
                    "trend": word,
                    "method": method,
                }
            )
        out.sort(key=lambda r: r["forecast_revenue"], reverse=True)
        for rank, r in enumerate(out, 1):
            r["rank"] = rank
        start = (last + timedelta(days=1)) if last else None
        return {
            "time_period": period,
            "category": category,
            "period_start": start.isoformat() if start else None,
            "period_end": (start + timedelta(days=days - 1)).isoformat() if start else None,
            "products": out,
            "generated_at": self.p.clock().isoformat(),
            "model_version": served.label,
            "fallback": served.fallback,
        }

    def forecast(
        self, product_id: str | None, category: str | None, horizon: int, level: float
    ) -> dict[str, Any]:
        """Daily forecast with an interval for one product or one category."""
        if (product_id is None) == (category is None):
            raise InvalidInput("give exactly one of product_id or category")
        ensemble.validate_levels((level,))
        if horizon > HORIZON:
            raise InvalidInput(f"horizon is at most {HORIZON} days (got {horizon})")
        if product_id is not None and product_id not in self.store.products():
            raise NotFound(f"unknown product_id {product_id!r}")
        self._check_category(category)
        served, model, offset = self._forecaster(horizon)
        daily = self.store.daily()
        history = sf.series_history(daily, product_id=product_id, category=category)
        uid = sf.product_uid(product_id) if product_id else sf.category_uid(str(category))
        if model is not None and uid not in model.result.uids:
            served, model = Served(default_rule(), served.version, "rule_baseline"), None
        if model is not None:
            row = model.result.index(uid)
            lo, hi = model.result.bounds(level, np.array([row]))
            span = slice(offset, offset + horizon)
            dates = pd.DatetimeIndex(model.result.future[row][span])
            point, low, high = model.result.point[row][span], lo[0][span], hi[0][span]
            weights = model.result.weights[str(model.result.groups[row])]
        else:
            point, low, high = seasonal_naive_path(history, horizon, level, season=SEASON)
            start = history.index.max() + pd.Timedelta(days=1) if len(history) else pd.Timestamp(0)
            dates = pd.date_range(start, periods=horizon, freq="D")
            weights = {"seasonal_naive": 1.0}
        recent = history.iloc[-120:]
        return {
            "series": uid,
            "horizon": horizon,
            "level": level,
            "model_version": served.label,
            "fallback": served.fallback,
            "weights": weights,
            "history": [
                {"date": d.date().isoformat(), "units": float(v)} for d, v in recent.items()
            ],
            "forecast": [
                {
                    "date": d.date().isoformat(),
                    "units": round(float(p), 3),
                    "lower": round(float(a), 3),
                    "upper": round(float(b), 3),
                }
                for d, p, a, b in zip(dates, point, low, high, strict=True)
            ],
        }

    def resolve_outcome(self, item: OutcomeIn) -> Outcome:
        """Units really sold of a product (``entity``) on a day, next to the production
        forecast for that day: ``{"entity": "hawaiian", "observed": 41, "observed_at": …}``."""
        served = self.served()
        model = served.model if isinstance(served.model, SalesModel) else None
        at = item.observed_at or self.p.clock()
        entity = str(item.entity or "")
        uid = entity if entity.startswith("category:") else sf.product_uid(entity)
        predicted = predicted_on(model, uid, at.date()) if model else None
        if predicted is None or isinstance(item.observed, (bool, str)):
            raise InvalidInput(
                "give a product id as entity, the units sold as observed and a day the "
                f"production forecast covers as observed_at (got {entity!r}, {at:%Y-%m-%d})"
            )
        return Outcome(MODEL_NAME, served.label, predicted, float(item.observed), at, entity)

    def backtest(self) -> dict[str, Any]:
        """The production model's rolling-origin backtest, per group and model."""
        served = self.served()
        model = served.model if isinstance(served.model, SalesModel) else None
        if model is None:
            raise NotFound("no trained sales model answers now: run `foresight train sales`")
        return backtest_report(model, served.label)
