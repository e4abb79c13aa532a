"""Reading a user's CSV: every way it can be unreadable is an :class:`InvalidInput`."""

from __future__ import annotations

import pandas as pd

from foresight.platform.errors import InvalidInput


def read_csv(source: object, what: str = "the CSV file") -> pd.DataFrame:
    """Read a CSV (path or file object); a malformed or empty file is an InvalidInput."""
    try:
        frame = pd.read_csv(source, skipinitialspace=True)  # type: ignore[call-overload]
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{what} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"{what} cannot be parsed: {exc}") from None
    if frame.empty:
        raise InvalidInput(f"{what} has a header but no rows")
    unnamed = [c for c in frame.columns if str(c).startswith("Unnamed:")]
    if unnamed:
        raise InvalidInput(f"the header of {what} has empty column names; name every column")
    return frame


def row_numbers(mask: object, limit: int = 5) -> str:
    """Data-row numbers as a file shows them (header is line 1), at most ``limit`` listed."""
    import numpy as np

    flags = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(flags)[:limit] + 2
    more = "" if flags.sum() <= limit else f" and {int(flags.sum()) - limit} more"
    return ", ".join(map(str, rows)) + more
