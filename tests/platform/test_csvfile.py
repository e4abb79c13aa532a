"""Reading users' CSV files: encodings detected, unreadable files named in user terms."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from foresight.platform import csvfile
from foresight.platform.csvfile import (
    count_lines,
    detect_encoding,
    read_csv,
    read_csv_chunks,
    read_csv_header,
)
from foresight.platform.errors import InvalidInput

TEXT = "name,city,amount\nRené,Genève,12.5\nJürgen,Zürich,7\nChloé,Besançon,3\n"
NO_BOM = (
    "looks like UTF-16 or UTF-32 text without a byte-order mark; "
    "save it as UTF-8 (in Excel: 'CSV UTF-8'), or UTF-16 with a byte-order mark"
)


def write(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "people.csv"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("encoding", "detected"),
    [
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("cp1252", "cp1252"),  # Excel's "CSV" on Western Windows
        ("latin-1", "cp1252"),  # the same bytes for these letters
        ("utf-16", "utf-16"),  # Excel's "Unicode text", with a byte-order mark
        ("utf-16-be", None),  # no mark: refused below
        ("utf-32", "utf-32"),
    ],
)
def test_every_reader_detects_the_encoding(
    tmp_path: Path, encoding: str, detected: str | None
) -> None:
    data = TEXT.encode(encoding)
    if encoding == "utf-16-be":
        path = write(tmp_path, data)
        for read in (detect_encoding, read_csv, read_csv_header):
            with pytest.raises(InvalidInput) as caught:
                read(path)  # type: ignore[operator]
            assert caught.value.message == f"the CSV file {NO_BOM}"
        return
    path = write(tmp_path, data)
    assert detect_encoding(path) == detected
    frame = read_csv(path, "people.csv")
    assert list(frame["city"]) == ["Genève", "Zürich", "Besançon"]
    assert list(frame["amount"]) == [12.5, 7.0, 3.0]
    assert read_csv_header(path) == ["name", "city", "amount"]
    chunks = list(read_csv_chunks(path, 2))
    assert [list(c["name"]) for c in chunks] == [["René", "Jürgen"], ["Chloé"]]


def test_a_utf8_file_with_one_stray_byte_deep_inside_is_read_as_windows_1252(
    tmp_path: Path,
) -> None:
    # The byte is past the first block read: the whole file is checked, not a sample.
    rows = "".join(f"C{i},Paris,1\n" for i in range(200_000))
    path = write(tmp_path, ("name,city,amount\n" + rows + "Zoë,Paris,1\n").encode("cp1252"))
    assert path.stat().st_size > 1 << 20
    assert detect_encoding(path) == "cp1252"
    assert read_csv(path)["name"].iloc[-1] == "Zoë"


def test_bytes_windows_1252_leaves_undefined_are_read_as_latin_1(tmp_path: Path) -> None:
    path = write(tmp_path, b"name,code\nA,\x81\n")
    assert detect_encoding(path) == "latin-1"
    assert read_csv(path)["code"][0] == "\x81"


def test_a_given_encoding_that_does_not_fit_says_which_to_use(tmp_path: Path) -> None:
    path = write(tmp_path, TEXT.encode("cp1252"))
    with pytest.raises(InvalidInput) as caught:
        read_csv(path, "people.csv", encoding="utf-8")
    assert caught.value.message == (
        "people.csv is not valid utf-8 text; "
        "save it as UTF-8 (in Excel: 'CSV UTF-8'), or UTF-16 with a byte-order mark"
    )
    with pytest.raises(InvalidInput, match="is not valid utf-8 text"):
        list(read_csv_chunks(path, 1, encoding="utf-8"))


def test_empty_and_malformed_files_are_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="the CSV file is empty"):
        read_csv(write(tmp_path, b""))
    with pytest.raises(InvalidInput, match="has a header but no rows"):
        read_csv(write(tmp_path, b"a,b\n"))
    path = write(tmp_path, b"a,b\n1,2\n" * 3 + b"1,2,3\n")
    with pytest.raises(InvalidInput, match="cannot be parsed: Error tokenizing data"):
        list(read_csv_chunks(path, 2))


def test_count_lines_reads_blocks_not_rows(tmp_path: Path) -> None:
    path = write(tmp_path, b"a,b\n" + b"1,2\n" * 300_000)
    assert count_lines(path) == 300_001


def test_the_module_example_runs() -> None:
    assert doctest.testmod(csvfile).failed == 0
