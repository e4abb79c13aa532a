"""Signature inference and validation: the messages name the field and what is expected."""

from __future__ import annotations

import doctest

import numpy as np
import pandas as pd
import pytest

from foresight.platform.tabular import signature
from foresight.platform.tabular.signature import FieldWarning, Signature


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "plan": ["a", "b", "a", "c"],
            "tenure": [1, 5, 0, 12],
            "score": [0.5, -1.5, 2.0, np.nan],
            "flag": [True, False, True, True],
            "email": [f"u{i}@x.io" for i in range(4)],
            "const": [1, 1, 1, 1],
        }
    )


def test_infer_kinds_ranges_and_drops() -> None:
    sig = Signature.infer(frame())
    kinds = {c.name: c.kind for c in sig.columns}
    assert kinds["plan"] == "categorical" and kinds["tenure"] == "numeric"
    assert sig.column("tenure").non_negative and not sig.column("score").non_negative
    assert sig.column("score").nullable and not sig.column("tenure").nullable
    assert sig.column("flag").categories == ["0", "1"]
    assert sig.dropped["const"] == "constant"
    assert Signature.from_dict(sig.to_dict()).to_dict() == sig.to_dict()


def test_identifier_like_text_is_dropped() -> None:
    ids = pd.DataFrame({"id": [f"x{i}" for i in range(500)], "v": range(500)})
    assert "id" in Signature.infer(ids).dropped


def test_encode_record_reports_every_problem() -> None:
    sig = Signature.infer(frame().drop(columns=["email"]))
    ok, errors = sig.encode_record({"plan": "b", "tenure": 3, "score": None, "flag": True})
    assert not errors and ok[sig.names.index("plan")] == 1.0
    _, errors = sig.encode_record({"plan": "zzz", "tenure": -2, "flag": "maybe", "extra": 1})
    by_field = {e.field: e.message for e in errors}
    assert "unknown category 'zzz'" in by_field["plan"] and "'a', 'b', 'c'" in by_field["plan"]
    assert "≥ 0" in by_field["tenure"]
    assert "unknown field" in by_field["extra"]
    assert "unknown category" in by_field["flag"]
    assert "score" not in by_field  # nullable may be missing
    _, errors = sig.encode_record({"plan": "a", "tenure": "ten", "flag": 1})
    assert any(e.field == "tenure" and "'ten'" in e.message for e in errors)


def test_encode_frame_flags_bad_cells_by_row() -> None:
    sig = Signature.infer(frame().drop(columns=["email"]))
    batch = pd.DataFrame(
        {
            "plan": ["a", "nope", None],
            "tenure": [1, 2, -1],
            "score": [0.1, None, 1.0],
            "flag": [1, 0, 1],
            "const": [1, 1, 1],
        }
    )
    matrix, errors = sig.encode_frame(batch)
    assert {(e.row, e.field) for e in errors} == {(1, "plan"), (2, "plan"), (2, "tenure")}
    assert not np.isnan(matrix[0]).any()


def test_non_finite_and_huge_numbers_are_field_errors_not_crashes() -> None:
    sig = Signature.infer(frame())
    base = {"plan": "a", "tenure": 3, "score": 1.0, "flag": True}
    base.update({n: frame()[n].iloc[0] for n in sig.names if n not in base})
    for value in (float("inf"), float("-inf"), float("1e400"), 10**400, "inf", "NaN"):
        _, errors = sig.encode_record({**base, "tenure": value})
        # inf used to pass the fast path and crash later (int(inf) in the explanation).
        assert [e.field for e in errors] == ["tenure"], value
    _, errors = sig.encode_record({**base, "score": float("nan")})
    assert errors == []  # score is nullable: NaN is its missing value
    batch = pd.DataFrame([{**base, "tenure": 2}, {**base, "tenure": np.inf}, {**base, "tenure": 4}])
    matrix, errors = sig.encode_frame(batch)
    assert [(e.field, e.row) for e in errors] == [("tenure", 1)]
    assert "finite" in errors[0].message and np.isnan(matrix[1, sig.names.index("tenure")])
    text = pd.DataFrame([{**base, "score": "inf"}, {**base, "score": "2.5"}])
    _, errors = sig.encode_frame(text)
    assert [(e.field, e.row) for e in errors] == [("score", 0)]


