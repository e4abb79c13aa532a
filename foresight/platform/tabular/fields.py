"""One field's problems and the value rules a signature applies to it.

A :class:`FieldError` rejects the row; a :class:`FieldWarning` scores it and says why
the answer deserves less trust (see :mod:`foresight.platform.tabular.signature`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from foresight.platform.tabular.signature import Column


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


@dataclass(frozen=True)
class FieldWarning:
    """A value of the right type outside what training saw: the row is scored, but flagged.

    ``value`` is the value as the user sent it.
    """

    field: str
    message: str
    value: Any = None
    row: int | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"field": self.field, "message": self.message, "value": self.value}
        if self.row is not None:
            out["row"] = self.row
        return out


def as_category(value: Any) -> str:
    """Canonical text of a category value (1.0 and 1 and '1' are the same category)."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def is_missing(value: Any) -> bool:
    """None, NaN and blank text: a value that was not given."""
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def number_column(col: Column, series: pd.Series, errors: list[FieldError]) -> np.ndarray:
    """A column that is already numbers (the usual case for a CSV): no per-value work."""
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    infinite = np.isinf(values)
    if infinite.any():
        errors.extend(
            FieldError(col.name, f"not a finite number; expected {col.describe()}", int(pos))
            for pos in np.flatnonzero(infinite)
        )
        values = np.where(infinite, np.nan, values)
    absent = np.isnan(values) & ~infinite
    if not col.nullable and absent.any():
        errors.extend(
            FieldError(col.name, f"missing; expected {col.describe()}", int(pos))
            for pos in np.flatnonzero(absent)
        )
    return values


def check_numbers(
    col: Column,
    series: pd.Series,
    values: np.ndarray,
    errors: list[FieldError],
    warnings: list[FieldWarning] | None,
) -> None:
    """Sign and integer rules (errors; the cell becomes NaN) and the training range
    (warnings) on a numeric column's values, in place. NaN cells were reported already."""
    if col.non_negative:
        negative = np.flatnonzero(values < 0)
        for pos in negative:
            cell = show(series.iloc[pos])
            errors.append(FieldError(col.name, f"got {cell}; expected {col.describe()}", int(pos)))
        values[negative] = np.nan
    if col.integer:
        with np.errstate(invalid="ignore"):
            fractional = np.flatnonzero(np.isfinite(values) & (values != np.floor(values)))
        errors.extend(col.type_error(series.iloc[pos], int(pos)) for pos in fractional)
        values[fractional] = np.nan
    if warnings is None:
        return
    lo = -np.inf if col.minimum is None else col.minimum
    hi = np.inf if col.maximum is None else col.maximum
    for pos in np.flatnonzero((values < lo) | (values > hi)):
        cell = series.iloc[pos]
        warning = col.range_warning(float(values[pos]), plain(cell), int(pos))
        if warning is not None:
            warnings.append(warning)


def plain(value: Any) -> Any:
    """A cell as a plain Python value (for JSON answers)."""
    return value.item() if isinstance(value, np.generic) else value


def show(value: Any) -> str:
    """A cell as the user wrote it (no NumPy reprs in error messages)."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def format_number(x: float) -> str:
    """A number as people write it: 72 rather than 72.0."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def to_number(value: Any) -> float | None:
    """The finite number a JSON value or a numeric string spells, else None."""
    if isinstance(value, bool):  # true is no measurement: the caller says so
        return None
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
