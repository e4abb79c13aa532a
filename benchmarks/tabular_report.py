"""The markdown of the tabular benchmark: one table per task type, deliveries' validation
and test MAE, and the "wins" summary. Pure: results dict in, text out."""

from __future__ import annotations

from typing import Any

from benchmarks.tabular_metrics import at_least_as_good

LABEL = {
    "foresight": "**Foresight learner**",
    "lightgbm": "learner, LightGBM only",
    "linear": "learner, linear only",
    "catboost": "CatBoost (defaults)",
    "xgboost": "XGBoost (defaults)",
    "autogluon": "AutoGluon medium_quality",
}
SINGLE = ("lightgbm", "linear", "catboost", "xgboost")  # the single-candidate methods
COLUMNS = {
    "binary": (("roc_auc", "ROC-AUC"), ("log_loss", "log loss"), ("ece", "ECE (15 bins)")),
    "multiclass": (("log_loss", "log loss"), ("accuracy", "accuracy"), ("macro_f1", "macro-F1")),
    "regression": (("rmse", "RMSE"), ("mae", "MAE"), ("coverage", "90 % interval coverage")),
}
TITLE = {"binary": "Binary", "multiclass": "Multiclass", "regression": "Regression"}
AIM_CHURN = 0.852


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3f}" if abs(value) >= 1 else f"{value:.4f}"


def primary(result: dict[str, Any], metric: str) -> float | None:
    """The test-part value of ``metric`` for an ``ok`` method result, else None."""
    if result.get("status") != "ok":
        return None
    return result["scores"]["test"].get(metric)


def one_line(result: dict[str, Any], metric: str) -> str:
    """A progress line's ending: the primary metric and fit time, or what went wrong."""
    status = result["status"]
    if status == "ok":
        return f"{metric} {fmt(primary(result, metric))}  fit {result['fit_seconds']:.1f} s"
    return f"[{status}] {(result.get('error') or result.get('reason') or '')[:70]}"


def cv_roc_auc(result: dict[str, Any]) -> float | None:
    """The out-of-fold ROC-AUC in the learner's metrics (``metrics["cv"]["roc_auc"]``)."""
    metrics = result.get("cv_metrics") or {}
    for found in (metrics.get("cv"), metrics):
        if isinstance(found, dict) and isinstance(found.get("roc_auc"), int | float):
            return float(found["roc_auc"])
    return None


def served(result: dict[str, Any]) -> str:
    """The learner's served members with their blend weights, e.g. ``lightgbm 0.7, linear 0.3``."""
    rows = [r for r in result.get("leaderboard") or [] if isinstance(r, dict) and r.get("served")]
    return ", ".join(f"{r.get('member')} {float(r.get('weight', 0)):.2f}" for r in rows)


def method_row(name: str, facts: dict[str, Any], method: str) -> str | None:
    result = facts["methods"].get(method)
    if result is None or result["status"] == "skipped":
        return None
    sizes = facts["sizes"]
    where = f"{name} ({sizes['train']}/{sizes['test']})"
    columns = COLUMNS[facts["task"]]
    if result["status"] == "error":
        blanks = ["—"] * (len(columns) + 1)
        return (
            f"| {where} | {LABEL[method]} | error: {result['error'][:120]} | {' | '.join(blanks)} |"
        )
    label = LABEL[method]
    if method == "foresight" and served(result):
        label += f" ({served(result)})"
    test = result["scores"]["test"]
    cells = [fmt(test.get(key)) for key, _ in columns]
    if facts["task"] == "regression" and "coverage" in test:
        cells[-1] = f"{test['coverage']:.3f} (width {fmt(test['interval_width'])})"
    latency = result.get("latency_us")
    speed = f"{latency['p50']:.0f} / {latency['p99']:.0f}" if latency else "—"
    if result.get("latency_error"):
        speed = f"error: {result['latency_error'][:60]}"
    return f"| {where} | {label} | {' | '.join(cells)} | {result['fit_seconds']:.1f} | {speed} |"


def task_table(task: str, results: dict[str, Any]) -> list[str]:
    names = [n for n, f in results.items() if f["task"] == task]
    if not names:
        return []
    heads = [title for _, title in COLUMNS[task]]
    lines = [
        f"### {TITLE[task]} (test split; data set (train/test rows))",
        "",
        f"| Data set | Method | {' | '.join(heads)} | fit s | single row µs p50 / p99 |",
        "|" + " --- |" * (len(heads) + 4),
    ]
    for name in names:
        lines += [r for m in LABEL if (r := method_row(name, results[name], m))]
    return [*lines, ""]


def deliveries_table(facts: dict[str, Any]) -> list[str]:
    sizes = facts["sizes"]
    lines = [
        "### deliveries: validation and test MAE (fitted on the training part only)",
        "",
        f"Seeded 60/20/20 split stratified by quartile of `time_to_delivery` "
        f"({sizes['train']}/{sizes.get('validation', 0)}/{sizes['test']} rows); aml4td's "
        "`initial_validation_split(prop = c(0.6, 0.2))` uses R's RNG, which cannot be "
        "reproduced, so the rows differ from the book's.",
        "",
        "| Method | validation MAE | test MAE | validation RMSE | test RMSE |",
        "| --- | --- | --- | --- | --- |",
    ]
    for method, result in facts["methods"].items():
        if result["status"] != "ok":
            continue
        val, test = result["scores"].get("validation", {}), result["scores"]["test"]
        cells = [fmt(val.get("mae")), fmt(test["mae"]), fmt(val.get("rmse")), fmt(test["rmse"])]
        lines.append(f"| {LABEL[method]} | {' | '.join(cells)} |")
    return [*lines, ""]


