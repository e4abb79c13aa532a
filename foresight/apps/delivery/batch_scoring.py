"""Availability for many customer-window pairs at once: the rows checked column-wise, the
customers read in bulk, the inputs built by the same functions as one answer's, one model
call. ``batch.py`` runs it as a platform job; the CLI scores a file with it directly.

A bad pair is a row error (``{row, field, message}``), never a failed batch; an unknown
or deleted customer is one too. A pair's probability is the one ``availability`` gives for
the same window: the same profile, the newest ``history_max_attempts`` attempts, the same
calendar, the same model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from foresight.apps.delivery import state, store
from foresight.apps.delivery.checks import (
    CUSTOMER_ID,
    EARLIEST,
    LATEST,
    MAX_WINDOW_HOURS,
    MIN_WINDOW_MINUTES,
    duration_text,
    offset_message,
)
from foresight.apps.delivery.epoch import recent_outcomes
from foresight.apps.delivery.features import describe
from foresight.apps.delivery.forecast import apply_forecast
from foresight.apps.delivery.history import History
from foresight.apps.delivery.inputs import MODEL_FEATURES, matrix
from foresight.apps.delivery.optimal import WEATHER_COLUMNS
from foresight.apps.delivery.predictor import profile_of
from foresight.platform.serving import Served

if TYPE_CHECKING:
    from foresight.apps.delivery.service import DeliveryService

PAIR_COLUMNS = ("customer_id", "window_start", "window_end")
RESULT_COLUMNS = (
    "row",
    *PAIR_COLUMNS,
    "probability",
    "basis",
    "calendar_conflict",
    "model_version",
)
# A time, then its offset: "2025-06-03" ends in "-03" but carries no offset.
_OFFSET = re.compile(r"[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|z|[+-]\d{2}(?::?\d{2})?)$")
_COLUMN = {name: i for i, name in enumerate(MODEL_FEATURES)}
_MIN, _MAX = pd.Timedelta(minutes=MIN_WINDOW_MINUTES), pd.Timedelta(hours=MAX_WINDOW_HOURS)


@dataclass
class Scored:
    """One chunk's outcome: result rows in input order, and the rows refused."""

    results: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    model_version: str | None = None
    served: Served | None = None  # the model that scored the chunk
    # (customer_id, [(start, end, p), ...]) per customer scored, for their events
    per_customer: list[tuple[str, list[tuple[datetime, datetime, float]], str]] = field(
        default_factory=list
    )


