"""RFM: per-customer recency, frequency and money from visits, 1–5 scores and segments.

Pure functions. ``rfm_table`` also gives the BG/NBD inputs (``x``, ``t_x``, ``T`` in days)
and the Gamma-Gamma input ``m``. Scores use quintile cut points computed once at training
(``cut_points``) and stored with the model, so a customer's score does not move between
two lookups unless the model is retrained.

>>> visits = pd.DataFrame({"customer_id": [1, 1, 1, 2], "amount": [10.0, 5.0, 20.0, 8.0],
...                        "day": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-11",
...                                               "2024-01-05"])})
>>> rfm_table(visits, "2024-01-31")[["customer_id", "frequency", "x", "t_x", "T", "m"]]
   customer_id  frequency  x   t_x     T     m
0            1          2  1  10.0  30.0  20.0
1            2          1  0   0.0  26.0   0.0
>>> segment(5, 5), segment(1, 1)
('champions', 'lost')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

SCORED = ("recency_days", "frequency", "monetary")
COLUMNS = ("customer_id", "recency_days", "frequency", "monetary", "x", "t_x", "T", "m")

# The usual R×F segment map: rows are the recency score R (5 = most recent), columns the
# frequency score F = 1…5. The familiar regex form ("[1-2][1-2]" hibernating, "5[4-5]"
# champions, …) with R1 F1 split out as "lost".
SEGMENTS: dict[int, tuple[str, str, str, str, str]] = {
    5: ("new", "potential loyalist", "potential loyalist", "champions", "champions"),
    4: ("promising", "potential loyalist", "potential loyalist", "loyal", "loyal"),
    3: ("about to sleep", "about to sleep", "needs attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at risk", "at risk", "can't lose"),
    1: ("lost", "hibernating", "at risk", "at risk", "can't lose"),
}


def _day(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_localize(None)
    return stamp.normalize()


def rfm_table(visits: pd.DataFrame, as_of: date | datetime | str) -> pd.DataFrame:
    """One row per customer seen on or before ``as_of``, sorted by ``customer_id``.

    ``visits`` has ``customer_id``, ``day`` (dates or datetimes; the time of day is
    dropped) and ``amount``. Visits on the same day are one visit with their amounts
    summed; visits after ``as_of`` are ignored, so the table never sees the future.

    Columns: ``recency_days`` (days from the last visit to ``as_of``), ``frequency``
    (visit days), ``monetary`` (mean spend per visit day), and for the models ``x``
    (repeat visit days: all but the first), ``t_x`` (days from the first visit to the
    last), ``T`` (days from the first visit to ``as_of``) and ``m`` (mean spend of the
    repeat visits, the Gamma-Gamma input; 0 when x = 0).
    """
    missing = {"customer_id", "day", "amount"} - set(visits.columns)
    if missing:
        raise ValueError(f"visits lacks column(s): {', '.join(sorted(missing))}")
    end = _day(as_of)
    days = pd.to_datetime(visits["day"])
    if getattr(days.dt, "tz", None) is not None:
        days = days.dt.tz_localize(None)
    frame = pd.DataFrame(
        {
            "customer_id": visits["customer_id"].to_numpy(),
            "day": days.dt.normalize().to_numpy(),
            "amount": pd.to_numeric(visits["amount"]).to_numpy(dtype=np.float64),
        }
    )
    if frame["customer_id"].isna().any() or frame["day"].isna().any():
        raise ValueError("visits has a missing customer_id or day")
    frame = frame[frame["day"] <= end]
    daily = frame.groupby(["customer_id", "day"], sort=True, as_index=False)["amount"].sum()
    if daily.empty:
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in COLUMNS})
    grouped = daily.groupby("customer_id", sort=True)
    table = pd.DataFrame(
        {
            "first": grouped["day"].min(),
            "last": grouped["day"].max(),
            "frequency": grouped.size(),
            "total": grouped["amount"].sum(),
            "first_spend": grouped["amount"].first(),  # rows are sorted by day
        }
    )
    table["recency_days"] = (end - table["last"]).dt.days.astype(np.int64)
    table["monetary"] = table["total"] / table["frequency"]
    table["x"] = table["frequency"] - 1
    table["t_x"] = (table["last"] - table["first"]).dt.days.astype(np.float64)
    table["T"] = (end - table["first"]).dt.days.astype(np.float64)
    repeat_total = table["total"] - table["first_spend"]
    table["m"] = np.where(table["x"] > 0, repeat_total / table["x"].clip(lower=1), 0.0)
    return table.reset_index()[list(COLUMNS)]


def cut_points(table: pd.DataFrame) -> dict[str, list[float]]:
    """Quintile edges (20, 40, 60 and 80 %) of recency, frequency and money: JSON-able,
    stored in the model so that scores stay put between trainings."""
    if table.empty:
        raise ValueError("cut points need at least one customer")
    quantiles = [0.2, 0.4, 0.6, 0.8]
    return {
        name: [float(v) for v in np.quantile(table[name].to_numpy(np.float64), quantiles)]
        for name in SCORED
    }


def _score(values: Any, edges: list[float], *, lower_is_better: bool) -> np.ndarray:
    # Bins are right-closed like pandas.qcut: a value equal to an edge stays in the lower
    # bin, so with most customers at frequency 1 (edges [1, 1, 1, 2]) they score F = 1.
    rank = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    return np.asarray(5 - rank if lower_is_better else 1 + rank, dtype=np.int64)


def scores(
    row_or_table: Mapping[str, Any] | pd.Series | pd.DataFrame, cuts: Mapping[str, list[float]]
) -> dict[str, int] | pd.DataFrame:
    """R, F and M scores 1–5 (5 best: most recent, most frequent, highest spend).

    A row (mapping or Series) gives ``{"r_score", "f_score", "m_score"}``; a table gives
    a DataFrame with those columns on the same index.
    """
    missing = set(SCORED) - set(cuts)
    if missing:
        raise ValueError(f"cut points lack: {', '.join(sorted(missing))}")

    def score_all(get: Any) -> dict[str, Any]:
        return {
            "r_score": _score(get("recency_days"), cuts["recency_days"], lower_is_better=True),
            "f_score": _score(get("frequency"), cuts["frequency"], lower_is_better=False),
            "m_score": _score(get("monetary"), cuts["monetary"], lower_is_better=False),
        }

    if isinstance(row_or_table, pd.DataFrame):
        return pd.DataFrame(
            score_all(lambda name: row_or_table[name].to_numpy(np.float64)),
            index=row_or_table.index,
        )
    return {k: int(v) for k, v in score_all(lambda name: float(row_or_table[name])).items()}


def segment(r: int, f: int) -> str:
    """The segment name for a recency score ``r`` and frequency score ``f`` (each 1–5)."""
    if not all(v in (1, 2, 3, 4, 5) for v in (r, f)):
        raise ValueError(f"scores must be whole numbers 1–5, got r={r!r}, f={f!r}")
    return SEGMENTS[int(r)][int(f) - 1]
