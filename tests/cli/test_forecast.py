"""`foresight forecast` through its CLI runner: output shape, progress, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from foresight.cli import app
from tests.platform.forecasting.test_engine import simulate

runner = CliRunner()


def test_forecast_writes_one_row_per_series_and_step(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    simulate(6, 48).to_csv(src, index=False)
    r = runner.invoke(
        app,
        [
            "forecast",
            str(src),
            "--horizon",
            "6",
            "--season-length",
            "12",
            "--level",
            "90",
            "--out",
            str(out),
            "--jobs",
            "1",
        ],
    )
    assert r.exit_code == 0, r.output
    frame = pd.read_csv(out)
    assert list(frame.columns) == ["unique_id", "ds", "y_hat", "y_hat_lo_90", "y_hat_hi_90"]
    assert len(frame) == 36 and frame["ds"].min() == 48
    assert (frame["y_hat_lo_90"] <= frame["y_hat"]).all()
    assert "Backtest" in r.output and "ensemble" in r.output


def test_dated_input_infers_the_frequency(tmp_path: Path) -> None:
    src, out = tmp_path / "in.csv", tmp_path / "out.csv"
    days = pd.date_range("2024-01-01", periods=70, freq="D")
    pd.DataFrame({"unique_id": "a", "ds": days, "y": np.arange(70) % 7 + 10.0}).to_csv(
        src, index=False
    )
    r = runner.invoke(app, ["forecast", str(src), "-h", "7", "--out", str(out), "--jobs", "1"])
    assert r.exit_code == 0, r.output
    assert "frequency D" in r.output
    assert pd.read_csv(out)["ds"].iloc[0] == "2024-03-11"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            "unique_id,ds,y\n"
            + "".join(f"a,2024-01-{d:02d},{d}\n" for d in range(1, 12) if d != 5),
            "1 missing D period(s) (first: 2024-01-05)",
        ),
        ("unique_id,ds,y\na,2024-01-01,1\na,2024-01-03,2\n", "cannot infer the frequency"),
        ("unique_id,ds,y\na,1,1\na,1,2\na,2,3\n", "duplicate (unique_id, ds) rows"),
        ("unique_id,ds,y\na,1,1\na,2,lots\na,3,3\n", "y is not a number in row(s) 3"),
        ("id,ds,y\na,1,1\n", "missing column(s) unique_id"),
    ],
)
def test_bad_input_is_a_clear_cli_error(tmp_path: Path, rows: str, message: str) -> None:
    src = tmp_path / "bad.csv"
    src.write_text(rows)
    r = runner.invoke(app, ["forecast", str(src), "-h", "2", "--out", str(tmp_path / "o.csv")])
    assert r.exit_code == 1
    assert message in r.output.replace("\n", " ")
    assert not (tmp_path / "o.csv").exists()
