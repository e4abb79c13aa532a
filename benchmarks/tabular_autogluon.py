"""AutoGluon-Tabular for the tabular benchmark, run by ``benchmarks/tabular.py`` as a
subprocess inside ``benchmarks/.autogluon-venv`` (AutoGluon is never a dependency of
Foresight). It imports nothing from the project: it reads the training and evaluation
CSVs, fits ``TabularPredictor(...).fit(presets="medium_quality", time_limit=...)``,
writes the predictions back as CSV and a small JSON of facts; the parent scores them.

Build the venv once (no torch is pulled in by these extras)::

    python3 -m venv benchmarks/.autogluon-venv
    benchmarks/.autogluon-venv/bin/pip install 'autogluon.tabular[lightgbm,catboost,xgboost]'
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

# Both sides read CSV this way: only an empty cell is missing, so a category spelled
# "NA" or "None" stays a category.
CSV = {"keep_default_na": False, "na_values": [""]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--eval", type=Path, required=True, help="rows to predict, no target")
    parser.add_argument("--label", required=True)
    parser.add_argument("--problem-type", required=True)
    parser.add_argument("--eval-metric", required=True)
    parser.add_argument("--time-limit", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True, help="predictions CSV")
    parser.add_argument("--info", type=Path, required=True, help="facts JSON")
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()

    from autogluon.tabular import TabularPredictor, __version__

    train = pd.read_csv(args.train, **CSV)
    rows = pd.read_csv(args.eval, **CSV)
    if args.problem_type != "regression":
        train[args.label] = train[args.label].astype(str)
    predictor = TabularPredictor(
        label=args.label,
        problem_type=args.problem_type,
        eval_metric=args.eval_metric,
        path=str(args.workdir),
        verbosity=0,
    )
    started = time.perf_counter()
    predictor.fit(train, presets="medium_quality", time_limit=args.time_limit)
    fit_seconds = time.perf_counter() - started
    if args.problem_type == "regression":
        out = pd.DataFrame({"prediction": predictor.predict(rows).to_numpy()})
    else:
        out = predictor.predict_proba(rows, as_multiclass=True)
        out.columns = [str(c) for c in out.columns]
    out.to_csv(args.out, index=False)
    board = predictor.leaderboard(silent=True)
    args.info.write_text(
        json.dumps(
            {
                "version": __version__,
                "fit_seconds": fit_seconds,
                "best_model": str(predictor.model_best),
                "models": [str(m) for m in board["model"]],
            }
        )
    )


if __name__ == "__main__":
    main()