def _signed(value: float) -> str:
    """+0.0123 for scores, +1,185 for errors in target units; zero without a sign."""
    text = f"{value:+,.0f}" if abs(value) >= 10 else f"{value:+.4f}"
    return text.lstrip("+-") if float(text.replace(",", "")) == 0 else text


def verdict(
    metric: str, ours: float | None, theirs: float | None, paired: dict[str, float] | None = None
) -> str:
    """ "yes"/"no", and with a paired bootstrap the advantage and its 95 % interval; a
    loss whose interval holds zero is marked as within the test rows' noise."""
    if ours is None or theirs is None:
        return "—"
    won = at_least_as_good(metric, ours, theirs)
    if not paired:
        return "yes" if won else "**no**"
    band = f"{_signed(paired['delta'])} [{_signed(paired['lo'])}, {_signed(paired['hi'])}]"
    if won:
        return f"yes {band}"
    return f"no, within noise {band}" if paired["hi"] >= 0 else f"**no** {band}"


def wins_table(results: dict[str, Any]) -> list[str]:
    lines = [
        "### Wins: is Foresight's learner at least as good, on the primary test metric?",
        "",
        "Best single candidate = the best of LightGBM-only, linear-only, CatBoost and XGBoost. "
        "Each cell: Foresight's advantage on the test rows (positive = better; for losses, "
        "how much lower) and its 95 % paired bootstrap interval (400 resamples of the test "
        "rows, both methods on the same resample).",
        "",
        "| Data set | metric | Foresight | best single candidate | ≥ best single "
        "| ≥ tuned LightGBM | ≥ AutoGluon |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, facts in results.items():
        metric, methods = facts["primary"], facts["methods"]
        value = {m: primary(r, metric) for m, r in methods.items()}
        singles = [(m, value[m]) for m in SINGLE if value.get(m) is not None]
        best = None
        if singles:
            pick = max if metric in ("roc_auc", "accuracy", "macro_f1") else min
            best = pick(singles, key=lambda item: item[1])
        ours = value.get("foresight")
        paired = facts.get("versus", {})
        lines.append(
            f"| {name} | {metric} | {fmt(ours)} "
            f"| {f'{LABEL[best[0]]} {fmt(best[1])}' if best else '—'} "
            f"| {verdict(metric, ours, best[1] if best else None, paired.get(best[0]) if best else None)} "
            f"| {verdict(metric, ours, value.get('lightgbm'), paired.get('lightgbm'))} "
            f"| {verdict(metric, ours, value.get('autogluon'), paired.get('autogluon'))} |"
        )
    return [*lines, ""]


def not_run(results: dict[str, Any]) -> list[str]:
    """One line per method that was skipped somewhere, with its reason."""
    reasons: dict[str, set[str]] = {}
    for facts in results.values():
        for method, result in facts["methods"].items():
            if result["status"] == "skipped":
                reasons.setdefault(method, set()).add(result["reason"])
    return [f"- {LABEL[m].strip('*')}: {'; '.join(sorted(r))}" for m, r in reasons.items()] + (
        [""] if reasons else []
    )


def render(results: dict[str, Any], meta: dict[str, Any]) -> str:
    """The "Tabular learner" section of ``benchmarks/RESULTS.md``."""
    lines = [
        "## Tabular learner",
        "",
        f"Run {meta['date']} on {meta['machine']}. Command: `{meta['command']}` "
        f"(budget {meta['budget']:g} s per fit of Foresight's learner and AutoGluon; "
        f"CatBoost and XGBoost use library defaults; seed {meta['seed']}). "
        "One fixed stratified split per data set (80/20; deliveries 60/20/20), every method "
        "on the same split, scored by the same code; fit s is wall time of the fit alone. "
        "Single-row latency is `predict_record(row, explain=True)` over 300 calls after a "
        "warm-up. Raw numbers: `benchmarks/tabular_results.json`.",
        "",
        *not_run(results),
    ]
    for task in ("binary", "multiclass", "regression"):
        lines += task_table(task, results)
    churn = results.get("wa_churn", {}).get("methods", {}).get("foresight")
    if churn and churn["status"] == "ok":
        cv = cv_roc_auc(churn)
        aim = "" if cv is None else (" — meets" if cv >= AIM_CHURN else " — below") + " the aim"
        lines += [
            f"wa_churn: Foresight's out-of-fold CV ROC-AUC on the training part = {fmt(cv)} "
            f"(issue aim: 5-fold CV ROC-AUC ≥ {AIM_CHURN}){aim}.",
            "",
        ]
    if "deliveries" in results:
        lines += deliveries_table(results["deliveries"])
    lines += wins_table(results)
    return "\n".join(lines)
