"""Reading a user's CSV: every way it can be unreadable is an :class:`InvalidInput`.

Encodings are detected, not assumed: a byte-order mark names the encoding (UTF-8,
UTF-16, UTF-32); without one, a file that is valid UTF-8 is UTF-8 and any other is
Windows-1252 (what Excel writes as "CSV" on Western systems; Latin-1 for the five bytes
cp1252 leaves undefined). UTF-16 without a byte-order mark cannot be told apart from
noise reliably, so it is refused with the encoding to save it in::

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "people.csv"
    >>> _ = path.write_bytes("name,city\\nRené,Genève\\n".encode("cp1252"))
    >>> detect_encoding(path), read_csv(path)["city"][0]
    ('cp1252', 'Genève')
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from foresight.platform.errors import InvalidInput

_BLOCK = 1 << 20  # bytes read at a time while checking an encoding
# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
SAVE_AS_UTF8 = "save it as UTF-8 (in Excel: 'CSV UTF-8'), or UTF-16 with a byte-order mark"


def detect_encoding(path: Path, what: str = "the CSV file") -> str:
    """The encoding to read ``path`` with (see the module docstring); reads the whole
    file once, a block at a time, when it has no byte-order mark."""
    with path.open("rb") as f:
        head = f.read(_BLOCK)
        for bom, name in _BOMS:
            if head.startswith(bom):
                return name
        if b"\x00" in head[:4096]:
            # Text files have no NUL bytes; UTF-16/32 text is full of them.
            raise InvalidInput(
                f"{what} looks like UTF-16 or UTF-32 text without a byte-order mark; "
                + SAVE_AS_UTF8
            )
        f.seek(0)
        if _decodes(f, "utf-8"):
            return "utf-8"
        f.seek(0)
        return "cp1252" if _decodes(f, "cp1252") else "latin-1"


def _decodes(f: Any, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        while block := f.read(_BLOCK):
            decoder.decode(block)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _encoding_of(source: object, what: str, encoding: str | None) -> str | None:
    if encoding is None and isinstance(source, str | Path):
        return detect_encoding(Path(source), what)
    return encoding


def _unreadable(what: str, exc: Exception, encoding: str | None) -> InvalidInput:
    if isinstance(exc, UnicodeDecodeError):
        # No byte offset: the parser's is into its own buffer, not the file.
        return InvalidInput(f"{what} is not valid {encoding or 'utf-8'} text; " + SAVE_AS_UTF8)
    return InvalidInput(f"{what} cannot be parsed: {str(exc).strip()}")


def read_csv(
    source: object, what: str = "the CSV file", encoding: str | None = None
) -> pd.DataFrame:
    """Read a CSV (path or file object; a path's encoding is detected unless given); a
    malformed or empty file is an InvalidInput."""
    encoding = _encoding_of(source, what, encoding)
    try:
        frame = pd.read_csv(source, skipinitialspace=True, encoding=encoding)  # type: ignore[call-overload]
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{what} is empty") from None
    except (pd.errors.ParserError, UnicodeError, ValueError) as exc:
        raise _unreadable(what, exc, encoding) from None
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


def read_csv_header(
    path: Path, encoding: str | None = None, what: str = "the CSV file"
) -> list[str]:
    """The column names of a CSV file (an empty file is an InvalidInput)."""
    encoding = _encoding_of(path, what, encoding)
    try:
        return [str(c) for c in pd.read_csv(path, nrows=0, encoding=encoding).columns]
    except pd.errors.EmptyDataError:
        raise InvalidInput(f"{what} is empty") from None
    except (pd.errors.ParserError, UnicodeError, ValueError) as exc:
        raise _unreadable(what, exc, encoding) from None


def read_csv_chunks(
    path: Path, rows: int, encoding: str | None = None, what: str = "the CSV file"
) -> Iterator[pd.DataFrame]:
    """The file ``rows`` rows at a time (memory bounded by the chunk, not the file); the
    file is closed when the iterator is exhausted or closed."""
    encoding = _encoding_of(path, what, encoding)
    try:
        with pd.read_csv(path, chunksize=rows, skipinitialspace=True, encoding=encoding) as reader:
            yield from reader
    except (pd.errors.ParserError, UnicodeError, ValueError) as exc:
        raise _unreadable(what, exc, encoding) from None


def count_lines(path: Path) -> int:
    """Newlines in ``path`` (rows of a CSV without quoted line breaks, plus the header);
    fast, for a progress total."""
    with path.open("rb") as f:
        return sum(block.count(b"\n") for block in iter(lambda: f.read(_BLOCK), b""))
