"""The sales service: imports, daily series, training through the platform pipeline, and
the forecasts the API serves (top products, per product/category, backtest).

Forecasts are materialised at training time for ``HORIZON`` days after the last day of
data; requests slice them, so they cost no model fitting. If newer data arrives before
the next retraining, windows are shifted by the days since training; when a requested
window runs past the stored horizon, the answer comes from the rule baseline (seasonal
naive on the latest weeks) and says so.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import structlog
from sqlalchemy import delete, func, select

from foresight.apps.sales.tables import (
    SalesCategoryRow,
    SalesDailyRow,
    SalesImportRow,
    SalesProductRow,
    SalesRegressorRow,
    SalesTransactionRow,
)
from foresight.platform.apps import ImportResult
from foresight.platform.csvfile import row_numbers
from foresight.platform.errors import InvalidInput, NotFound
from foresight.platform.forecasting import ensemble, metrics
from foresight.platform.forecasting.engine import ForecastConfig, ForecastResult, forecast
from foresight.platform.forecasting.series import SeriesFrame, validate
from foresight.platform.runtime import Platform
from foresight.platform.serving import Served
from foresight.platform.training import (
    Described,
    Fitted,
    Progress,
    TrainingContext,
    TrainingOutcome,
)

log = structlog.get_logger(__name__)

NAME = "sales"
HORIZON = 91  # days forecast at training: covers the longest period (a quarter)
PERIODS = {"week": 7, "month": 30, "quarter": 91}
HOLDOUT = 30  # the seed's gate: the last 30 days, candidate against production
MIN_DAYS = HOLDOUT + 4 * 7  # shortest history worth training on
CACHE_TTL = 3600.0  # the seed's TTL for top products
DATA_VERSION_TTL = 1.0  # how long a replica trusts its view of the latest import
SEASON = 7
REQUIRED = ("product_id", "sold_at", "quantity")


def product_uid(product_id: str) -> str:
    return f"product:{product_id}"


def category_uid(category: str) -> str:
    return f"category:{category}"


@dataclass
class SalesModel:
    """What a trained sales model version holds (the registry artifact)."""

    result: ForecastResult
    trained_until: date
    unit_price: dict[str, float]
    products: dict[str, dict[str, str]]  # product_id -> {name, category}


@dataclass
class SalesDataset:
    series: SeriesFrame
    groups: dict[str, str]
    daily: pd.DataFrame
    products: dict[str, dict[str, str]]
    fingerprint: str
    holdout: dict[str, Any] = field(default_factory=dict)


class SalesService:
    def __init__(self, platform: Platform) -> None:
        self.p = platform
        self._data_version: tuple[float, int, date | None] | None = None
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None

    # ---- data ------------------------------------------------------------------------------
    def import_frame(
        self, frame: pd.DataFrame, *, source: str, mode: str = "replace", actor: str = "cli"
    ) -> ImportResult:
        """Load transactions (all rows or none). ``replace`` swaps the whole sales history;
        ``append`` adds to it (the ingestion endpoint)."""
        tx = self._check_transactions(frame)
        with self.p.db.session() as s:
            known = {
                pid: cat
                for pid, cat in s.execute(
                    select(SalesProductRow.product_id, SalesProductRow.category)
                )
            }
            if mode == "replace":
                for table in (SalesDailyRow, SalesTransactionRow, SalesProductRow):
                    s.execute(delete(table))
                s.execute(delete(SalesCategoryRow))
                known = {}
            unknown = tx.loc[~tx["product_id"].isin(list(known)), "product_id"].unique()
            if len(unknown) and "category" not in tx.columns:
                raise InvalidInput(
                    f"new product(s) {', '.join(map(str, unknown[:5]))} need a category column"
                )
            new = tx[~tx["product_id"].isin(list(known))].drop_duplicates("product_id")
            categories = set(s.scalars(select(SalesCategoryRow.name)))
            for cat in sorted(set(new["category"]) - categories) if len(new) else []:
                s.add(SalesCategoryRow(name=str(cat)))
            s.flush()
            for row in new.itertuples():
                s.add(
                    SalesProductRow(
                        product_id=str(row.product_id),
                        name=str(getattr(row, "product_name", None) or row.product_id),
                        category=str(row.category),
                    )
                )
            s.flush()
            batch = SalesImportRow(source=source[:500], kind=mode, rows=len(tx), actor=actor)
            s.add(batch)
            s.flush()
            records = [
                {
                    "product_id": str(r.product_id),
                    "sold_at": r.sold_at.to_pydatetime(),
                    "quantity": float(r.quantity),
                    "revenue": float(r.revenue),
                    "order_id": None if pd.isna(r.order_id) else str(r.order_id),
                    "batch": batch.id,
                }
                for r in tx.itertuples()
            ]
            s.execute(SalesTransactionRow.__table__.insert(), records)
            self._refresh_daily(s, tx)
        self.invalidate()
        days = tx["sold_at"].dt.normalize()
        return ImportResult(
            rows=len(tx),
            message=(
                f"{len(tx):,} transactions ({mode}) for {tx['product_id'].nunique()} products, "
                f"{days.min().date()} to {days.max().date()}"
            ),
            details={"products": int(tx["product_id"].nunique()), "batch": batch.id},
        )

    def _check_transactions(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise InvalidInput(
                f"missing column(s) {', '.join(missing)}; sales transactions need product_id, "
                "sold_at, quantity and revenue or unit_price (optional: category, "
                f"product_name, order_id). The file has: {', '.join(map(str, frame.columns))}"
            )
        if frame.empty:
            raise InvalidInput("no transactions in the input")
        tx = frame.copy()
        tx["product_id"] = tx["product_id"].astype(str).str.strip()
        if (tx["product_id"] == "").any() or frame["product_id"].isna().any():
            empty = tx["product_id"] == ""
            raise InvalidInput(f"product_id is empty in row(s) {row_numbers(empty)}")
        sold = pd.to_datetime(tx["sold_at"], errors="coerce", utc=True)
        if sold.isna().any():
            raise InvalidInput(
                f"sold_at is not a date/time in row(s) {row_numbers(sold.isna())} "
                "(use ISO 8601, e.g. 2015-01-31 or 2015-01-31T18:30:00)"
            )
        tx["sold_at"] = sold.dt.tz_convert(None)
        for col in ("quantity", "revenue", "unit_price"):
            if col in tx.columns:
                values = pd.to_numeric(tx[col], errors="coerce")
                if values.isna().any():
                    rows = row_numbers(values.isna())
                    raise InvalidInput(f"{col} is not a number in row(s) {rows}")
                tx[col] = values.astype(float)
        if (tx["quantity"] < 0).any():
            raise InvalidInput(f"quantity is negative in row(s) {row_numbers(tx['quantity'] < 0)}")
        if "revenue" not in tx.columns:
            if "unit_price" not in tx.columns:
                raise InvalidInput("give a revenue or a unit_price column")
            tx["revenue"] = tx["quantity"] * tx["unit_price"]
        if "category" in tx.columns:
            tx["category"] = tx["category"].astype(str).str.strip()
            per_product = tx.groupby("product_id")["category"].nunique()
            if (per_product > 1).any():
                bad = per_product[per_product > 1].index[:5]
                raise InvalidInput(f"product(s) {', '.join(bad)} appear in several categories")
        if "order_id" not in tx.columns:
            tx["order_id"] = None
        return tx

    def _refresh_daily(self, s: Any, tx: pd.DataFrame) -> None:
        """Recompute the daily aggregate for every (product, day) the batch touched."""
        touched = tx.assign(day=tx["sold_at"].dt.date)[["product_id", "day"]].drop_duplicates()
        first, last = min(touched["day"]), max(touched["day"])
        rows = s.execute(
            select(
                SalesTransactionRow.product_id,
                SalesTransactionRow.sold_at,
                SalesTransactionRow.quantity,
                SalesTransactionRow.revenue,
            ).where(
                SalesTransactionRow.product_id.in_(list(touched["product_id"].unique())),
                SalesTransactionRow.sold_at >= datetime.combine(first, datetime.min.time()),
                SalesTransactionRow.sold_at
                < datetime.combine(last + timedelta(days=1), datetime.min.time()),
            )
        ).all()
        got = pd.DataFrame(rows, columns=["product_id", "sold_at", "quantity", "revenue"])
        got["day"] = pd.to_datetime(got["sold_at"], utc=True).dt.tz_convert(None).dt.date
        agg = got.groupby(["product_id", "day"], as_index=False)[["quantity", "revenue"]].sum()
        agg = agg.merge(touched, on=["product_id", "day"])
        for r in touched.itertuples():
            s.execute(
                delete(SalesDailyRow).where(
                    SalesDailyRow.product_id == r.product_id, SalesDailyRow.day == r.day
                )
            )
        s.execute(
            SalesDailyRow.__table__.insert(),
            [
                {
                    "product_id": r.product_id,
                    "day": r.day,
                    "units": r.quantity,
                    "revenue": r.revenue,
                }
                for r in agg.itertuples()
            ],
        )

    def import_regressors(self, frame: pd.DataFrame, *, source: str, actor: str) -> ImportResult:
        """Indicators by date: a ``date`` column plus one numeric column per indicator."""
        if "date" not in frame.columns or len(frame.columns) < 2:
            raise InvalidInput(
                "regressors need a date column and at least one indicator column "
                "(e.g. date,gdp,sp500)"
            )
        days = pd.to_datetime(frame["date"], errors="coerce")
        if days.isna().any():
            raise InvalidInput(f"date is not a date in row(s) {row_numbers(days.isna())}")
        if days.duplicated().any():
            raise InvalidInput(f"date repeats in row(s) {row_numbers(days.duplicated(keep=False))}")
        names = [c for c in frame.columns if c != "date"]
        records = []
        for name in names:
            values = pd.to_numeric(frame[name], errors="coerce")
            bad = values.isna() & frame[name].notna()
            if bad.any():
                raise InvalidInput(f"{name} is not a number in row(s) {row_numbers(bad)}")
            for d, v in zip(days.dt.date, values, strict=True):
                if not pd.isna(v):
                    records.append({"name": str(name)[:100], "day": d, "value": float(v)})
        with self.p.db.session() as s:
            s.execute(delete(SalesRegressorRow).where(SalesRegressorRow.name.in_(names)))
            s.execute(SalesRegressorRow.__table__.insert(), records)
            s.add(
                SalesImportRow(source=source[:500], kind="regressors", rows=len(frame), actor=actor)
            )
        self.invalidate()
        return ImportResult(
            rows=len(frame),
            message=f"{len(records):,} values of {', '.join(names)} "
            f"({days.min().date()} to {days.max().date()}); used from the next training",
        )

    def invalidate(self) -> None:
        """New data: drop cached answers here and make other replicas notice within 1 s."""
        self._data_version = None
        self.p.cache.delete_prefix("forecast:")

    def data_version(self) -> tuple[int, date | None]:
        """(latest import id, latest day of data), re-read at most once a second."""
        now = time.monotonic()
        cached = self._data_version
        if cached is not None and now - cached[0] < DATA_VERSION_TTL:
            return cached[1], cached[2]
        with self.p.db.session() as s:
            version = s.scalar(select(func.max(SalesImportRow.id))) or 0
            last = s.scalar(select(func.max(SalesDailyRow.day)))
        self._data_version = (now, version, last)
        return version, last

    def daily(self) -> pd.DataFrame:
        with self.p.db.session() as s:
            rows = s.execute(
                select(
                    SalesDailyRow.product_id,
                    SalesDailyRow.day,
                    SalesDailyRow.units,
                    SalesDailyRow.revenue,
                    SalesProductRow.category,
                ).join(SalesProductRow)
            ).all()
        frame = pd.DataFrame(rows, columns=["product_id", "day", "units", "revenue", "category"])
        frame["day"] = pd.to_datetime(frame["day"])
        return frame

    def products(self) -> dict[str, dict[str, str]]:
        with self.p.db.session() as s:
            rows = s.execute(select(SalesProductRow)).scalars().all()
            return {r.product_id: {"name": r.name, "category": r.category} for r in rows}

    def categories(self) -> list[str]:
        with self.p.db.session() as s:
            return sorted(s.scalars(select(SalesCategoryRow.name)))

    def regressors(self) -> pd.DataFrame:
        with self.p.db.session() as s:
            rows = s.execute(select(SalesRegressorRow)).scalars().all()
            frame = pd.DataFrame(
                [(r.name, r.day, r.value) for r in rows], columns=["name", "day", "value"]
            )
        if frame.empty:
            return frame
        frame["day"] = pd.to_datetime(frame["day"])
        return frame.pivot(index="day", columns="name", values="value")

    def dataset(self) -> SalesDataset:
        """Daily units per product and per category, zero-filled, with regressors joined."""
        daily = self.daily()
        if daily.empty:
            raise InvalidInput("no sales data yet: run `foresight import sales FILE.csv` first")
        first, last = daily["day"].min(), daily["day"].max()
        span = (last - first).days + 1
        if span < MIN_DAYS:
            raise InvalidInput(
                f"{span} days of sales history; training needs at least {MIN_DAYS} "
                f"(the {HOLDOUT}-day holdout plus four weeks)"
            )
        days = pd.date_range(first, last, freq="D")
        wide = daily.pivot_table(index="day", columns="product_id", values="units", aggfunc="sum")
        wide = wide.reindex(days).fillna(0.0)  # no sale recorded on a day = zero units
        products = self.products()
        frames = [
            pd.DataFrame({"unique_id": product_uid(p), "ds": days, "y": wide[p].to_numpy()})
            for p in wide.columns
        ]
        groups = {product_uid(p): "product" for p in wide.columns}
        by_cat = wide.T.groupby(lambda p: products[p]["category"]).sum().T
        for cat in by_cat.columns:
            frames.append(
                pd.DataFrame({"unique_id": category_uid(cat), "ds": days, "y": by_cat[cat]})
            )
            groups[category_uid(cat)] = "category"
        long = pd.concat(frames, ignore_index=True)
        reg = self.regressors()
        if not reg.empty:
            # Indicators are as-of joined: the latest value known on each day.
            reg = reg.sort_index().reindex(days, method="ffill")
            reg = reg.loc[:, reg.notna().all()]
            long = long.merge(reg, left_on="ds", right_index=True, how="left")
        digest = hashlib.sha256(
            pd.util.hash_pandas_object(long, index=False).to_numpy().tobytes()
        ).hexdigest()
        return SalesDataset(validate(long, freq="D"), groups, daily, products, digest[:16])

    # ---- training ------------------------------------------------------------------------
    def config(self, horizon: int = HORIZON, n_windows: int = 2) -> ForecastConfig:
        return ForecastConfig(
            horizon=horizon,
            n_windows=n_windows,
            step=HOLDOUT,
            country=self.p.settings.sales_country,
            seed=self.p.settings.seed,
        )

    def train(self, progress: Progress) -> TrainingOutcome:
        outcome = self.p.pipeline.run(SalesTrainingSpec(self), self.p.training_context(progress))
        if outcome.promoted:
            self.p.server.invalidate(NAME)
            self.invalidate()
        return outcome

    # ---- schedule ------------------------------------------------------------------------
    def retrain_due(self, now: datetime | None = None) -> bool:
        """True when data exists and the last successful training is older than the period."""
        from foresight.platform.db.tables import TrainingRunRow

        now = now or datetime.now(UTC)
        with self.p.db.session() as s:
            if not s.scalar(select(func.count()).select_from(SalesDailyRow)):
                return False
            last = s.scalar(
                select(func.max(TrainingRunRow.finished_at)).where(
                    TrainingRunRow.model_name == NAME, TrainingRunRow.status == "succeeded"
                )
            )
            busy = s.scalar(
                select(func.count())
                .select_from(TrainingRunRow)
                .where(TrainingRunRow.model_name == NAME, TrainingRunRow.status == "running")
            )
        if busy:
            return False
        if last is None:
            return True
        return now - last >= timedelta(days=self.p.settings.sales_retrain_days)

    def start_schedule(self, check_seconds: float = 600.0) -> None:
        """Weekly retraining (the seed's schedule), checked every ten minutes in the API."""
        if self._scheduler is not None or self.p.settings.sales_retrain_days <= 0:
            return

        def loop() -> None:
            while not self._stop.wait(check_seconds):
                try:
                    if self.retrain_due():
                        self.p.jobs.submit(app=NAME, kind="train", fn=self._train_job)
                except Exception as exc:
                    log.warning("sales_schedule_failed", error=str(exc))

        self._scheduler = threading.Thread(target=loop, name="sales-schedule", daemon=True)
        self._scheduler.start()

    def _train_job(self, ctx: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        outcome = self.train(lambda step, fraction, message: None)
        return [], {"version": outcome.version.label, "promoted": outcome.promoted}

    def close(self) -> None:
        self._stop.set()

    # ---- serving -------------------------------------------------------------------------
    def served(self) -> Served:
        return self.p.server.resolve(NAME, rule=lambda mv: None)

    def _check_category(self, category: str | None) -> None:
        if category is not None and category not in (known := self.categories()):
            raise InvalidInput(f"unknown category {category!r}; categories: {', '.join(known)}")

    def _window(self, served: Served, last: date | None, days: int) -> tuple[int, bool]:
        """Offset of the request window in the stored forecast, and whether it fits."""
        model: SalesModel | None = served.model
        if model is None or last is None:
            return 0, False
        offset = max(0, (last - model.trained_until).days)
        return offset, offset + days <= model.result.horizon

    def top_products(self, period: str, category: str | None, limit: int) -> dict[str, Any]:
        if period not in PERIODS:
            raise InvalidInput(f"time_period must be one of {', '.join(PERIODS)} (got {period!r})")
        served = self.served()
        version = served.version.version if served.version else 0
        data_version, _ = self.data_version()
        key = f"forecast:{category or 'all'}:{period}:v{version}"
        cached = self.p.cache.get(key)
        if cached is not None and cached.get("_data_version") == data_version:
            body = dict(cached)
            body["cached"] = True
        else:
            # Checked only on a miss: a cached key was validated when it was stored, so a
            # hit costs no database query.
            self._check_category(category)
            body = self._compute_top(served, period, category)
            body["_data_version"] = data_version
            self.p.cache.set(key, body, CACHE_TTL)
            body = dict(body)
            body["cached"] = False
        body.pop("_data_version", None)
        body["products"] = body["products"][:limit]
        return body

    def _compute_top(self, served: Served, period: str, category: str | None) -> dict[str, Any]:
        days = PERIODS[period]
        _, last = self.data_version()
        daily = self.daily()
        if category:
            daily = daily[daily["category"] == category]
        offset, fits = self._window(served, last, days)
        model: SalesModel | None = served.model if fits else None
        products = self.products()
        recent = (
            daily[daily["day"] > pd.Timestamp(last) - pd.Timedelta(days=days)] if last else daily
        )
        previous = recent.groupby("product_id")["units"].sum()
        price = _unit_prices(daily, last)
        out = []
        for pid, info in products.items():
            if category and info["category"] != category:
                continue
            prev_units = float(previous.get(pid, 0.0))
            if model is not None:
                row = model.result.index(product_uid(pid))
                units, lo, hi = _window_sum(model.result, row, offset, days, 80.0)
            else:
                units, lo, hi = self._naive_units(daily, pid, last, days), None, None
            unit_price = price.get(pid, model.unit_price.get(pid, 0.0) if model else 0.0)
            out.append(
                {
                    "product_id": pid,
                    "name": info["name"],
                    "category": info["category"],
                    "forecast_units": round(units, 2),
                    "forecast_revenue": round(units * unit_price, 2),
                    "interval_80": None if lo is None else [round(lo, 2), round(hi, 2)],
                    "previous_units": round(prev_units, 2),
                    "trend_pct": None
                    if prev_units == 0
                    else round(100 * (units - prev_units) / prev_units, 1),
                }
            )
        out.sort(key=lambda r: r["forecast_revenue"], reverse=True)
        for rank, r in enumerate(out, 1):
            r["rank"] = rank
            pct = r["trend_pct"]
            r["trend"] = (
                "new" if pct is None else "up" if pct > 5 else "down" if pct < -5 else "flat"
            )
        start = (last + timedelta(days=1)) if last else None
        return {
            "time_period": period,
            "category": category,
            "period_start": start.isoformat() if start else None,
            "period_end": (start + timedelta(days=days - 1)).isoformat() if start else None,
            "products": out,
            "total": len(out),
            "generated_at": datetime.now(UTC).isoformat(),
            "model_version": served.label if model is not None else "seasonal_naive",
            "fallback": served.fallback if model is not None else "rule_baseline",
        }

    @staticmethod
    def _naive_units(daily: pd.DataFrame, pid: str, last: date | None, days: int) -> float:
        """Rule baseline: the last week's units repeated over the window."""
        if last is None:
            return 0.0
        week = daily[
            (daily["product_id"] == pid)
            & (daily["day"] > pd.Timestamp(last) - pd.Timedelta(days=7))
        ]
        return float(week["units"].sum()) * days / 7

    def forecast(
        self, product_id: str | None, category: str | None, horizon: int, level: float
    ) -> dict[str, Any]:
        if (product_id is None) == (category is None):
            raise InvalidInput("give exactly one of product_id or category")
        ensemble.validate_levels((level,))
        if product_id is not None and product_id not in self.products():
            raise NotFound(f"unknown product_id {product_id!r}")
        self._check_category(category)
        served = self.served()
        model: SalesModel | None = served.model
        if model is None:
            raise NotFound("no sales model yet: run `foresight train sales`")
        _, last = self.data_version()
        offset = max(0, (last - model.trained_until).days) if last else 0
        if offset + horizon > model.result.horizon:
            raise InvalidInput(
                f"horizon {horizon} is beyond the model's forecast ({model.result.horizon - offset}"
                " days from the latest data); retrain or ask for fewer days"
            )
        uid = product_uid(product_id) if product_id else category_uid(str(category))
        row = model.result.index(uid)
        lo, hi = model.result.bounds(level, np.array([row]))
        span = slice(offset, offset + horizon)
        dates = pd.DatetimeIndex(model.result.future[row][span])
        daily = self.daily()
        hist = (
            daily[daily["product_id"] == product_id]
            if product_id
            else daily[daily["category"] == category]
        )
        hist = hist.groupby("day")["units"].sum().sort_index().iloc[-120:]
        return {
            "series": uid,
            "horizon": horizon,
            "level": level,
            "model_version": served.label,
            "fallback": served.fallback,
            "weights": model.result.weights[str(model.result.groups[row])],
            "history": [{"date": d.date().isoformat(), "units": float(v)} for d, v in hist.items()],
            "forecast": [
                {
                    "date": d.date().isoformat(),
                    "units": round(float(p), 3),
                    "lower": round(float(a), 3),
                    "upper": round(float(b), 3),
                }
                for d, p, a, b in zip(
                    dates,
                    model.result.point[row][span],
                    lo[0][span],
                    hi[0][span],
                    strict=True,
                )
            ],
        }

    def backtest(self) -> dict[str, Any]:
        served = self.served()
        model: SalesModel | None = served.model
        if model is None:
            raise NotFound("no sales model yet: run `foresight train sales`")
        result = model.result
        table = result.backtest
        per_group = []
        if not table.empty:
            table = table.assign(
                group=table["unique_id"].map(dict(zip(result.uids, result.groups, strict=True)))
            )
            for (group, name), part in table.groupby(["group", "model"]):
                per_group.append(
                    {
                        "group": group,
                        "model": name,
                        "smape": round(float(part["smape"].mean()), 3),
                        "mase": round(float(np.nanmean(part["mase"])), 4),
                        "mae": round(float(part["mae"].mean()), 4),
                        "rmse": round(float(part["rmse"].mean()), 4),
                        "forecasts": len(part),
                    }
                )
        return {
            "model_version": served.label,
            "trained_until": model.trained_until.isoformat(),
            "horizon_days": result.horizon,
            "windows": int(table["window"].nunique()) if not table.empty else 0,
            "weights": result.weights,
            "metrics": sorted(per_group, key=lambda r: (r["group"], r["smape"])),
            "candidates": {g: c[:10] for g, c in result.candidates.items()},
        }


def _window_sum(
    result: ForecastResult, row: int, offset: int, days: int, level: float
) -> tuple[float, float, float]:
    """Units over steps offset..offset+days with a conformal interval for the total."""
    if offset == 0:
        return result.sum_bounds(row, days, level)
    total = float(result.point[row, offset : offset + days].sum())
    _, lo, hi = result.sum_bounds(row, days, level)
    half = (hi - lo) / 2
    return total, max(total - half, 0.0), total + half


def _unit_prices(daily: pd.DataFrame, last: date | None) -> dict[str, float]:
    """Revenue per unit over the latest 90 days (prices change; old ones matter less)."""
    if last is not None:
        daily = daily[daily["day"] > pd.Timestamp(last) - pd.Timedelta(days=90)]
    sums = daily.groupby("product_id")[["units", "revenue"]].sum()
    sums = sums[sums["units"] > 0]
    return (sums["revenue"] / sums["units"]).to_dict()


class SalesTrainingSpec:
    """Sales through the pipeline: the gate compares holdout MASE on the last 30 days."""

    model_name = NAME
    gate_metric = "holdout_mase"
    higher_is_better = False
    gate_tolerance = 0.02

    def __init__(self, service: SalesService) -> None:
        self.service = service

    def validate(self, ctx: TrainingContext) -> SalesDataset:
        return self.service.dataset()

    def features(self, data: SalesDataset, ctx: TrainingContext) -> SalesDataset:
        return data

    def tune(self, dataset: SalesDataset, ctx: TrainingContext) -> dict[str, Any]:
        return {}  # ensemble weights are chosen on the engine's own backtest, in fit

    def fit(self, dataset: SalesDataset, tuned: dict[str, Any], ctx: TrainingContext) -> Fitted:
        config = self.service.config()

        def progress(done: int, total: int, message: str) -> None:
            ctx.progress("fit", done / max(total, 1), message)

        result = forecast(dataset.series, config, groups=dataset.groups, progress=progress)
        last = dataset.series.data["ds"].max().date()
        model = SalesModel(
            result=result,
            trained_until=last,
            unit_price=_unit_prices(dataset.daily, last),
            products=dataset.products,
        )
        return Fitted(
            model,
            algorithm="ensemble(" + ",".join(config.members) + ")",
            params={
                "horizon": config.horizon,
                "members": list(config.members),
                "windows": config.n_windows,
                "country": config.country,
                "weights": result.weights,
            },
        )

    def evaluate(self, fitted: Fitted, dataset: SalesDataset, ctx: TrainingContext) -> dict:
        """Holdout = the last 30 days: every member refitted on the data before them."""
        model: SalesModel = fitted.model
        data = dataset.series.data
        cut = data["ds"].max() - pd.Timedelta(days=HOLDOUT)
        train = SeriesFrame(data[data["ds"] <= cut].reset_index(drop=True), "D", SEASON)
        held = data[data["ds"] > cut]
        config = self.service.config(horizon=HOLDOUT, n_windows=0)
        hold = forecast(train, config)
        actual = np.stack([held.loc[held["unique_id"] == uid, "y"].to_numpy() for uid in hold.uids])
        dataset.holdout = {
            "uids": hold.uids,
            "actual": actual,
            "members": hold.members,
            "train": {uid: g["y"].to_numpy() for uid, g in train.data.groupby("unique_id")},
        }
        score = self._holdout(
            dataset, model.result.weights, dict(zip(hold.uids, model.result.groups, strict=True))
        )
        summary = model.result.summary()
        ens = summary[summary["model"] == "ensemble"]
        out = {f"holdout_{k}": v for k, v in score.items()}
        if len(ens):
            out["backtest_smape"] = float(ens["smape"].iloc[0])
            out["backtest_mase"] = float(ens["mase"].iloc[0])
        return out

    def _holdout(
        self, dataset: SalesDataset, weights: dict[str, dict[str, float]], groups: dict[str, str]
    ) -> dict[str, float]:
        h = dataset.holdout
        rows = []
        for i, uid in enumerate(h["uids"]):
            w = weights.get(groups.get(uid, "product")) or next(iter(weights.values()))
            if any(name not in h["members"] for name in w):
                raise KeyError("members differ")
            pred = sum(wt * h["members"][name][i] for name, wt in w.items())
            rows.append(
                metrics.all_metrics(h["actual"][i], np.maximum(pred, 0), h["train"][uid], SEASON)
            )
        frame = pd.DataFrame(rows)
        return {
            "mase": float(np.nanmean(frame["mase"])),
            "smape": float(frame["smape"].mean()),
            "mae": float(frame["mae"].mean()),
        }

    def describe(self, fitted: Fitted, dataset: SalesDataset) -> Described:
        model: SalesModel = fitted.model
        return Described(
            signature={
                "series": len(model.result.uids),
                "frequency": "D",
                "horizon": model.result.horizon,
                "trained_until": model.trained_until.isoformat(),
                "exogenous": dataset.series.exogenous,
            },
            fallback={"kind": "seasonal_naive", "season_length": SEASON},
            data_fingerprint=dataset.fingerprint,
        )

    def score(self, model: Any, dataset: SalesDataset) -> float | None:
        """Production's weights on the same holdout forecasts (None if its members differ)."""
        if not isinstance(model, SalesModel):
            return None
        try:
            return self._holdout(dataset, model.result.weights, dataset.groups)["mase"]
        except KeyError:
            return None
