"""Pure data → features for sales: checked transactions, daily series per product and
category, and unit prices. The seasonal-naive rule baseline is the platform's
(``forecasting.baselines.seasonal_naive_path``, with ``season=SEASON``)."""

from __future__ import annotations

import hashlib
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.csvfile import row_numbers
from foresight.platform.errors import InvalidInput

PERIODS = {"week": 7, "month": 30, "quarter": 91}
HORIZON = 91  # days forecast at training: covers the longest period (a quarter)
HOLDOUT = 30  # the seed's gate: the last 30 days, candidate against production
MIN_DAYS = HOLDOUT + 4 * 7  # shortest history worth training on
SEASON = 7
REQUIRED = ("product_id", "sold_at", "quantity")
# Longest text the tables hold (store.py), checked here so an import says which rows.
TEXT_LIMITS = {"product_id": 100, "category": 100, "product_name": 200, "order_id": 100}


def product_uid(product_id: str) -> str:
    return f"product:{product_id}"


def category_uid(category: str) -> str:
    return f"category:{category}"


def check_transactions(frame: pd.DataFrame) -> pd.DataFrame:
    """Transactions ready to store: every problem is an InvalidInput naming the rows."""
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
        empty = (tx["product_id"] == "") | frame["product_id"].isna()
        raise InvalidInput(f"product_id is empty in row(s) {row_numbers(empty)}")
    long_ids = tx["product_id"].str.len() > TEXT_LIMITS["product_id"]
    if long_ids.any():
        raise InvalidInput(
            f"product_id is longer than {TEXT_LIMITS['product_id']} characters in row(s) "
            + row_numbers(long_ids)
        )
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
            if col != "quantity":
                # Per row, one of revenue and unit_price may be empty (see below).
                values = values.where(tx[col].notna(), np.nan)
            bad = values.isna() & tx[col].notna() if col != "quantity" else values.isna()
            bad |= ~np.isfinite(values.fillna(0.0))
            if bad.any():
                raise InvalidInput(f"{col} is not a number in row(s) {row_numbers(bad)}")
            tx[col] = values.astype(float)
    if (tx["quantity"] < 0).any():
        raise InvalidInput(f"quantity is negative in row(s) {row_numbers(tx['quantity'] < 0)}")
    tx["revenue"] = _revenue(tx)
    for col in ("category", "product_name", "order_id"):
        if col in tx.columns:
            tx[col] = _text(tx[col], col)
    if "category" in tx.columns:
        if tx["category"].isna().all():
            tx = tx.drop(columns=["category"])
        else:
            per_product = tx.groupby("product_id")["category"].nunique()
            if (per_product > 1).any():
                bad_ids = per_product[per_product > 1].index[:5]
                raise InvalidInput(f"product(s) {', '.join(bad_ids)} appear in several categories")
    for col in ("category", "product_name"):
        if col in tx.columns:  # a blank cell means "not given": the product's own value
            tx[col] = tx.groupby("product_id")[col].transform("first")
    if "order_id" not in tx.columns:
        tx["order_id"] = None
    return tx.drop(columns=["unit_price"], errors="ignore")


def _text(values: pd.Series, col: str) -> pd.Series:
    """Optional text: given cells as stripped strings, missing or blank ones None."""
    plain = values.reset_index(drop=True)  # positions: an import's index may repeat
    given = plain[plain.notna()].astype(str).str.strip()
    too_long = given.str.len() > TEXT_LIMITS[col]
    if too_long.any():
        rows = row_numbers(too_long.reindex(plain.index, fill_value=False))
        raise InvalidInput(f"{col} is longer than {TEXT_LIMITS[col]} characters in row(s) {rows}")
    out = pd.Series(None, index=plain.index, dtype=object)
    out[given.index] = given.where(given != "", None)
    return out.set_axis(values.index)


def _revenue(tx: pd.DataFrame) -> pd.Series:
    """Revenue per row: given, or quantity × unit_price where it is not."""
    revenue = tx["revenue"] if "revenue" in tx.columns else pd.Series(np.nan, index=tx.index)
    if "unit_price" in tx.columns:
        revenue = revenue.fillna(tx["quantity"] * tx["unit_price"])
    if revenue.isna().any():
        raise InvalidInput(
            f"give revenue or unit_price; both are missing in row(s) {row_numbers(revenue.isna())}"
        )
    return revenue.astype(float)


