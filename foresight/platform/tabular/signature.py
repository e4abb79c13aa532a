"""A model's input signature: inferred from training data, enforced on every request.

The signature is the contract between training and serving. It is stored with the
model version (as JSON) so that a request is validated against exactly the columns,
types, categories and ranges the model was trained on.

Checks on a value, in order:

- wrong type or impossible value → a :class:`FieldError` (the row is not scored): an
  unknown field or category, a missing value, text that is no number, a non-finite
  number, a boolean for a numeric column (``true`` is not 1), a fractional number for an
  integer column ("expected an integer, got 1.5"; ``2.0`` is fine), a negative number
  where training saw none;
- the right type but outside what training saw → a :class:`FieldWarning` (the row is
  scored): a number below the training minimum or above its maximum, for which the model
  extrapolates.

Numeric strings (``"5"``, ``" 2.5 "``) are read as the number they spell, under the same
rules (``"1.5"`` is still no integer): stored customer attributes and uploaded files
carry numbers as text, and rejecting them would break those clients for no gain.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_numeric_dtype

from foresight.platform.tabular.fields import (
    FieldError,
    FieldWarning,
    as_category,
    check_numbers,
    format_number,
    is_missing,
    number_column,
    show,
    to_number,
)

Kind = Literal["numeric", "categorical"]

# A text column with more distinct values than this (and mostly unique) is an identifier
# or free text, not a feature: keeping it would let the model memorise rows.
MAX_CATEGORIES = 100
# Bounds of a numeric column without a recorded range: finite, so that NaN, ±inf and
# ints beyond float range still fail the fast path's ``lo <= value <= hi``.
_FLOAT_MAX = sys.float_info.max


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

    def range_warning(
        self, number: float, value: Any, row: int | None = None
    ) -> FieldWarning | None:
        """A warning when ``number`` lies outside the training range, else None."""
        if self.maximum is not None and number > self.maximum:
            where = f"above the largest value seen in training ({format_number(self.maximum)})"
        elif self.minimum is not None and number < self.minimum:
            where = f"below the smallest value seen in training ({format_number(self.minimum)})"
        else:
            return None
        message = f"{format_number(number)} is {where}; the prediction extrapolates"
        return FieldWarning(self.name, message, value, row)

    def type_error(self, value: Any, row: int | None = None) -> FieldError:
        """The error for a boolean or a fractional number in this numeric column."""
        shown = (
            ("true" if value else "false") if isinstance(value, bool | np.bool_) else show(value)
        )
        kind = "an integer" if self.integer else "a number"
        return FieldError(self.name, f"expected {kind}, got {shown}", row)


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
        # Per column: codes (categorical) or the inclusive range a number takes the fast
        # path in, and whether a float may (an integer column sends 2.0 the slow way).
        self._plan = [
            (
                i,
                c,
                self._codes.get(c.name),
                -_FLOAT_MAX if c.minimum is None else c.minimum,
                _FLOAT_MAX if c.maximum is None else c.maximum,
                not c.integer,
            )
            for i, c in enumerate(self.columns)
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
            present = series[~series.map(is_missing)]
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
            cats = present.map(as_category)
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
    def encode_record(
        self, record: dict[str, Any], *, warnings: list[FieldWarning] | None = None
    ) -> tuple[np.ndarray, list[FieldError]]:
        """Validate one record and encode it as a float row (categories as codes).

        Values outside the training range are appended to ``warnings`` when it is given
        (see the module docstring for what is an error and what a warning).

        >>> sig = Signature([Column("tenure", "numeric", minimum=0, maximum=72, integer=True)])
        >>> seen: list[FieldWarning] = []
        >>> row, errors = sig.encode_record({"tenure": 9999}, warnings=seen)
        >>> float(row[0]), errors
        (9999.0, [])
        >>> seen[0].message
        '9999 is above the largest value seen in training (72); the prediction extrapolates'
        >>> sig.encode_record({"tenure": 1.5})[1][0].message
        'expected an integer, got 1.5'
        """
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
        for i, col, codes, lo, hi, floats in self._plan:
            value: Any = record.get(col.name)
            kind = type(value)
            # Fast paths for the JSON types a well-formed request carries.
            if codes is not None and kind is str and value in codes:
                row[i] = codes[value]
                continue
            if (
                codes is None
                # ``type(True) is bool``, so booleans go the slow way to their error.
                and (kind is int or (kind is float and floats))
                # The bounds are finite: NaN, ±inf, ints past float range and numbers
                # outside the training range all fail here and get their error or warning.
                and lo <= value <= hi
            ):
                row[i] = value
                continue
            problem = self._encode_slow(col, codes, value, col.name in record, row, i)
            if problem is None:
                continue
            if isinstance(problem, FieldError):
                errors.append(problem)
            elif warnings is not None:
                warnings.append(problem)
        return row, errors

    @staticmethod
    def _encode_slow(
        col: Column,
        codes: dict[str, float] | None,
        value: Any,
        present: bool,
        row: np.ndarray,
        i: int,
    ) -> FieldError | FieldWarning | None:
        if is_missing(value):
            if col.nullable:
                row[i] = np.nan
                return None
            what = "empty" if present else "missing"
            return FieldError(col.name, f"{what}; expected {col.describe()}")
        if codes is not None:
            code = codes.get(as_category(value))
            if code is None:
                return FieldError(
                    col.name, f"unknown category {value!r}; expected {col.describe()}"
                )
            row[i] = code
            return None
        if isinstance(value, bool):
            return col.type_error(value)
        number = to_number(value)
        if number is None or (col.non_negative and number < 0):
            return FieldError(col.name, f"got {value!r}; expected {col.describe()}")
        if col.integer and not number.is_integer():
            return col.type_error(value)
        row[i] = number
        return col.range_warning(number, value)

    # ---- many records (batch) -------------------------------------------------------
    def encode_frame(
        self, frame: pd.DataFrame, *, warnings: list[FieldWarning] | None = None
    ) -> tuple[np.ndarray, list[FieldError]]:
        """Validate and encode a frame, vectorised. Bad rows are reported, not dropped here.

        Returns the encoded matrix (bad cells are NaN) and one error per bad cell, with
        ``row`` the 0-based position in ``frame``. Values outside the training range are
        appended to ``warnings`` (with their ``row``) when it is given; the same rules as
        :meth:`encode_record` apply.
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
            dtype = series.dtype
            if col.kind == "numeric" and is_numeric_dtype(dtype) and not is_bool_dtype(dtype):
                values = number_column(col, series, errors)
            else:
                values = self._distinct_column(col, series, errors)
            matrix[:, i] = values
            if col.kind == "numeric":
                # On the matrix's column, not ``values``: that may be a view of the frame.
                check_numbers(col, series, matrix[:, i], errors, warnings)
        return matrix, errors

    def _distinct_column(
        self, col: Column, series: pd.Series, errors: list[FieldError]
    ) -> np.ndarray:
        """Codes or numbers of a column of objects (text, mixed types), NaN where bad."""
        # Work on the distinct values: a column of 10^5 rows has a handful of them,
        # so per-value Python (canonical text, blank checks) runs a handful of times.
        inverse, uniques = pd.factorize(series, use_na_sentinel=True)
        unique_values = np.asarray(uniques, dtype=object)
        unique_absent = np.fromiter(
            (is_missing(v) for v in unique_values), bool, len(unique_values)
        )
        absent = inverse < 0
        if unique_absent.any():
            absent |= unique_absent[np.maximum(inverse, 0)] & (inverse >= 0)
        if col.kind == "categorical":
            lookup = self._codes[col.name]
            unique_codes = np.array(
                [lookup.get(as_category(v), np.nan) for v in unique_values], dtype=np.float64
            )
            reason = f"unknown category; expected {col.describe()}"
        else:
            unique_codes = pd.to_numeric(
                pd.Series(unique_values, dtype=object), errors="coerce"
            ).to_numpy(dtype=np.float64)
            unique_codes[np.isinf(unique_codes)] = np.nan  # "inf" text is no number
            reason = f"expected {col.describe()}"
        # The NaN appended answers the sentinel -1, also when the column has no value at all.
        values = np.append(unique_codes, np.nan)[inverse]
        bad = np.isnan(values) & ~absent
        if col.kind == "numeric":
            # A boolean is no number, but factorize files true under 1 (equal and same
            # hash) and to_numeric reads it as 1: so look at each cell's type.
            cells = series.to_numpy(dtype=object)
            bad |= np.fromiter((isinstance(v, bool | np.bool_) for v in cells), bool, len(cells))
        if not col.nullable:
            for pos in np.flatnonzero(absent):
                errors.append(FieldError(col.name, f"missing; expected {col.describe()}", int(pos)))
        for pos in np.flatnonzero(bad):
            cell = series.iloc[pos]
            if col.kind == "numeric" and isinstance(cell, bool | np.bool_):
                errors.append(col.type_error(cell, int(pos)))
            else:
                errors.append(FieldError(col.name, f"got {show(cell)}; {reason}", int(pos)))
        values[bad | absent] = np.nan
        return values

    def decode_value(self, index: int, value: float) -> Any:
        """The user's own value for an encoded cell (for explanations)."""
        col = self.columns[index]
        if value != value:  # NaN: the value was missing
            return None
        if col.kind == "categorical":
            return col.categories[int(value)]
        return int(value) if col.integer else round(float(value), 4)