def _text(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series("", index=frame.index, dtype=object)
    values = frame[column]
    return values.where(values.notna(), "").astype(str).str.strip()


def check_pairs(frame: pd.DataFrame, first_row: int) -> tuple[pd.DataFrame, list[dict]]:
    """The pairs of ``frame`` that are well formed, with ``row`` (``first_row`` for the
    first), UTC ``start``/``end`` timestamps and the texts as sent; and a row error
    (the first problem found) for each of the others."""
    n = len(frame)
    rows = np.arange(first_row, first_row + n)
    cid = _text(frame, "customer_id")
    start_text, end_text = _text(frame, "window_start"), _text(frame, "window_end")
    problem = pd.Series("", index=frame.index, dtype=object)
    where = pd.Series("", index=frame.index, dtype=object)

    def flag(mask: pd.Series, name: str, message: str | pd.Series) -> None:
        new = mask & (problem == "")
        where[new] = name
        problem[new] = message if isinstance(message, str) else message[new]

    flag(cid == "", "customer_id", "is required")
    flag(
        ~cid.str.match(CUSTOMER_ID.pattern),
        "customer_id",
        "must be 1 to 100 characters: letters, digits and . _ : - (starting with a letter "
        "or digit)",
    )
    times = {}
    for name, text in (("window_start", start_text), ("window_end", end_text)):
        flag(text == "", name, "is required")
        flag(~text.str.contains(_OFFSET), name, offset_message(name))
        parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
        flag(parsed.isna(), name, "is not an ISO 8601 date-time, e.g. 2025-06-03T14:00:00-04:00")
        outside = parsed.notna() & ((parsed < EARLIEST) | (parsed >= LATEST))
        flag(outside, name, f"must be between {EARLIEST.year} and {LATEST.year}")
        times[name] = parsed
    length = times["window_end"] - times["window_start"]
    flag(length <= pd.Timedelta(0), "window_end", "must be after window_start")
    odd = ((length < _MIN) | (length > _MAX)) & (problem == "")
    if odd.any():  # the message names each odd length: computed for those rows only
        lengths = length[odd].map(lambda d: duration_text(d.to_pytimedelta()))
        limits = f"a window is {MIN_WINDOW_MINUTES} min to {MAX_WINDOW_HOURS} h long; got "
        flag(odd, "window_end", (limits + lengths).reindex(frame.index, fill_value=""))
    bad = (problem != "").to_numpy()
    errors = [
        {"row": int(r), "field": f, "message": m}
        for r, f, m in zip(rows[bad], where[bad], problem[bad], strict=True)
    ]
    good = pd.DataFrame(
        {
            "row": rows[~bad],
            "customer_id": cid[~bad].to_numpy(),
            "window_start": start_text[~bad].to_numpy(),
            "window_end": end_text[~bad].to_numpy(),
            "start": store.epoch_seconds(times["window_start"][~bad]),
            "end": store.epoch_seconds(times["window_end"][~bad]),
        }
    )
    return good, errors


def score_pairs(service: DeliveryService, frame: pd.DataFrame, first_row: int = 1) -> Scored:
    """Check and score ``frame``'s pairs (columns ``PAIR_COLUMNS``; row numbers count
    from ``first_row``)."""
    good, errors = check_pairs(frame, first_row)
    out = Scored(errors=errors)
    if good.empty:
        return out
    predictions, settings = service.predictions, service.settings
    ids = sorted(set(good["customer_id"]))
    with service.p.db.session() as session:
        rows = store.customer_rows(session, ids)
        live = {cid: profile_of(r) for cid, r in rows.items() if r.deleted_at is None}
    for cid in ids:
        if cid not in live:
            why = "was deleted" if cid in rows else "is not a known customer"
            for r in good.loc[good["customer_id"] == cid, "row"].tolist():
                out.errors.append(
                    {"row": int(r), "field": "customer_id", "message": f"{cid!r} {why}"}
                )
    good = good[good["customer_id"].isin(live.keys())].reset_index(drop=True)
    if good.empty:
        return out
    known = sorted(live)
    keep = settings.history_max_attempts
    history = recent_outcomes(service.p.db, known, keep=keep)
    now = service.p.clock()
    calendars = service.calendars.calendars_for(known, now=now)
    served = predictions.serve()
    params, climate = predictions.params(served), predictions.climate()
    x = np.empty((len(good), len(MODEL_FEATURES)))
    cids = good["customer_id"].to_numpy()
    order = np.argsort(cids, kind="stable")
    bounds = np.flatnonzero(np.r_[True, cids[order][1:] != cids[order][:-1], True])
    start, end = good["start"].to_numpy(), good["end"].to_numpy()
    for a, b in pairwise(bounds.tolist()):
        idx = order[a:b]
        cid = str(cids[idx[0]])
        profile = live[cid]
        at, delivered = history.get(cid, (np.empty(0, np.int64), np.empty(0, bool)))
        hist = History.from_times(at, delivered, profile.tz)
        w = describe(start[idx], end[idx], profile.tz)
        block = matrix(profile, hist, calendars[cid], w, params=params, climate=climate)
        apply_forecast(block, w.start, w.end, service.forecast_of(profile), WEATHER_COLUMNS)
        x[idx] = block
    p = np.clip(served.model.predict(x), 0.0, 1.0)
    busy = x[:, _COLUMN["cal_busy_share"]] > 0
    unread = np.array([calendars[c].status != "none" for c in cids]) & (
        x[:, _COLUMN["cal_known"]] == 0
    )
    basis = np.where(unread, "history_only", "model")
    label = served.label
    out.model_version, out.served = label, served
    out.results = [
        {
            "row": int(r),
            "customer_id": c,
            "window_start": s,
            "window_end": e,
            "probability": round(q, 4),  # as one answer rounds (not NumPy's rounding)
            "basis": str(k),
            "calendar_conflict": bool(f),
            "model_version": label,
        }
        for r, c, s, e, q, k, f in zip(
            good["row"].tolist(),
            cids.tolist(),
            good["window_start"].tolist(),
            good["window_end"].tolist(),
            p.tolist(),
            basis.tolist(),
            busy.tolist(),
            strict=True,
        )
    ]
    for a, b in pairwise(bounds.tolist()):
        idx = order[a:b]
        windows = [
            (_utc(start[i]), _utc(end[i]), float(p[i])) for i in idx[: state.MAX_PREDICTION_WINDOWS]
        ]
        out.per_customer.append((str(cids[idx[0]]), windows, str(basis[idx[0]])))
    return out


def _utc(seconds: int) -> datetime:
    return datetime.fromtimestamp(int(seconds), UTC)
