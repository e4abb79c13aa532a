"""From a user's table to features and a target, with every automatic handling reported.

What the learner does with a column it cannot use as is, and says so in its notes:

- rows whose target is empty are dropped; a target with one value is refused;
- a class with a single row is dropped (no fold could both learn and check it);
- a column with 95 % or more missing values is dropped;
- an integer column whose values are all distinct and that is named like an id or counts
  up (1, 2, 3 …) is dropped as an identifier (text identifiers and constant columns are
  dropped by the signature);
- a date or date-time column is replaced by numbers a model can use: days since
  1970 (which a linear member can extrapolate), year, month, day of week, and hour when
  the column carries times.

The same :class:`FrameTransform` runs again on every frame or record to predict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from foresight.platform.errors import InvalidInput
from foresight.platform.tabular.tasks import Target, Task, infer_task, label_of

MOSTLY_MISSING = 0.95
ID_NAME = re.compile(r"(^|[_\W])(id|uuid|key|index)$|^id[_\W]|^(row|record)s?$", re.I)
DATE_PARTS = ("days", "year", "month", "dayofweek")
EPOCH = pd.Timestamp("1970-01-01")


@dataclass
class FrameTransform:
    """Columns dropped and date columns expanded, learnt once from the training frame."""

    dropped: dict[str, str] = field(default_factory=dict)  # column -> reason
    dates: dict[str, bool] = field(default_factory=dict)  # column -> has a time of day

    def frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input columns from a user's frame (extra columns stay, unused)."""
        out = frame.drop(columns=[c for c in self.dropped if c in frame.columns])
        for name, timed in self.dates.items():
            if name in out.columns:
                stamps = _to_datetime(out[name])
                out = out.drop(columns=[name]).assign(**_date_parts(name, stamps, timed))
        return out

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        """As :meth:`frame`, for one record (the single-row path)."""
        if not self.dropped and not self.dates:
            return record
        out = {k: v for k, v in record.items() if k not in self.dropped}
        for name, timed in self.dates.items():
            if name in out:
                stamp = _to_datetime(pd.Series([out.pop(name)]))
                out |= {k: v.iloc[0] for k, v in _date_parts(name, stamp, timed).items()}
                out = {k: (None if _nan(v) else v) for k, v in out.items()}
        return out

    @property
    def inputs_removed(self) -> set[str]:
        return set(self.dropped)


@dataclass
class Prepared:
    features: pd.DataFrame
    y: np.ndarray
    target: Target
    transform: FrameTransform
    notes: list[str]
    keep: np.ndarray  # positions of the input rows used (rows with a target)
    groups: np.ndarray | None = None
    order: np.ndarray | None = None  # time values, for time-ordered folds


def prepare(
    frame: pd.DataFrame,
    target: str,
    *,
    task: Task | None = None,
    time_column: str | None = None,
    group: str | None = None,
    drop: tuple[str, ...] = (),
) -> Prepared:
    """Check the table and split it into features and an encoded target."""
    for what, name in (("target", target), ("time column", time_column), ("group", group)):
        if name is not None and name not in frame.columns:
            raise InvalidInput(
                f"the {what} {name!r} is not a column; the file has: "
                + ", ".join(map(str, frame.columns[:30]))
            )
    unknown = [c for c in drop if c not in frame.columns]
    if unknown:
        raise InvalidInput(f"--drop names no column: {', '.join(unknown)}")
    notes: list[str] = []
    labels = frame[target]
    present = labels.notna() & labels.astype(str).str.strip().ne("")
    if not present.any():
        raise InvalidInput(f"the target {target!r} has no values")
    if not present.all():
        notes.append(f"dropped {int((~present).sum())} row(s) whose target is empty")
    keep = np.flatnonzero(present.to_numpy())
    frame = frame.iloc[keep].reset_index(drop=True)
    labels = frame[target]
    forced = task is not None
    task = task or infer_task(labels)
    if labels.nunique() < 2:
        raise InvalidInput(
            f"the target {target!r} has one value ({labels.iloc[0]!r}); a model needs at "
            "least two classes or two different numbers to learn from"
        )
    tgt = Target.of(labels, task)
    if task != "regression":
        names = labels.map(label_of)
        counts = names.value_counts()
        single = counts[counts < 2].index.tolist()
        if single and len(counts) - len(single) >= 2:
            notes.append(
                f"dropped the class(es) {', '.join(map(str, single[:5]))}: one row each, "
                "too few to learn or check"
            )
            mask = ~names.isin(single)
            keep = keep[mask.to_numpy()]
            frame = frame[mask.to_numpy()].reset_index(drop=True)
            labels = frame[target]
            if not forced:
                task = infer_task(labels)
            tgt = Target.of(labels, task)
        elif single:
            raise InvalidInput(
                f"the target {target!r} has too few rows per class: "
                + ", ".join(f"{k!r}: {v}" for k, v in counts.items())
            )
        if task == "binary" and len(tgt.classes) != 2:
            raise InvalidInput(f"a binary target needs two classes, got {len(tgt.classes)}")
    y = tgt.encode(labels)
    groups = frame[group].astype(str).to_numpy() if group else None
    order = None
    if time_column:
        stamps = _to_datetime(frame[time_column])
        if stamps.notna().mean() >= 0.95:
            order = stamps.to_numpy(dtype="datetime64[ns]").astype(np.int64).astype(float)
        else:
            order = pd.to_numeric(frame[time_column], errors="coerce").to_numpy(dtype=float)
        if np.isnan(order).any():
            raise InvalidInput(f"the time column {time_column!r} has empty or unreadable values")
    transform = FrameTransform()
    for name in drop:
        transform.dropped[str(name)] = "dropped on request (--drop)"
    if group:
        transform.dropped[group] = "the group column (used for the folds, not as a feature)"
    features = frame.drop(columns=[target, *transform.dropped])
    _learn_drops(features, transform, notes)
    features = transform.frame(features)
    if features.shape[1] == 0:
        raise InvalidInput("no feature columns are left to learn from")
    return Prepared(features, y, tgt, transform, notes, keep, groups, order)


