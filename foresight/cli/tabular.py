"""``foresight tabular …``: the tabular learner on any CSV, registered like any model.

``fit`` trains through the platform's pipeline (a logged run, a registry version, the
gate against production), ``predict`` scores a file with a version, ``leaderboard``
shows how the candidates did. The model card is read from the artifact.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd
import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from foresight.platform.csvfile import read_csv
from foresight.platform.tabular.learner import CANDIDATES, LearnerOptions
from foresight.platform.tabular.signature import FieldError, FieldWarning
from foresight.platform.tabular.spec import TabularTrainingSpec, check_name, is_tabular
from foresight.platform.tabular.tasks import Task
from foresight.platform.terminal import console, fail, platform_of, run_or_fail

tabular_cli = typer.Typer(
    help="The tabular learner on any CSV: fit a model for a target column, predict a file "
    "with it, compare its candidates. Models are registered like any other "
    "(`foresight models list`) and served at POST /api/v1/models/NAME/predict.",
    no_args_is_help=True,
)

SHOWN_PROBLEMS = 20  # bad rows listed in the terminal; the count says how many in all
# Where each pipeline step starts on the one progress bar (the learner's time box, in
# "tune", is nearly all of a fit).
STEP_START = {
    "validate": 0.0,
    "features": 0.02,
    "tune": 0.03,
    "fit": 0.95,
    "evaluate": 0.96,
    "register": 0.97,
    "gate": 0.98,
    "promote": 0.99,
}


class TaskChoice(StrEnum):
    binary = "binary"
    multiclass = "multiclass"
    regression = "regression"


class FitProgress:
    """One bar for the whole fit, and the current step's message beside it."""

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.task = bar.add_task("starting", total=1.0)
        self.done = 0.0

    def __call__(self, step: str, fraction: float, message: str) -> None:
        start = STEP_START.get(step, self.done)
        following = [v for v in STEP_START.values() if v > start]
        end = min(following, default=1.0)
        # Never backwards: the pipeline reports a step's start after the learner's last.
        self.done = max(self.done, start + (end - start) * min(max(fraction, 0.0), 1.0))
        self.bar.update(self.task, completed=self.done, description=f"{step:<8} {message[:60]:<60}")


@tabular_cli.command("fit")
def fit(
    ctx: typer.Context,
    file: Path = typer.Argument(..., metavar="FILE", help="A CSV with a header row."),
    target: str = typer.Option(..., "--target", "-t", help="The column to predict."),
    name: str = typer.Option(..., "--name", "-n", help="The model's name in the registry."),
    task: TaskChoice | None = typer.Option(
        None, help="Force the task; inferred from the target when omitted."
    ),
    metric: str | None = typer.Option(
        None,
        help="What candidates are chosen and blended by: roc_auc, log_loss or accuracy "
        "(binary), log_loss, macro_f1 or accuracy (multiclass), rmse or mae (regression).",
    ),
    time_column: str | None = typer.Option(
        None,
        help="Rows are ordered in time by this column: folds and held-out rows never "
        "train on the future.",
    ),
    group: str | None = typer.Option(
        None,
        help="Rows sharing a value of this column stay in one fold (a customer, a "
        "store); not used as a feature.",
    ),
    drop: list[str] = typer.Option([], "--drop", help="A column not to learn from; repeat."),
    time_budget: float = typer.Option(60.0, help="Seconds for the whole search.", min=1.0),
    holdout: float = typer.Option(
        0.2, help="Share of rows held out: never fitted on, the metrics and the gate use them."
    ),
    members: str | None = typer.Option(
        None, help="Candidates to try, comma-separated: " + ", ".join(CANDIDATES) + " (all)."
    ),
    seed: int = typer.Option(42, help="Seed of the splits and the search."),
    promote: bool = typer.Option(
        True, "--promote/--no-promote", help="Promote the new version if it passes the gate."
    ),
) -> None:
    """Fit the tabular learner on FILE to predict --target, and register it as --name.

    Every candidate (a regularised linear model, CatBoost, LightGBM) is cross-validated
    and tuned within --time-budget, a blend is kept only when it wins out of fold, and
    the result is scored on held-out rows it never saw. Columns it cannot use as they
    are (identifiers, constants, mostly empty, dates) are handled and listed in the
    notes. The new version becomes production unless it does worse than the current one
    on the same held-out rows (or --no-promote).
    """
    run_or_fail(check_name, name)
    frame = _read(file)
    platform = platform_of(ctx)
    _check_free(platform, name)
    options = LearnerOptions(
        target,
        task=cast(Task, task.value) if task else None,
        metric=metric,
        time_column=time_column,
        group=group,
        drop=tuple(drop),
        time_budget=time_budget,
        holdout=holdout,
        seed=seed,
        members=tuple(m.strip() for m in members.split(",") if m.strip()) if members else None,
    )
    spec = TabularTrainingSpec(name, frame, options)
    console.print(f"{len(frame):,} rows × {frame.shape[1]} columns from {file}; target {target!r}")
    # Transient: once the fit ends (or fails) the bar gives way to the report (or the error).
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        context = platform.training_context(FitProgress(bar))
        outcome = run_or_fail(platform.pipeline.run, spec, context, promote=promote)
    assert spec.learned is not None  # the pipeline ran the learner
    _print_card(spec.learned.model.card)
    verdict = "[green]promoted[/]" if outcome.promoted else "[yellow]not promoted[/]"
    if not promote:  # said whatever the gate found: the user asked for no promotion
        verdict += " (--no-promote)"
    console.print(
        f"registered {outcome.version.label} ({outcome.version.algorithm}) {verdict}: "
        f"{outcome.gate.reason}; {outcome.wall_seconds:.1f} s"
    )
    console.print(f"next: foresight tabular predict {name} FILE.csv --out predictions.csv")