def daily_series(
    daily: pd.DataFrame, products: dict[str, dict[str, str]], regressors: pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, str], str]:
    """Long-format daily units per product and per category, zero-filled, with indicators
    as-of joined; returns (frame, group of each series, data fingerprint)."""
    first, last = daily["day"].min(), daily["day"].max()
    days = pd.date_range(first, last, freq="D")
    wide = daily.pivot_table(index="day", columns="product_id", values="units", aggfunc="sum")
    wide = wide.reindex(days).fillna(0.0)  # no sale recorded on a day = zero units
    frames = [
        pd.DataFrame({"unique_id": product_uid(p), "ds": days, "y": wide[p].to_numpy()})
        for p in wide.columns
    ]
    groups = {product_uid(p): "product" for p in wide.columns}
    by_cat = wide.T.groupby(lambda p: products[p]["category"]).sum().T
    for cat in by_cat.columns:
        frames.append(pd.DataFrame({"unique_id": category_uid(cat), "ds": days, "y": by_cat[cat]}))
        groups[category_uid(cat)] = "category"
    long = pd.concat(frames, ignore_index=True)
    if not regressors.empty:
        # Indicators are as-of joined: the latest value known on each day.
        reg = regressors.sort_index().reindex(days, method="ffill")
        reg = reg.loc[:, reg.notna().all()]
        long = long.merge(reg, left_on="ds", right_index=True, how="left")
    digest = hashlib.sha256(pd.util.hash_pandas_object(long, index=False).to_numpy().tobytes())
    return long, groups, digest.hexdigest()[:16]


def unit_prices(daily: pd.DataFrame, last: date | None) -> dict[str, float]:
    """Revenue per unit over the latest 90 days (prices change; old ones matter less)."""
    if last is not None:
        daily = daily[daily["day"] > pd.Timestamp(last) - pd.Timedelta(days=90)]
    sums = daily.groupby("product_id")[["units", "revenue"]].sum()
    sums = sums[sums["units"] > 0]
    return {str(k): float(v) for k, v in (sums["revenue"] / sums["units"]).items()}


def series_history(daily: pd.DataFrame, *, product_id: str | None, category: str | None) -> Any:
    """Daily units of one product or one category, zero-filled up to the latest day."""
    part = (
        daily[daily["product_id"] == product_id]
        if product_id
        else daily[daily["category"] == category]
    )
    units = part.groupby("day")["units"].sum().sort_index()
    if daily.empty:
        return units
    days = pd.date_range(daily["day"].min(), daily["day"].max(), freq="D")
    return units.reindex(days).fillna(0.0)


def trend(units: float, previous: float) -> tuple[float | None, str]:
    """Change against the previous period in percent, and its word (±5 % is flat)."""
    if previous == 0:
        return None, "new"
    pct = round(100 * (units - previous) / previous, 1)
    return pct, "up" if pct > 5 else "down" if pct < -5 else "flat"


def check_regressors(
    frame: pd.DataFrame,
) -> tuple[list[dict[str, Any]], list[str], tuple[date, date]]:
    """Indicators by date (a ``date`` column plus one numeric column each) as rows to
    store; returns (rows, indicator names, (first day, last day))."""
    if "date" not in frame.columns or len(frame.columns) < 2:
        raise InvalidInput(
            "regressors need a date column and at least one indicator column (e.g. date,gdp,sp500)"
        )
    days = pd.to_datetime(frame["date"], errors="coerce")
    if days.isna().any():
        raise InvalidInput(f"date is not a date in row(s) {row_numbers(days.isna())}")
    if days.duplicated().any():
        raise InvalidInput(f"date repeats in row(s) {row_numbers(days.duplicated(keep=False))}")
    names = [str(c)[:100] for c in frame.columns if c != "date"]
    records = []
    for name, column in zip(names, [c for c in frame.columns if c != "date"], strict=True):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = (values.isna() & frame[column].notna()) | ~np.isfinite(values.fillna(0.0))
        if bad.any():
            raise InvalidInput(f"{name} is not a number in row(s) {row_numbers(bad)}")
        records += [
            {"name": name, "day": d, "value": float(v)}
            for d, v in zip(days.dt.date, values, strict=True)
            if not pd.isna(v)
        ]
    return records, names, (days.min().date(), days.max().date())
