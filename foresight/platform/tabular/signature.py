"""A model's input signature: inferred from training data, enforced on every request.

The signature is the contract between training and serving. It is stored with the
model version (as JSON) so that a request is validated against exactly the columns,
types, categories and ranges the model was trained on.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal["numeric", "categorical"]

# A text column with more distinct values than this (and mostly unique) is an identifier
# or free text, not a feature: keeping it would let the model memorise rows.
MAX_CATEGORIES = 100


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one row."""

    field: str
    message: str
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message}
        if self.row is not None:
            out["row"] = self.row
        return out


@dataclass
class Column:
    name: str
    kind: Kind
    nullable: bool = False
    categories: list[str] = field(default_factory=list)
    minimum: float | None = None
    maximum: float | None = None
    integer: bool = False

    @property
    def non_negative(self) -> bool:
        return self.kind == "numeric" and self.minimum is not None and self.minimum >= 0

    def describe(self) -> str:
        if self.kind == "categorical":
            return "one of " + ", ".join(repr(c) for c in self.categories[:20])
        kind = "an integer" if self.integer else "a number"
        return f"{kind} ≥ 0" if self.non_negative else kind


def _as_category(value: Any) -> str:
    """Canonical text of a category value (1.0 and 1 and '1' are the same category)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


@dataclass
class Signature:
    columns: list[Column]
    dropped: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._by_name = {c.name: c for c in self.columns}
        self._codes = {
            c.name: {cat: float(i) for i, cat in enumerate(c.categories)}
            for c in self.columns
            if c.kind == "categorical"
        }
        self._plan = [
            (i, c, self._codes.get(c.name), c.non_negative) for i, c in enumerate(self.columns)
        ]

    # Pickle only the declared fields; lookup tables are rebuilt on load, so an artifact
    # written by an older version still loads after they change.
    def __getstate__(self) -> dict[str, Any]:
        return {"columns": self.columns, "dropped": self.dropped}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.columns, self.dropped = state["columns"], state["dropped"]
        self.__post_init__()

    # ---- inference -------------------------------------------------------------------
    @classmethod
    def infer(cls, frame: pd.DataFrame) -> Signature:
        """Infer column kinds, categories and ranges from a training frame."""
        columns: list[Column] = []
        dropped: dict[str, str] = {}
        for name in frame.columns:
            series = frame[name]
            present = series[~series.map(_is_missing)]
            if present.empty:
                dropped[str(name)] = "no values"
                continue
            numeric = pd.to_numeric(present, errors="coerce")
            is_bool = pd.api.types.is_bool_dtype(present)
            if not is_bool and numeric.notna().all():
                values = numeric.astype(float)
                if values.nunique() <= 1:
                    dropped[str(name)] = "constant"
                    continue
                columns.append(
                    Column(
                        name=str(name),
                        kind="numeric",
                        nullable=len(present) < len(series),
                        minimum=float(values.min()),
                        maximum=float(values.max()),
                        integer=bool(np.all(np.mod(values, 1) == 0)),
                    )
                )
                continue
            cats = present.map(_as_category)
            unique = sorted(cats.unique().tolist())
            if len(unique) <= 1:
                dropped[str(name)] = "constant"
                continue
            if len(unique) > MAX_CATEGORIES and len(unique) > 0.5 * len(present):
                dropped[str(name)] = f"identifier-like text ({len(unique)} distinct values)"
                continue
            columns.append(
                Column(
                    name=str(name),
                    kind="categorical",
                    nullable=len(present) < len(series),
                    categories=unique,
                )
            )
        return cls(columns=columns, dropped=dropped)

    # ---- (de)serialisation ----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"columns": [asdict(c) for c in self.columns], "dropped": self.dropped}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signature:
        return cls(columns=[Column(**c) for c in data["columns"]], dropped=data.get("dropped", {}))

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return self._by_name[name]

    @property
    def categorical_indices(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.kind == "categorical"]

    # ---- one record (the hot path) --------------------------------------------------
    def encode_record(self, record: dict[str, Any]) -> tuple[np.ndarray, list[FieldError]]:
        """Validate one record and encode it as a float row (categories as codes)."""
        row = np.empty(len(self.columns), dtype=np.float64)
        errors: list[FieldError] = []
        if record.keys() - self._by_name.keys():
            for key in record:
                if key not in self._by_name:
                    errors.append(
                        FieldError(
                            key, "unknown field; the model expects: " + ", ".join(self.names)
                        )
                    )
        for i, col, codes, non_negative in self._plan:
            value = record.get(col.name)
            kind = type(value)
            # Fast paths for the JSON types a well-formed request carries.
            if codes is not None and kind is str and value in codes:
                row[i] = codes[value]
                continue
            if (
                codes is None
                # Finite numbers only: NaN and ±inf fail ``v - v == 0`` (inf - inf is NaN),
                # and an int past float range goes to the slow path's clear error.
                and (kind is float or (kind is int and -(2**62) < value < 2**62))  # type: ignore[operator]
                and value - value == 0  # type: ignore[operator]
                and (not non_negative or value >= 0)  # type: ignore[operator]
            ):
                row[i] = value
                continue
            error = self._encode_slow(col, codes, value, col.name in record, row, i)
            if error is not None:
                errors.append(error)
        return row, errors

    @staticmethod
    def _encode_slow(
        col: Column,
        codes: dict[str, float] | None,
        value: Any,
        present: bool,
        row: np.ndarray,
        i: int,
    ) -> FieldError | None:
        if _is_missing(value):
            if col.nullable:
                row[i] = np.nan
                return None
            what = "empty" if present else "missing"
            return FieldError(col.name, f"{what}; expected {col.describe()}")
        if codes is not None:
            code = codes.get(_as_category(value))
            if code is None:
                return FieldError(
                    col.name, f"unknown category {value!r}; expected {col.describe()}"
                )
            row[i] = code
            return None
        number = _to_number(value)
        if number is None or (col.non_negative and number < 0):
            return FieldError(col.name, f"got {value!r}; expected {col.describe()}")
        row[i] = number
        return None

    # ---- many records (batch) -------------------------------------------------------
    def encode_frame(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[FieldError]]:
        """Validate and encode a frame, vectorised. Bad rows are reported, not dropped here.

        Returns the encoded matrix (bad cells are NaN) and one error per bad cell, with
        ``row`` the 0-based position in ``frame``.
        """
        errors: list[FieldError] = []
        missing = [c.name for c in self.columns if c.name not in frame.columns]
        if missing:
            raise ValueError(
                "columns missing: "
                + ", ".join(missing)
                + "; the model expects: "
                + ", ".join(self.names)
            )
        matrix = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for i, col in enumerate(self.columns):
            series = frame[col.name]
            if col.kind == "numeric" and pd.api.types.is_numeric_dtype(series.dtype):
                # Already numbers (the usual case for a CSV): no per-value work at all.
                values = series.to_numpy(dtype=np.float64, na_value=np.nan)
                infinite = np.isinf(values)
                if infinite.any():
                    errors.extend(
                        FieldError(
                            col.name, f"not a finite number; expected {col.describe()}", int(pos)
                        )
                        for pos in np.flatnonzero(infinite)
                    )
                    values = np.where(infinite, np.nan, values)
                absent = np.isnan(values) & ~infinite
                if not col.nullable and absent.any():
                    errors.extend(
                        FieldError(col.name, f"missing; expected {col.describe()}", int(pos))
                        for pos in np.flatnonzero(absent)
                    )
                if col.non_negative and (values < 0).any():
                    for pos in np.flatnonzero(values < 0):
                        errors.append(
                            FieldError(
                                col.name,
                                f"got {_show(series.iloc[pos])}; expected {col.describe()}",
                                int(pos),
                            )
                        )
                    values = np.where(values < 0, np.nan, values)
                matrix[:, i] = values
                continue
            # Work on the distinct values: a column of 10^5 rows has a handful of them,
            # so per-value Python (canonical text, blank checks) runs a handful of times.
            inverse, uniques = pd.factorize(series, use_na_sentinel=True)
            unique_values = np.asarray(uniques, dtype=object)
            unique_absent = np.fromiter(
                (_is_missing(v) for v in unique_values), bool, len(unique_values)
            )
            absent = inverse < 0
            if unique_absent.any():
                absent |= unique_absent[np.maximum(inverse, 0)] & (inverse >= 0)
            if col.kind == "categorical":
                lookup = self._codes[col.name]
                unique_codes = np.array(
                    [lookup.get(_as_category(v), np.nan) for v in unique_values], dtype=np.float64
                )
                reason = f"unknown category; expected {col.describe()}"
            else:
                unique_codes = pd.to_numeric(
                    pd.Series(unique_values, dtype=object), errors="coerce"
                ).to_numpy(dtype=np.float64)
                unique_codes[np.isinf(unique_codes)] = np.nan  # "inf" text is no number
                reason = f"expected {col.describe()}"
            values = np.where(inverse >= 0, unique_codes[np.maximum(inverse, 0)], np.nan)
            bad = np.isnan(values) & ~absent
            if col.kind == "numeric" and col.non_negative:
                bad |= values < 0
            if not col.nullable:
                for pos in np.flatnonzero(absent):
                    errors.append(
                        FieldError(col.name, f"missing; expected {col.describe()}", int(pos))
                    )
            for pos in np.flatnonzero(bad):
                errors.append(
                    FieldError(col.name, f"got {_show(series.iloc[pos])}; {reason}", int(pos))
                )
            values[bad | absent] = np.nan
            matrix[:, i] = values
        return matrix, errors

    def decode_value(self, index: int, value: float) -> Any:
        """The user's own value for an encoded cell (for explanations)."""
        col = self.columns[index]
        if value != value:  # NaN: the value was missing
            return None
        if col.kind == "categorical":
            return col.categories[int(value)]
        return int(value) if col.integer else round(float(value), 4)


def _show(value: Any) -> str:
    """A cell as the user wrote it (no NumPy reprs in error messages)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def _to_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:  # an int beyond float range
            return None
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    # NaN, ±inf and 1e400 are no measurement a model was trained on.
    return number if math.isfinite(number) else None