@tabular_cli.command("predict")
def predict(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="A model fitted by `tabular fit`."),
    file: Path = typer.Argument(..., metavar="FILE", help="A CSV with the model's columns."),
    out: Path = typer.Option(Path("predictions.csv"), "--out", "-o", help="Where to write."),
    explain: bool = typer.Option(False, "--explain", help="Add each row's top factors."),
    ids: list[str] = typer.Option(
        [],
        "--id",
        help="A column to copy into the output; repeat. Default: the columns the model "
        "dropped as identifiers, if the file has them.",
    ),
    version: int | None = typer.Option(None, help="This version, not production.", min=1),
) -> None:
    """Predict every row of FILE with model NAME; one output row per input row.

    The output has the id columns, `prediction`, then `proba_<class>` per class (or
    `lower`/`upper`, the interval, for a number), and with --explain a `factors` column.
    Rows that fail validation are listed by line and left empty; the rest are predicted.
    """
    platform = platform_of(ctx)
    mv = _version(platform, name, version)
    frame = _read(file)
    if missing := [c for c in ids if c not in frame.columns]:
        fail(f"--id names no column of {file}: {', '.join(missing)}")
    model = run_or_fail(platform.registry.load, mv)
    if not ids:
        ids = [c for c in _identifiers(model) if c in frame.columns]
    scores = run_or_fail(model.score_frame, frame, explain=explain, strict=False)
    answers = scores.frame.reset_index(drop=True)
    if "factors" in answers:
        answers["factors"] = [_factor_text(f) for f in answers["factors"]]
    result = pd.concat([frame[ids].reset_index(drop=True), answers], axis=1)
    failed = _report_rows(scores.errors, scores.warnings)
    predicted = len(frame) - failed
    if predicted == 0:
        fail(f"no row of {file} could be predicted; fix the rows listed above")
    result.to_csv(out, index=False)
    note = f" ({failed} failed validation: left empty)" if failed else ""
    console.print(
        f"[green]✓[/] {predicted:,} of {len(frame):,} rows predicted by {mv.label} → {out}{note}"
    )


@tabular_cli.command("leaderboard")
def leaderboard(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME"),
    version: int | None = typer.Option(None, help="This version, not production.", min=1),
) -> None:
    """How model NAME's candidates did: out-of-fold and held-out scores, blend weights,
    which are served (and why not), calibration and the notes on the data."""
    platform = platform_of(ctx)
    mv = _version(platform, name, version)
    card = run_or_fail(platform.registry.load, mv).card
    console.print(f"[bold]{mv.label}[/] stage={mv.stage} created {mv.created_at:%Y-%m-%d %H:%M}")
    _print_card(card)
    importance = card.get("importance", [])[:10]
    if importance:
        console.print(
            "importance: " + ", ".join(f"{i['feature']} {i['importance']:.2f}" for i in importance)
        )


# ---- helpers -------------------------------------------------------------------------
def _read(file: Path) -> pd.DataFrame:
    if not file.is_file():
        fail(f"no such file: {file}")
    return run_or_fail(read_csv, file, f"the file {file}")  # type: ignore[no-any-return]


