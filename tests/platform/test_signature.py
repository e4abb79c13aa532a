"""Signature inference and validation: the messages name the field and what is expected."""

from __future__ import annotations

import numpy as np
import pandas as pd

from foresight.platform.tabular.signature import Signature


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
