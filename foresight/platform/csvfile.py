"""Reading a user's CSV: every way it can be unreadable is an :class:`InvalidInput`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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


def read_csv_header(path: Path) -> list[str]:
    """The column names of a CSV file (an empty file is an InvalidInput)."""
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    except pd.errors.EmptyDataError:
        raise InvalidInput("the CSV file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(f"the CSV file cannot be parsed: {exc}") from None


def read_csv_chunks(path: Path, rows: int) -> Iterator[pd.DataFrame]:
    """The file ``rows`` rows at a time (memory bounded by the chunk, not the file)."""
    try:
        yield from pd.read_csv(path, chunksize=rows, skipinitialspace=True)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"the CSV file cannot be parsed: {exc}") from None