def _check_free(platform: Any, name: str) -> None:
    """A tabular fit may not take over an app's model or another kind of model's name."""
    owner = next((app for app, spec in platform.model_specs() if spec.name == name), None)
    if owner is not None:
        fail(f"the name {name!r} is the {owner.name} app's model; choose another --name")
    other = next((mv for mv in platform.registry.versions(name) if not is_tabular(mv)), None)
    if other is not None:
        fail(
            f"{other.label} is a {other.algorithm} model, not a tabular one; choose another --name"
        )


def _version(platform: Any, name: str, version: int | None) -> Any:
    """The version to use: the one asked for, else production; a clear error otherwise."""
    if version is not None:
        mv = run_or_fail(platform.registry.get, name, version)
    else:
        mv = platform.registry.production(name)
        if mv is None:
            versions = platform.registry.versions(name)
            if not versions:
                fail(
                    f"no model named {name!r}; fit one with "
                    f"`foresight tabular fit FILE.csv --target COLUMN --name {name}`"
                )
            latest = versions[0].version
            fail(
                f"{name} has no production version; promote one with `foresight models promote "
                f"{name} {latest}`, or pass --version {latest}"
            )
    if not is_tabular(mv):
        owner = next((app.name for app, spec in platform.model_specs() if spec.name == name), None)
        hint = f"; use `foresight predict {owner}`" if owner else ""
        fail(f"{mv.label} is a {mv.algorithm} model, not a tabular one{hint}")
    return mv


def _identifiers(model: Any) -> list[str]:
    """Input columns the learner set aside as row identifiers (passed through by default)."""
    dropped = {**model.transform.dropped, **model.signature.dropped}
    return [c for c, why in dropped.items() if "identifier" in why]


def _factor_text(factors: Any) -> str | None:
    """``tenure=1: +0.247; contract=Month-to-month: +0.138`` (None for a failed row)."""
    if not isinstance(factors, list):
        return None
    return "; ".join(
        f"{f['feature']}={'(missing)' if f['value'] is None else f['value']}: "
        f"{f['contribution']:+.3f}"
        for f in factors
    )


def _line(row: int | None) -> str:
    # The header is line 1, so the first data row (position 0) is line 2.
    return "?" if row is None else str(row + 2)


def _report_rows(errors: list[FieldError], warnings: list[FieldWarning]) -> int:
    """Print the rows that failed (by CSV line) and a summary of warnings; count failures."""
    by_row: dict[int | None, list[str]] = {}
    for e in errors:
        by_row.setdefault(e.row, []).append(f"{e.field}: {e.message}")
    for row, problems in list(by_row.items())[:SHOWN_PROBLEMS]:
        console.print(f"[red]line {_line(row)}[/]: " + "; ".join(problems))
    if len(by_row) > SHOWN_PROBLEMS:
        console.print(f"[red]… and {len(by_row) - SHOWN_PROBLEMS} more rows with errors[/]")
    if warnings:
        rows = {w.row for w in warnings}
        first = warnings[0]
        console.print(
            f"[yellow]warning[/]: {len(warnings)} value(s) in {len(rows)} row(s) predicted with "
            f"less certainty, e.g. line {_line(first.row)}: {first.field}: {first.message}"
        )
    return len(by_row)


def _score(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, int | float) and np.isfinite(value) else ""


def _print_card(card: dict[str, Any]) -> None:
    """The leaderboard, the metrics, the calibration and the notes of a model card."""
    metrics = card.get("metrics", {})
    metric = metrics.get("metric", "score")
    table = Table(title=f"candidates ({metric}, {metrics.get('folds', '?')} folds)")
    for column in ("member", f"out-of-fold {metric}", f"held-out {metric}", "weight", "served"):
        table.add_column(column, justify="left" if column in ("member", "served") else "right")
    table.add_column("reason")
    for entry in card.get("leaderboard", []):
        table.add_row(
            entry["member"],
            _score(entry.get("oof_score")),
            _score(entry.get("holdout_score")),
            f"{entry.get('weight', 0.0):.2f}",
            "yes" if entry.get("served") else "no",
            entry.get("reason", ""),
        )
    console.print(table)
    rows = card.get("rows", {})
    for label, key, count in (
        ("held-out", "holdout", rows.get("holdout")),
        ("out of fold", "cv", rows.get("checked_out_of_fold")),
    ):
        if values := metrics.get(key):
            shown = ", ".join(f"{k} {_score(v)}" for k, v in values.items())
            console.print(f"{label} ({count} rows): {shown}")
    calibration = card.get("calibration", {})
    if calibration:
        console.print(f"calibration: {calibration.get('kind', 'none')}")
    for note in card.get("notes", []):
        console.print(f"[yellow]note[/]: {note}")