def _learn_drops(features: pd.DataFrame, transform: FrameTransform, notes: list[str]) -> None:
    n = len(features)
    for name in features.columns:
        col = features[name]
        missing = float(col.isna().mean()) if n else 0.0
        if missing >= MOSTLY_MISSING:
            transform.dropped[str(name)] = f"{missing:.0%} of its values are missing"
        elif _is_integer_id(str(name), col):
            transform.dropped[str(name)] = "an identifier (every value distinct)"
        elif _is_date(col):
            transform.dates[str(name)] = _has_time(_to_datetime(col))
            notes.append(
                f"{name}: a date, used as " + ", ".join(f"{name}_{p}" for p in _parts(name, True))
            )
    for name, why in transform.dropped.items():
        notes.append(f"{name}: dropped, {why}")


def _is_integer_id(name: str, col: pd.Series) -> bool:
    values = pd.to_numeric(col, errors="coerce")
    if values.isna().any() or len(values) < 20 or values.nunique() != len(values):
        return False
    if not np.all(np.mod(values, 1) == 0):
        return False
    steps = np.diff(np.sort(values.to_numpy()))
    return bool(ID_NAME.search(name)) or bool(np.all(steps == 1))


def _is_date(col: pd.Series) -> bool:
    if pd.api.types.is_datetime64_any_dtype(col):
        return True
    if col.dtype != object:
        return False
    sample = col.dropna().astype(str).head(200)
    if sample.empty or not sample.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}").all():
        return False
    return bool(_to_datetime(sample).notna().mean() >= 0.95)


def _to_datetime(col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        stamps = col
    else:
        stamps = pd.to_datetime(col, errors="coerce", utc=True, format="mixed")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert(None)
    return stamps


def _has_time(stamps: pd.Series) -> bool:
    s = stamps.dropna()
    return bool(((s.dt.hour != 0) | (s.dt.minute != 0)).any())


def _parts(name: str, timed: bool) -> list[str]:
    return [*DATE_PARTS, "hour"] if timed else list(DATE_PARTS)


def _date_parts(name: str, stamps: pd.Series, timed: bool) -> dict[str, pd.Series]:
    parts = {
        # Whole days for a date-only column: a time sent with it is not a fraction.
        f"{name}_days": _days(stamps, timed),
        f"{name}_year": stamps.dt.year.astype(float),
        f"{name}_month": stamps.dt.month.astype(float),
        f"{name}_dayofweek": stamps.dt.dayofweek.astype(float),
    }
    if timed:
        parts[f"{name}_hour"] = stamps.dt.hour.astype(float)
    return parts


def _days(stamps: pd.Series, timed: bool) -> pd.Series:
    days = (stamps - EPOCH).dt.total_seconds() / 86400.0
    return days if timed else days // 1.0


def _nan(value: Any) -> bool:
    return isinstance(value, float) and value != value