def test_values_outside_the_training_range_are_scored_with_a_warning() -> None:
    sig = Signature.infer(frame().drop(columns=["email"]))
    base = {"plan": "a", "tenure": 3, "score": 1.0, "flag": True}
    seen: list[FieldWarning] = []
    row, errors = sig.encode_record({**base, "tenure": 9999, "score": -7.25}, warnings=seen)
    # Used to be scored without a word: the model never saw a tenure past 12.
    assert errors == [] and row[sig.names.index("tenure")] == 9999
    assert [w.as_dict() for w in seen] == [
        {
            "field": "tenure",
            "message": "9999 is above the largest value seen in training (12); "
            "the prediction extrapolates",
            "value": 9999,
        },
        {
            "field": "score",
            "message": "-7.25 is below the smallest value seen in training (-1.5); "
            "the prediction extrapolates",
            "value": -7.25,
        },
    ]
    seen.clear()
    _, errors = sig.encode_record({**base, "tenure": 12, "score": 2.0}, warnings=seen)
    assert errors == [] and seen == []  # the bounds themselves are in range
    _, errors = sig.encode_record({**base, "tenure": 9999})  # no list given: none collected
    assert errors == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"tenure": True}, "expected an integer, got true"),
        ({"tenure": False}, "expected an integer, got false"),
        ({"tenure": 1.5}, "expected an integer, got 1.5"),
        ({"tenure": "1.5"}, "expected an integer, got '1.5'"),
        ({"score": True}, "expected a number, got true"),
    ],
)
def test_wrong_number_types_are_errors(change: dict, message: str) -> None:
    sig = Signature.infer(frame().drop(columns=["email"]))
    base = {"plan": "a", "tenure": 3, "score": 1.0, "flag": True}
    seen: list[FieldWarning] = []
    _, errors = sig.encode_record({**base, **change}, warnings=seen)
    # true used to be read as 1, and 1.5 was cut to 1 when explained.
    assert [e.as_dict() for e in errors] == [{"field": next(iter(change)), "message": message}]
    assert seen == []


def test_integral_floats_and_numeric_strings_are_numbers() -> None:
    sig = Signature.infer(frame().drop(columns=["email"]))
    base = {"plan": "a", "tenure": 3, "score": 1.0, "flag": True}
    seen: list[FieldWarning] = []
    row, errors = sig.encode_record({**base, "tenure": 2.0, "score": " 0.25 "}, warnings=seen)
    assert errors == [] and seen == []
    assert row[sig.names.index("tenure")] == 2 and row[sig.names.index("score")] == 0.25
    # A numeric string is held to the same range as the number it spells.
    _, errors = sig.encode_record({**base, "tenure": "99"}, warnings=seen)
    assert errors == [] and [(w.field, w.value) for w in seen] == [("tenure", "99")]
    assert seen[0].message.startswith("99 is above")


def test_encode_frame_warns_and_rejects_by_row_without_touching_the_frame() -> None:
    sig = Signature.infer(frame().drop(columns=["email"]))
    batch = pd.DataFrame(
        {
            "plan": ["a", "b", "c", "a"],
            "tenure": [1.0, 99.0, 2.5, 4.0],  # a CSV column with a fraction reads as floats
            "score": [0.1, -3.0, 1.0, 1.0],
            "flag": [1, 0, 1, 1],
        }
    )
    before = batch.copy()
    seen: list[FieldWarning] = []
    matrix, errors = sig.encode_frame(batch, warnings=seen)
    assert [(e.row, e.field, e.message) for e in errors] == [
        (2, "tenure", "expected an integer, got 2.5")
    ]
    assert [(w.row, w.field, w.value) for w in seen] == [(1, "tenure", 99), (1, "score", -3.0)]
    assert isinstance(seen[0].value, int | float) and "above the largest" in seen[0].message
    assert matrix[1, sig.names.index("tenure")] == 99  # scored all the same
    assert np.isnan(matrix[2, sig.names.index("tenure")])
    pd.testing.assert_frame_equal(batch, before)
    # JSON records: booleans make an object (or bool) column; true is no number there either.
    for tenure in ([True, 3], [True, False], [True, 1], [True, 1.0]):
        records = pd.DataFrame({**{k: v[:2] for k, v in batch.items()}, "tenure": tenure})
        _, errors = sig.encode_frame(records)
        assert (0, "tenure", "expected an integer, got true") in {
            (e.row, e.field, e.message) for e in errors
        }
    mixed = pd.DataFrame({**{k: v[:3] for k, v in batch.items()}, "tenure": ["50", 1.5, 3]})
    seen.clear()
    _, errors = sig.encode_frame(mixed, warnings=seen)
    assert [(e.row, e.message) for e in errors] == [(1, "expected an integer, got 1.5")]
    assert [(w.row, w.field, w.value) for w in seen if w.field == "tenure"] == [(0, "tenure", "50")]


def test_docstring_examples() -> None:
    assert doctest.testmod(signature).failed == 0
